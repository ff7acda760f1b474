//! The `Authorization` header: Basic with the integration user, or an OAuth 2.0 bearer
//! token from the instance's token endpoint (`POST /oauth_token.do`, form-encoded, the
//! client credentials or password grant). A token is renewed a minute before it expires
//! (with its refresh token when it has one) and after the instance answers 401; it goes
//! only to the instance's own token endpoint and API.

use crate::config::{OAuthGrant, ServiceNowConfig};
use base64::Engine;
use serde_json::Value;
use twinsync_connector_kit::{http, now_ms, outbound};
use twinsync_ports::{PortError, PortResult};

/// Renew this long before the token expires, so no request carries a dying token.
const RENEW_BEFORE_MS: i64 = 60_000;

#[derive(Clone)]
struct Token {
    access: String,
    refresh: Option<String>,
    expires_ms: i64,
}

/// How requests authenticate.
pub enum Auth {
    Basic(String),
    OAuth(OAuth),
}

pub struct OAuth {
    token_url: String,
    client_id: String,
    client_secret: String,
    grant: OAuthGrant,
    user: Option<(String, String)>,
    token: tokio::sync::Mutex<Option<Token>>,
}

impl Auth {
    pub fn from_config(config: &ServiceNowConfig) -> Auth {
        let user = config.username.clone().zip(config.password.clone());
        match &config.oauth {
            Some(o) => Auth::OAuth(OAuth {
                token_url: format!("{}/oauth_token.do", config.base_url),
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.clone(),
                grant: o.grant,
                user,
                token: tokio::sync::Mutex::new(None),
            }),
            None => {
                let (u, p) = user.unwrap_or_default();
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                Auth::Basic(format!("Basic {encoded}"))
            }
        }
    }

    /// The header value for the next request, renewing the token when it is due.
    pub async fn header(&self, http: &reqwest::Client) -> PortResult<String> {
        match self {
            Auth::Basic(h) => Ok(h.clone()),
            Auth::OAuth(o) => o.bearer(http).await,
        }
    }

    /// The instance refused the token (revoked, or expired early): the next request
    /// gets a new one. Basic credentials are what they are.
    pub async fn refused(&self) -> bool {
        match self {
            Auth::Basic(_) => false,
            Auth::OAuth(o) => {
                if let Some(t) = o.token.lock().await.as_mut() {
                    t.expires_ms = 0;
                }
                true
            }
        }
    }
}

impl OAuth {
    async fn bearer(&self, http: &reqwest::Client) -> PortResult<String> {
        let mut token = self.token.lock().await;
        let now = now_ms();
        if let Some(t) = token
            .as_ref()
            .filter(|t| t.expires_ms - RENEW_BEFORE_MS > now)
        {
            return Ok(format!("Bearer {}", t.access));
        }
        let refreshed = match token.as_ref().and_then(|t| t.refresh.clone()) {
            Some(refresh) => self
                .request(
                    http,
                    &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
                )
                .await
                .ok(),
            None => None,
        };
        let fresh = match refreshed {
            Some(t) => t,
            None => self.grant(http).await?,
        };
        let header = format!("Bearer {}", fresh.access);
        *token = Some(fresh);
        Ok(header)
    }

    /// A new token by the configured grant.
    async fn grant(&self, http: &reqwest::Client) -> PortResult<Token> {
        match (self.grant, &self.user) {
            (OAuthGrant::Password, Some((u, p))) => {
                self.request(
                    http,
                    &[("grant_type", "password"), ("username", u), ("password", p)],
                )
                .await
            }
            _ => {
                self.request(http, &[("grant_type", "client_credentials")])
                    .await
            }
        }
    }

    async fn request(&self, http: &reqwest::Client, params: &[(&str, &str)]) -> PortResult<Token> {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        form.push(("client_id", &self.client_id));
        form.push(("client_secret", &self.client_secret));
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = http
            .post(&self.token_url)
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                PortError::Unavailable(format!("servicenow token: {}", outbound::describe(&e)))
            })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| PortError::Unavailable(e.to_string()))?;
        if !(200..300).contains(&status) {
            // The token endpoint explains in `error_description`; the secret is not in it.
            let reason = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error_description"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(200).collect());
            return Err(http::status_error(status, "servicenow token", &reason));
        }
        parse_token(&text, now_ms())
    }
}

/// The token endpoint's answer: `access_token`, `expires_in` seconds, maybe a
/// `refresh_token`.
fn parse_token(text: &str, now: i64) -> PortResult<Token> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| PortError::Rejected(format!("servicenow token answer: {e}")))?;
    let access = v["access_token"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| PortError::Rejected("servicenow gave no access_token".into()))?;
    let expires_in = v["expires_in"]
        .as_i64()
        .or_else(|| v["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(1_800);
    Ok(Token {
        access: access.to_string(),
        refresh: v["refresh_token"].as_str().map(str::to_string),
        expires_ms: now.saturating_add(expires_in.saturating_mul(1_000)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_are_read_with_their_expiry() {
        let t = parse_token(
            r#"{"access_token":"a1","refresh_token":"r1","scope":"useraccount","token_type":"Bearer","expires_in":1799}"#,
            1_000,
        );
        let t = t.ok();
        assert_eq!(t.as_ref().map(|t| t.access.as_str()), Some("a1"));
        assert_eq!(t.as_ref().and_then(|t| t.refresh.as_deref()), Some("r1"));
        assert_eq!(t.map(|t| t.expires_ms), Some(1_000 + 1_799_000));
        assert!(parse_token(r#"{"error":"access_denied"}"#, 0).is_err());
    }

    #[test]
    fn basic_auth_is_the_user_and_password() {
        let c = ServiceNowConfig::basic("https://x", "admin", "pw");
        match Auth::from_config(&c) {
            Auth::Basic(h) => assert_eq!(h, "Basic YWRtaW46cHc="),
            Auth::OAuth(_) => panic!("basic expected"),
        }
    }
}
