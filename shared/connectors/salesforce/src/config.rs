//! What a node's config says about a Salesforce org.

use crate::SalesforceError;
use serde::Deserialize;
use std::path::PathBuf;

/// Where the org logs in, how the connected app authenticates, which fields of the
/// one-time setup hold the origin marker, the twin link and the sync status, and how fast
/// to go.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceConfig {
    /// `https://login.salesforce.com`, `https://test.salesforce.com` (sandboxes), a My
    /// Domain login URL, or a fake. The token answer names the instance to call.
    pub login_url: String,
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The connected app's consumer secret (refresh-token flow, when the app needs it).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// JWT bearer flow: the integration user's username and the app's private key (PEM,
    /// RSA), inline or in a file.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub private_key: Option<String>,
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Refresh-token flow instead: a refresh token issued to the connected app.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The org's session timeout: the JWT bearer answer carries no expiry.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u32,
    /// The record type new Cases get (its DeveloperName); none: the org's default.
    #[serde(default)]
    pub record_type: Option<String>,
    /// The one-time setup's fields on Case (see README): an External ID text field for
    /// the origin marker, a URL field for the twin, a text field for the sync status.
    #[serde(default = "default_origin_field")]
    pub origin_field: String,
    #[serde(default = "default_link_field")]
    pub link_field: String,
    #[serde(default = "default_status_field")]
    pub status_field: String,
    /// A multi-select picklist holding the item's labels; none: Cases have no labels.
    #[serde(default)]
    pub labels_field: Option<String>,
    /// Outbound Messages: the org's Id (15 or 18 characters) and the secret in the
    /// endpoint URL. Empty secret: pushes are refused and the triggers are polled only.
    #[serde(default)]
    pub organization_id: String,
    #[serde(default)]
    pub outbound_secret: String,
    /// The connector's own budget, below the org's API request allocation.
    #[serde(default = "default_per_minute")]
    pub requests_per_minute: u32,
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Slow down when the org's daily API usage passes this share (percent).
    #[serde(default = "default_slow_percent")]
    pub slow_down_at_percent: u8,
    /// Files above this size are not copied; the twin says why.
    #[serde(default = "default_attachment_max")]
    pub attachment_max_bytes: u64,
    /// PEM certificates trusted besides the platform's roots (a private CA, the demo's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Custom fields (`..__c`) read and written by API name.
    #[serde(default)]
    pub custom_fields: Vec<String>,
}

fn default_api_version() -> String {
    "62.0".into()
}
fn default_session_minutes() -> u32 {
    120
}
fn default_origin_field() -> String {
    "Twinsync_Origin__c".into()
}
fn default_link_field() -> String {
    "Twinsync_Link__c".into()
}
fn default_status_field() -> String {
    "Twinsync_Status__c".into()
}
fn default_per_minute() -> u32 {
    600
}
fn default_burst() -> u32 {
    25
}
fn default_slow_percent() -> u8 {
    90
}
fn default_attachment_max() -> u64 {
    10 * 1024 * 1024
}

impl std::fmt::Debug for SalesforceConfig {
    // Keys, secrets and refresh tokens never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("SalesforceConfig")
            .field("login_url", &self.login_url)
            .field("api_version", &self.api_version)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("username", &self.username)
            .field("private_key", &redacted(&self.private_key))
            .field("private_key_file", &self.private_key_file)
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("record_type", &self.record_type)
            .field("origin_field", &self.origin_field)
            .field("organization_id", &self.organization_id)
            .field("outbound_secret", &"<redacted>")
            .field("requests_per_minute", &self.requests_per_minute)
            .field("custom_fields", &self.custom_fields)
            .finish()
    }
}

/// A field's API name: letters, digits and single underscores, like `Twinsync_Origin__c`.
pub fn is_api_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SalesforceConfig {
    /// A config for the JWT bearer flow with the defaults.
    pub fn jwt(login_url: &str, client_id: &str, username: &str, private_key_pem: &str) -> Self {
        Self {
            login_url: login_url.trim_end_matches('/').to_string(),
            api_version: default_api_version(),
            client_id: client_id.into(),
            client_secret: None,
            username: Some(username.into()),
            private_key: Some(private_key_pem.into()),
            private_key_file: None,
            refresh_token: None,
            session_minutes: default_session_minutes(),
            record_type: None,
            origin_field: default_origin_field(),
            link_field: default_link_field(),
            status_field: default_status_field(),
            labels_field: None,
            organization_id: String::new(),
            outbound_secret: String::new(),
            requests_per_minute: default_per_minute(),
            burst: default_burst(),
            slow_down_at_percent: default_slow_percent(),
            attachment_max_bytes: default_attachment_max(),
            ca_file: None,
            custom_fields: Vec::new(),
        }
    }

    /// The REST API's root path: `/services/data/v62.0`.
    pub fn data_path(&self) -> String {
        format!("/services/data/v{}", self.api_version)
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), SalesforceError> {
        let bad = |m: String| Err(SalesforceError::Config(m));
        if !(self.login_url.starts_with("https://") || self.login_url.starts_with("http://")) {
            return bad("login_url must be http(s)".into());
        }
        let v = self.api_version.split_once('.');
        if !v.is_some_and(|(a, b)| {
            !a.is_empty() && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
        }) {
            return bad(format!(
                "api_version {:?} is not like 62.0",
                self.api_version
            ));
        }
        if self.client_id.is_empty() {
            return bad("client_id (the connected app's consumer key) is needed".into());
        }
        let key = self.private_key.is_some() || self.private_key_file.is_some();
        match (&self.refresh_token, key, &self.username) {
            (Some(_), false, _) => {}
            (None, true, Some(u)) if !u.is_empty() => {}
            (None, true, _) => return bad("the JWT bearer flow needs username".into()),
            (Some(_), true, _) => {
                return bad("give either refresh_token or private_key(_file), not both".into());
            }
            (None, false, _) => {
                return bad(
                    "private_key(_file) + username (JWT bearer) or refresh_token is needed".into(),
                );
            }
        }
        let fields = [&self.origin_field, &self.link_field, &self.status_field];
        let names = fields
            .into_iter()
            .chain(&self.custom_fields)
            .chain(self.labels_field.as_ref())
            .chain(self.record_type.as_ref());
        for name in names {
            if !is_api_name(name) {
                return bad(format!("{name:?} is not an API name"));
            }
        }
        if self.requests_per_minute == 0 || self.burst == 0 || self.session_minutes == 0 {
            return bad("requests_per_minute, burst and session_minutes must be above 0".into());
        }
        if !(1..=100).contains(&self.slow_down_at_percent) {
            return bad("slow_down_at_percent must be 1 to 100".into());
        }
        if !self.outbound_secret.is_empty() && ![15, 18].contains(&self.organization_id.len()) {
            return bad("outbound messages need organization_id (15 or 18 characters)".into());
        }
        Ok(())
    }

    /// The connected app's private key, PEM.
    pub fn key_pem(&self) -> Result<Option<String>, SalesforceError> {
        if let Some(pem) = &self.private_key {
            return Ok(Some(pem.clone()));
        }
        match &self.private_key_file {
            Some(path) => {
                std::fs::read_to_string(path)
                    .map(Some)
                    .map_err(|e| SalesforceError::Key {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_bad_configs_refused() {
        let mut c = SalesforceConfig::jwt(
            "https://login.salesforce.com/",
            "3MVG9",
            "bot@acme.com",
            "PEM-KEY-1",
        );
        c.outbound_secret = "path-secret-2".into();
        c.client_secret = Some("cs-3".into());
        c.organization_id = "00D000000000062EAA".into();
        let shown = format!("{c:?}");
        for secret in ["PEM-KEY-1", "path-secret-2", "cs-3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(c.login_url, "https://login.salesforce.com");
        assert_eq!(c.data_path(), "/services/data/v62.0");
        assert!(c.check().is_ok(), "{:?}", c.check());
        type Change = fn(&mut SalesforceConfig);
        let cases: &[(&str, Change)] = &[
            ("must be http", |c| c.login_url = "login".into()),
            ("like 62.0", |c| c.api_version = "v62".into()),
            ("consumer key", |c| c.client_id.clear()),
            ("needs username", |c| c.username = None),
            ("not both", |c| c.refresh_token = Some("r".into())),
            ("is needed", |c| c.private_key = None),
            ("not an API name", |c| c.origin_field = "Origin c".into()),
            ("not an API name", |c| {
                c.custom_fields = vec!["a'b__c".into()]
            }),
            ("above 0", |c| c.burst = 0),
            ("1 to 100", |c| c.slow_down_at_percent = 0),
            ("organization_id", |c| c.organization_id = "00D".into()),
        ];
        for (message, change) in cases {
            let mut bad = c.clone();
            change(&mut bad);
            let err = bad.check().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(message), "{message}: {err}");
        }
        let refresh = SalesforceConfig {
            private_key: None,
            refresh_token: Some("5Aep8".into()),
            ..c
        };
        assert!(refresh.check().is_ok());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<SalesforceConfig>(
            "login_url = \"https://x\"\nclient_id = \"c\"\nrefresh_token = \"r\"\norigin = \"x\"\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("unknown field `origin`"), "{err}");
        let c: Result<SalesforceConfig, _> = toml::from_str(
            "login_url = \"https://x\"\nclient_id = \"c\"\nrefresh_token = \"r\"\nrecord_type = \"Support\"\n",
        );
        assert_eq!(
            c.ok().and_then(|c| c.record_type).as_deref(),
            Some("Support")
        );
    }
}
