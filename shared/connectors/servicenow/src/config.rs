//! What a node's config says about a ServiceNow instance.

use crate::ServiceNowError;
use serde::Deserialize;

/// Where the instance is, which table holds the items, how to authenticate and how fast
/// to go.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNowConfig {
    /// `https://acme.service-now.com`, or a fake.
    pub base_url: String,
    /// The table items live in: `incident`, `sc_req_item`, `problem` or a custom table.
    #[serde(default = "default_table")]
    pub table: String,
    /// Basic auth (and the OAuth password grant): the integration user and its password.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// OAuth 2.0 instead of Basic: an Application Registry client.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// The key the business rule signs its pushes with; empty: pushes are refused and the
    /// triggers are polled only.
    #[serde(default)]
    pub webhook_secret: String,
    /// The connector's own budget, below the instance's REST rate limit rules.
    #[serde(default = "default_per_minute")]
    pub requests_per_minute: u32,
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Attachments above this size are not copied; the twin says why.
    #[serde(default = "default_attachment_max")]
    pub attachment_max_bytes: u64,
    /// PEM certificates trusted besides the platform's roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Custom fields (`u_...`) read and written by name.
    #[serde(default)]
    pub custom_fields: Vec<String>,
    /// What a resolve writes into `close_code` and `close_notes` when the rules give
    /// none: the instance's data policy makes both mandatory for Resolved and Closed.
    #[serde(default = "default_close_code")]
    pub close_code: String,
    #[serde(default = "default_close_notes")]
    pub close_notes: String,
}

/// An OAuth 2.0 client of the instance's Application Registry.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: String,
    /// `client_credentials` (no user password) or `password` (with `username` and
    /// `password`).
    #[serde(default)]
    pub grant: OAuthGrant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthGrant {
    #[default]
    ClientCredentials,
    Password,
}

fn default_table() -> String {
    "incident".into()
}

fn default_per_minute() -> u32 {
    600
}

fn default_burst() -> u32 {
    30
}

fn default_attachment_max() -> u64 {
    10 * 1024 * 1024
}

fn default_close_code() -> String {
    "Solved (Permanently)".into()
}

fn default_close_notes() -> String {
    "Resolved in the twin item (twinsync).".into()
}

impl std::fmt::Debug for ServiceNowConfig {
    // Passwords, client secrets and the push key never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceNowConfig")
            .field("base_url", &self.base_url)
            .field("table", &self.table)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("oauth", &self.oauth)
            .field("webhook_secret", &"<redacted>")
            .field("requests_per_minute", &self.requests_per_minute)
            .field("attachment_max_bytes", &self.attachment_max_bytes)
            .field("ca_file", &self.ca_file)
            .field("custom_fields", &self.custom_fields)
            .finish()
    }
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("grant", &self.grant)
            .finish()
    }
}

impl ServiceNowConfig {
    /// A config with Basic auth, the incident table and the default budget.
    pub fn basic(base_url: &str, username: &str, password: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            table: default_table(),
            username: Some(username.into()),
            password: Some(password.into()),
            oauth: None,
            webhook_secret: String::new(),
            requests_per_minute: default_per_minute(),
            burst: default_burst(),
            attachment_max_bytes: default_attachment_max(),
            ca_file: None,
            custom_fields: Vec::new(),
            close_code: default_close_code(),
            close_notes: default_close_notes(),
        }
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), ServiceNowError> {
        let bad = |m: &str| Err(ServiceNowError::Config(m.to_string()));
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return bad("base_url must be http(s)");
        }
        let name_ok = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !name_ok(&self.table) {
            return bad("table must be a table name, like incident");
        }
        if let Some(f) = self.custom_fields.iter().find(|f| !name_ok(f)) {
            return bad(&format!("custom field {f:?} is not a column name"));
        }
        let user = self.username.is_some() && self.password.is_some();
        match &self.oauth {
            None if !user => return bad("username + password (Basic) or [oauth] is needed"),
            Some(o) if o.client_id.is_empty() || o.client_secret.is_empty() => {
                return bad("oauth needs client_id and client_secret");
            }
            Some(o) if o.grant == OAuthGrant::Password && !user => {
                return bad("the oauth password grant needs username and password");
            }
            _ => {}
        }
        if self.requests_per_minute == 0 || self.burst == 0 {
            return bad("requests_per_minute and burst must be above 0");
        }
        if self.close_code.trim().is_empty() || self.close_notes.trim().is_empty() {
            return bad("close_code and close_notes must not be empty");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_bad_configs_refused() {
        let mut c = ServiceNowConfig::basic("https://acme.service-now.com/", "bot", "pw-123");
        c.webhook_secret = "push-key".into();
        c.oauth = Some(OAuthConfig {
            client_id: "cid".into(),
            client_secret: "cs-456".into(),
            grant: OAuthGrant::Password,
        });
        let shown = format!("{c:?}");
        for secret in ["pw-123", "push-key", "cs-456"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(c.base_url, "https://acme.service-now.com");
        assert!(c.check().is_ok());
        type Change = fn(&mut ServiceNowConfig);
        let cases: &[(&str, Change)] = &[
            ("must be http", |c| c.base_url = "acme".into()),
            ("table name", |c| c.table = "Incident".into()),
            ("column name", |c| c.custom_fields = vec!["u team".into()]),
            ("password grant", |c| c.password = None),
            ("is needed", |c| {
                c.oauth = None;
                c.username = None
            }),
            ("client_secret", |c| {
                if let Some(o) = c.oauth.as_mut() {
                    o.client_secret.clear()
                }
            }),
            ("above 0", |c| c.burst = 0),
            ("close_code", |c| c.close_notes = " ".into()),
        ];
        for (message, change) in cases {
            let mut bad = c.clone();
            change(&mut bad);
            let err = bad.check().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(message), "{message}: {err}");
        }
        let client_credentials = ServiceNowConfig {
            username: None,
            password: None,
            oauth: Some(OAuthConfig {
                client_id: "cid".into(),
                client_secret: "cs".into(),
                grant: OAuthGrant::ClientCredentials,
            }),
            ..c
        };
        assert!(client_credentials.check().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused_and_the_grant_is_read() {
        let err = toml::from_str::<ServiceNowConfig>(
            "base_url = \"https://x\"\nusername = \"u\"\npassword = \"p\"\ntabel = \"x\"\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("unknown field `tabel`"), "{err}");
        let c: Result<ServiceNowConfig, _> = toml::from_str(
            "base_url = \"https://x\"\n[oauth]\nclient_id = \"a\"\nclient_secret = \"b\"\ngrant = \"password\"\n",
        );
        assert_eq!(
            c.ok().and_then(|c| c.oauth).map(|o| o.grant),
            Some(OAuthGrant::Password)
        );
    }
}
