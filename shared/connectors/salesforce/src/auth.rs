//! OAuth 2.0 for a connected app: the JWT bearer flow (an RS256 assertion with
//! iss = consumer key, sub = username, aud = login URL, exp) or the refresh-token flow,
//! both `POST {login_url}/services/oauth2/token`, form-encoded. The answer's
//! `instance_url` is the base of every later call. The JWT bearer answer has no expiry
//! (the org's session timeout applies), so a token is renewed before `session_minutes`
//! run out, and at once after the org answers 401 `INVALID_SESSION_ID`.
//! Tokens go only to the login URL's token endpoint and the instance it named.

use crate::SalesforceError;
use crate::config::SalesforceConfig;
use serde::Serialize;
use serde_json::Value;
use twinsync_connector_kit::{http, now_ms, outbound};
use twinsync_ports::{PortError, PortResult};

/// Renew this long before the session would time out.
const RENEW_BEFORE_MS: i64 = 5 * 60_000;

/// The assertion's lifetime: Salesforce accepts at most three minutes.
const ASSERTION_SECONDS: i64 = 180;

pub const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A session: the token and the instance it is for.
#[derive(Clone)]
pub struct Session {
    pub access: String,
    pub instance_url: String,
    expires_ms: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("access", &"<redacted>")
            .field("instance_url", &self.instance_url)
            .finish()
    }
}

enum Grant {
    Jwt {
        key: Box<jsonwebtoken::EncodingKey>,
        username: String,
    },
    Refresh {
        token: String,
        client_secret: Option<String>,
    },
}

pub struct Auth {
    token_url: String,
    audience: String,
    client_id: String,
    session_ms: i64,
    grant: Grant,
    session: tokio::sync::Mutex<Option<Session>>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
}

impl Auth {
    pub fn from_config(config: &SalesforceConfig) -> Result<Auth, SalesforceError> {
        let grant = match (&config.refresh_token, config.key_pem()?) {
            (Some(token), _) => Grant::Refresh {
                token: token.clone(),
                client_secret: config.client_secret.clone(),
            },
            (None, Some(pem)) => Grant::Jwt {
                key: Box::new(
                    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                        SalesforceError::Config(format!("the connected app's private key: {e}"))
                    })?,
                ),
                username: config.username.clone().unwrap_or_default(),
            },
            (None, None) => return Err(SalesforceError::Config("no credentials".into())),
        };
        Ok(Auth {
            token_url: format!("{}/services/oauth2/token", config.login_url),
            audience: config.login_url.clone(),
            client_id: config.client_id.clone(),
            session_ms: i64::from(config.session_minutes) * 60_000,
            grant,
            session: tokio::sync::Mutex::new(None),
        })
    }

    /// The session for the next request, renewed when it is due.
    pub async fn session(&self, http: &reqwest::Client) -> PortResult<Session> {
        let mut session = self.session.lock().await;
        if let Some(s) = session
            .as_ref()
            .filter(|s| s.expires_ms - RENEW_BEFORE_MS > now_ms())
        {
            return Ok(s.clone());
        }
        let fresh = self.request(http).await?;
        *session = Some(fresh.clone());
        Ok(fresh)
    }

    /// The org refused the token (`INVALID_SESSION_ID`): the next request gets a new one.
    pub async fn refused(&self) {
        if let Some(s) = self.session.lock().await.as_mut() {
            s.expires_ms = 0;
        }
    }

    /// The signed assertion of the JWT bearer flow.
    pub fn assertion(&self, now_ms: i64) -> PortResult<Option<String>> {
        let Grant::Jwt { key, username } = &self.grant else {
            return Ok(None);
        };
        let claims = Claims {
            iss: &self.client_id,
            sub: username,
            aud: &self.audience,
            exp: now_ms / 1000 + ASSERTION_SECONDS,
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            key,
        )
        .map(Some)
        .map_err(|e| PortError::Rejected(format!("signing the salesforce assertion: {e}")))
    }

    fn form(&self) -> PortResult<String> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        match &self.grant {
            Grant::Jwt { .. } => {
                let assertion = self.assertion(now_ms())?.unwrap_or_default();
                form.append_pair("grant_type", JWT_GRANT)
                    .append_pair("assertion", &assertion);
            }
            Grant::Refresh {
                token,
                client_secret,
            } => {
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", token)
                    .append_pair("client_id", &self.client_id);
                if let Some(secret) = client_secret {
                    form.append_pair("client_secret", secret);
                }
            }
        }
        Ok(form.finish())
    }

    async fn request(&self, http: &reqwest::Client) -> PortResult<Session> {
        let resp = http
            .post(&self.token_url)
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(self.form()?)
            .send()
            .await
            .map_err(|e| {
                PortError::Unavailable(format!("salesforce token: {}", outbound::describe(&e)))
            })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| PortError::Unavailable(e.to_string()))?;
        if !(200..300).contains(&status) {
            // `{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}`
            let reason = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    let e = v["error"].as_str()?.to_string();
                    Some(format!(
                        "{e}: {}",
                        v["error_description"].as_str().unwrap_or("")
                    ))
                })
                .unwrap_or_else(|| text.chars().take(200).collect());
            return Err(http::status_error(status, "salesforce token", &reason));
        }
        parse_session(&text, &self.audience, now_ms() + self.session_ms)
    }
}

/// The token answer: `access_token` and `instance_url`. The instance must use the login
/// URL's scheme, so a token never leaves TLS because of an answer.
pub fn parse_session(text: &str, login_url: &str, expires_ms: i64) -> PortResult<Session> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| PortError::Rejected(format!("salesforce token answer: {e}")))?;
    let field = |name: &str| {
        v[name]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let access = field("access_token")
        .ok_or_else(|| PortError::Rejected("salesforce gave no access_token".into()))?;
    let instance_url = field("instance_url")
        .map(|u| u.trim_end_matches('/').to_string())
        .ok_or_else(|| PortError::Rejected("salesforce gave no instance_url".into()))?;
    let scheme = |u: &str| u.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if scheme(&instance_url) != scheme(login_url) || url::Url::parse(&instance_url).is_err() {
        return Err(PortError::Rejected(format!(
            "salesforce named an instance_url {instance_url:?} unlike its login URL"
        )));
    }
    Ok(Session {
        access,
        instance_url,
        expires_ms,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &str = include_str!("../../../../tests/fixtures/salesforce/connected-app-key.pem");
    const PUB: &str =
        include_str!("../../../../tests/fixtures/salesforce/connected-app-key.pub.pem");

    #[test]
    fn the_assertion_names_the_app_user_and_login_url() {
        let c = SalesforceConfig::jwt(
            "https://login.salesforce.com",
            "3MVG9app",
            "bot@acme.com",
            KEY,
        );
        let auth = Auth::from_config(&c).unwrap();
        let jwt = auth.assertion(1_795_428_841_000).unwrap().unwrap();
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUB.as_bytes()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["https://login.salesforce.com"]);
        let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], "3MVG9app");
        assert_eq!(claims["sub"], "bot@acme.com");
        assert_eq!(claims["exp"], 1_795_428_841 + 180);
        assert!(auth.form().unwrap().starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=ey"
        ));
        let bad = SalesforceConfig::jwt("https://x", "c", "u", "not a key");
        assert!(Auth::from_config(&bad).is_err());
    }

    #[test]
    fn the_refresh_flow_sends_the_token_and_the_app() {
        let mut c = SalesforceConfig::jwt("https://login.salesforce.com", "3MVG9app", "u", KEY);
        c.private_key = None;
        c.refresh_token = Some("5Aep861".into());
        c.client_secret = Some("sec".into());
        let auth = Auth::from_config(&c).unwrap();
        assert_eq!(
            auth.form().unwrap(),
            "grant_type=refresh_token&refresh_token=5Aep861&client_id=3MVG9app&client_secret=sec"
        );
        assert!(auth.assertion(0).unwrap().is_none());
    }

    #[test]
    fn token_answers_name_the_instance() {
        // Salesforce's documented answer of the JWT bearer flow.
        let s = parse_session(
            r#"{"access_token":"00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog","scope":"web openid api id","instance_url":"https://yourInstance.salesforce.com","id":"https://yourInstance.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS","token_type":"Bearer"}"#,
            "https://login.salesforce.com",
            42,
        )
        .unwrap();
        assert_eq!(s.instance_url, "https://yourInstance.salesforce.com");
        assert!(!format!("{s:?}").contains("AR8AQ"));
        for bad in [
            r#"{"access_token":"a"}"#,
            r#"{"instance_url":"https://x"}"#,
            r#"{"access_token":"a","instance_url":"http://plain.example"}"#,
        ] {
            assert!(
                parse_session(bad, "https://login.salesforce.com", 0).is_err(),
                "{bad}"
            );
        }
    }
}
