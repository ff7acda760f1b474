//! What a node's config says about a Zendesk Support instance.

use serde::Deserialize;

/// Where the instance is, how to authenticate and how fast to go.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// `https://{subdomain}.zendesk.com`, or a fake.
    pub base_url: String,
    /// The group (by name) new tickets go to when a connection names none; empty: none.
    #[serde(default)]
    pub group: String,
    /// API token auth: an agent's email and an API token (`{email}/token:{api_token}`).
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub api_token: Option<String>,
    /// An OAuth access token, sent as a bearer token.
    #[serde(default)]
    pub oauth_token: Option<String>,
    /// The webhook's signing secret; empty: `register_webhook` reads it from Zendesk.
    #[serde(default)]
    pub webhook_secret: String,
    /// The connector's own budget, under the plan's limit (Team: 200 a minute).
    #[serde(default = "default_per_minute")]
    pub requests_per_minute: u32,
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// The incremental export's own limit (10 a minute), a budget apart.
    #[serde(default = "default_export_per_minute")]
    pub export_per_minute: u32,
    /// Tickets per page of the incremental export (Zendesk allows up to 1000).
    #[serde(default = "default_export_page")]
    pub export_per_page: u32,
    /// Attachments above this size are not uploaded; the twin says why.
    #[serde(default = "default_attachment_max")]
    pub attachment_max_bytes: u64,
    /// Comments from the other side become public replies (emailed to the requester)
    /// instead of internal notes. Off: nothing reaches a customer unless asked for.
    #[serde(default)]
    pub public_replies: bool,
    /// A text ticket field (by title) that shows each ticket's sync state and a link to
    /// its twin ("synced: URL", "error: reason", "unlinked"); an admin creates it. The
    /// tags `twinsync_synced` and `twinsync_error` show the state either way.
    #[serde(default)]
    pub sync_field: Option<String>,
    /// PEM certificates trusted besides the platform's roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_per_minute() -> u32 {
    200
}

fn default_burst() -> u32 {
    20
}

fn default_export_per_minute() -> u32 {
    10
}

fn default_export_page() -> u32 {
    1000
}

fn default_attachment_max() -> u64 {
    10 * 1024 * 1024
}

impl std::fmt::Debug for ZendeskConfig {
    // Tokens never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("ZendeskConfig")
            .field("base_url", &self.base_url)
            .field("group", &self.group)
            .field("email", &self.email)
            .field("api_token", &redacted(&self.api_token))
            .field("oauth_token", &redacted(&self.oauth_token))
            .field("webhook_secret", &"<redacted>")
            .field("requests_per_minute", &self.requests_per_minute)
            .field("export_per_minute", &self.export_per_minute)
            .field("attachment_max_bytes", &self.attachment_max_bytes)
            .field("public_replies", &self.public_replies)
            .field("sync_field", &self.sync_field)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl ZendeskConfig {
    /// A config with API token auth and the default budgets.
    pub fn api_token(base_url: &str, group: &str, email: &str, api_token: &str) -> Self {
        Self {
            base_url: base_url.to_string(),
            group: group.to_string(),
            email: Some(email.to_string()),
            api_token: Some(api_token.to_string()),
            oauth_token: None,
            webhook_secret: String::new(),
            requests_per_minute: default_per_minute(),
            burst: default_burst(),
            export_per_minute: default_export_per_minute(),
            export_per_page: default_export_page(),
            attachment_max_bytes: default_attachment_max(),
            public_replies: false,
            sync_field: None,
            ca_file: None,
        }
    }

    /// A config with an OAuth bearer token.
    pub fn oauth(base_url: &str, group: &str, token: &str) -> Self {
        Self {
            email: None,
            api_token: None,
            oauth_token: Some(token.to_string()),
            ..Self::api_token(base_url, group, "", "")
        }
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), crate::ZendeskError> {
        let bad = |m: &str| Err(crate::ZendeskError::Config(m.to_string()));
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return bad("base_url must be http(s)");
        }
        match (&self.email, &self.api_token, &self.oauth_token) {
            (Some(e), Some(t), None) if !e.is_empty() && !t.is_empty() => {}
            (None, None, Some(t)) if !t.is_empty() => {}
            (_, _, Some(_)) => return bad("give either email + api_token or oauth_token"),
            _ => return bad("email + api_token or oauth_token is needed"),
        }
        if !(1..=1000).contains(&self.export_per_page) {
            return bad("export_per_page must be between 1 and 1000");
        }
        if self.requests_per_minute == 0 || self.burst == 0 || self.export_per_minute == 0 {
            return bad("requests_per_minute, burst and export_per_minute must be above 0");
        }
        Ok(())
    }

    /// The `Authorization` header value.
    pub fn authorization(&self) -> String {
        use base64::Engine;
        match (&self.oauth_token, &self.email, &self.api_token) {
            (Some(t), _, _) => format!("Bearer {t}"),
            (None, Some(e), Some(t)) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{e}/token:{t}"))
            ),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_bad_configs_refused() {
        let mut c =
            ZendeskConfig::api_token("https://acme.zendesk.com", "Support", "a@x.io", "tok-123");
        c.webhook_secret = "hook-secret".into();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("hook-secret"),
            "{shown}"
        );
        assert!(c.check().is_ok());
        // base64("a@x.io/token:tok-123")
        assert_eq!(c.authorization(), "Basic YUB4LmlvL3Rva2VuOnRvay0xMjM=");
        type Change = fn(&mut ZendeskConfig);
        let cases: &[(&str, Change)] = &[
            ("must be http", |c| c.base_url = "acme.zendesk.com".into()),
            ("is needed", |c| c.api_token = None),
            ("either", |c| c.oauth_token = Some("o".into())),
            ("above 0", |c| c.export_per_minute = 0),
        ];
        for (message, change) in cases {
            let mut bad = c.clone();
            change(&mut bad);
            let err = bad.check().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(message), "{message}: {err}");
        }
        let oauth = ZendeskConfig::oauth("https://acme.zendesk.com", "", "eyJ");
        assert!(oauth.check().is_ok());
        assert_eq!(oauth.authorization(), "Bearer eyJ");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<ZendeskConfig>(
            "base_url = \"https://x\"\noauth_token = \"t\"\ngruop = \"x\"\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("unknown field `gruop`"), "{err}");
    }
}
