//! Authentication: a personal access token as is, or a GitHub App's installation token,
//! got by signing a JWT (RS256, 9 minutes) with the app's private key and renewed five
//! minutes before it expires.

use crate::GithubError;
use crate::config::GithubApp;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use twinsync_ports::{PortError, PortResult};

/// Renew an installation token this long before GitHub says it expires.
const RENEW_BEFORE_MS: i64 = 5 * 60 * 1000;

pub enum Auth {
    Token(String),
    App {
        app_id: u64,
        installation_id: u64,
        key: Box<jsonwebtoken::EncodingKey>,
        cached: Mutex<Option<(String, i64)>>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Auth::Token(<redacted>)"),
            Auth::App { app_id, .. } => write!(f, "Auth::App({app_id})"),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct AppClaims {
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

#[derive(Deserialize)]
struct InstallationToken {
    token: String,
    expires_at: String,
}

impl Auth {
    pub fn from_config(token: Option<&str>, app: Option<&GithubApp>) -> Result<Self, GithubError> {
        match (token, app) {
            (Some(t), None) => Ok(Auth::Token(t.to_string())),
            (None, Some(app)) => {
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(app.private_key_pem.as_bytes())
                    .map_err(|e| GithubError::Config(format!("app private key: {e}")))?;
                Ok(Auth::App {
                    app_id: app.app_id,
                    installation_id: app.installation_id,
                    key: Box::new(key),
                    cached: Mutex::new(None),
                })
            }
            _ => Err(GithubError::Config(
                "give either token or app, not both".into(),
            )),
        }
    }

    /// The app's JWT, as GitHub asks: issued a minute in the past against clock drift,
    /// valid for nine minutes (ten is the most GitHub accepts).
    pub fn app_jwt(
        app_id: u64,
        key: &jsonwebtoken::EncodingKey,
        now_ms: i64,
    ) -> PortResult<String> {
        let now = now_ms / 1000;
        let claims = AppClaims {
            iat: now - 60,
            exp: now + 9 * 60,
            iss: app_id.to_string(),
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            key,
        )
        .map_err(|e| PortError::Rejected(format!("cannot sign the app JWT: {e}")))
    }

    /// The `Authorization` header value for the next request.
    pub async fn header(
        &self,
        http: &reqwest::Client,
        api_url: &str,
        now_ms: i64,
    ) -> PortResult<String> {
        match self {
            Auth::Token(t) => Ok(format!("Bearer {t}")),
            Auth::App {
                app_id,
                installation_id,
                key,
                cached,
            } => {
                let mut cached = cached.lock().await;
                if let Some((token, expires_ms)) = cached.as_ref()
                    && *expires_ms - RENEW_BEFORE_MS > now_ms
                {
                    return Ok(format!("Bearer {token}"));
                }
                let jwt = Self::app_jwt(*app_id, key, now_ms)?;
                let url = format!("{api_url}/app/installations/{installation_id}/access_tokens");
                let text = as_app(http.post(url), &jwt, "github app token").await?;
                let t: InstallationToken = serde_json::from_str(&text).map_err(|e| {
                    PortError::Rejected(format!("unexpected installation token answer: {e}"))
                })?;
                let expires_ms = crate::mapping::millis(&t.expires_at);
                *cached = Some((t.token.clone(), expires_ms));
                tracing::info!(
                    app_id,
                    installation_id,
                    "renewed the GitHub App installation token"
                );
                Ok(format!("Bearer {}", t.token))
            }
        }
    }

    /// The login this connector writes as, for an app: `{slug}[bot]`, the slug read with
    /// the app's JWT (`GET /app`); `None` for a token, whose login `GET /user` tells.
    /// <https://docs.github.com/en/rest/apps/apps#get-the-authenticated-app>
    pub async fn app_login(
        &self,
        http: &reqwest::Client,
        api_url: &str,
        now_ms: i64,
    ) -> PortResult<Option<String>> {
        let Auth::App { app_id, key, .. } = self else {
            return Ok(None);
        };
        let jwt = Self::app_jwt(*app_id, key, now_ms)?;
        let text = as_app(http.get(format!("{api_url}/app")), &jwt, "github app").await?;
        let app: TheApp = serde_json::from_str(&text)
            .map_err(|e| PortError::Rejected(format!("unexpected GET /app answer: {e}")))?;
        Ok(Some(format!("{}[bot]", app.slug)))
    }
}

#[derive(Deserialize)]
struct TheApp {
    slug: String,
}

/// Sends `request` signed with the app's JWT and returns the answer's text; a refusal
/// says what was asked (`what`) and GitHub's answer.
async fn as_app(request: reqwest::RequestBuilder, jwt: &str, what: &str) -> PortResult<String> {
    let resp = request
        .header("authorization", format!("Bearer {jwt}"))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", crate::config::API_VERSION)
        .header("user-agent", crate::config::USER_AGENT)
        .send()
        .await
        .map_err(|e| PortError::Unavailable(format!("{what}: {e}")))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let err = format!("{what}: {status}: {text}");
        return Err(if status.is_server_error() {
            PortError::Unavailable(err)
        } else {
            PortError::Rejected(err)
        });
    }
    Ok(text)
}
