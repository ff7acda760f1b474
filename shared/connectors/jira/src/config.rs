//! What a node's config says about a Jira Cloud site.

use serde::Deserialize;

/// Where the Jira site is, how to authenticate and how fast to go.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// `https://your-site.atlassian.net`, or a fake.
    pub base_url: String,
    /// The project new issues go to when a connection names none.
    pub project: String,
    /// The issue type new issues get.
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// Basic auth: the account's email and an API token. Either these or `oauth_token`.
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub api_token: Option<String>,
    /// An OAuth 2.0 (3LO) access token, sent as a bearer token.
    #[serde(default)]
    pub oauth_token: Option<String>,
    /// The secret an admin webhook signs deliveries with (`X-Hub-Signature`); empty: the
    /// deliveries are not signed and are taken as a signal only (the item is read fresh).
    #[serde(default)]
    pub webhook_secret: String,
    /// The connector's own budget, below Jira's cost-based limits, so a bulk run does not
    /// cause 429s.
    #[serde(default = "default_per_minute")]
    pub requests_per_minute: u32,
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Attachments above this size are not uploaded; the twin says why.
    #[serde(default = "default_attachment_max")]
    pub attachment_max_bytes: u64,
    /// Take deliveries without a signature (webhooks an OAuth app registered), as change
    /// signals only. Off unless set on purpose.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// PEM certificates trusted besides the platform's roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// A "Short text" custom field (id `customfield_10050` or name) that holds a
    /// searchable token of each issue's origin marker, so an issue is found again at any
    /// age (see `origin`); an admin creates it and adds it to the create screen. Checked
    /// at start.
    #[serde(default)]
    pub origin_field: Option<String>,
    /// Without `origin_field`, issues are found again among those this account created
    /// this many minutes back at most (a day by default).
    #[serde(default = "default_lookback")]
    pub origin_lookback_minutes: u32,
}

fn default_issue_type() -> String {
    "Task".into()
}

fn default_per_minute() -> u32 {
    600
}

fn default_burst() -> u32 {
    30
}

fn default_lookback() -> u32 {
    24 * 60
}

fn default_attachment_max() -> u64 {
    10 * 1024 * 1024
}

impl std::fmt::Debug for JiraConfig {
    // Tokens never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("JiraConfig")
            .field("base_url", &self.base_url)
            .field("project", &self.project)
            .field("issue_type", &self.issue_type)
            .field("email", &self.email)
            .field("api_token", &redacted(&self.api_token))
            .field("oauth_token", &redacted(&self.oauth_token))
            .field("webhook_secret", &"<redacted>")
            .field("requests_per_minute", &self.requests_per_minute)
            .field("attachment_max_bytes", &self.attachment_max_bytes)
            .field("ca_file", &self.ca_file)
            .field("origin_field", &self.origin_field)
            .field("origin_lookback_minutes", &self.origin_lookback_minutes)
            .finish()
    }
}

impl JiraConfig {
    /// A config with Basic auth and the default budget.
    pub fn basic(base_url: &str, project: &str, email: &str, api_token: &str) -> Self {
        Self {
            base_url: base_url.to_string(),
            project: project.to_string(),
            issue_type: default_issue_type(),
            email: Some(email.to_string()),
            api_token: Some(api_token.to_string()),
            oauth_token: None,
            webhook_secret: String::new(),
            requests_per_minute: default_per_minute(),
            burst: default_burst(),
            attachment_max_bytes: default_attachment_max(),
            allow_unsigned: false,
            ca_file: None,
            origin_field: None,
            origin_lookback_minutes: default_lookback(),
        }
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), crate::JiraError> {
        let bad = |m: &str| Err(crate::JiraError::Config(m.to_string()));
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return bad("base_url must be http(s)");
        }
        if self.project.trim().is_empty() {
            return bad("project must name a project key");
        }
        match (&self.email, &self.api_token, &self.oauth_token) {
            (Some(_), Some(_), None) | (None, None, Some(_)) => {}
            (_, _, Some(_)) => return bad("give either email + api_token or oauth_token"),
            _ => return bad("email + api_token (Basic) or oauth_token is needed"),
        }
        if self.requests_per_minute == 0 || self.burst == 0 {
            return bad("requests_per_minute and burst must be above 0");
        }
        if self.origin_lookback_minutes == 0 {
            return bad("origin_lookback_minutes must be above 0");
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
                base64::engine::general_purpose::STANDARD.encode(format!("{e}:{t}"))
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
        let mut c = JiraConfig::basic("https://x.atlassian.net", "DEMO", "a@x.io", "tok-123");
        c.webhook_secret = "hook-secret".into();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("hook-secret"),
            "{shown}"
        );
        assert!(c.check().is_ok());
        assert_eq!(c.authorization(), "Basic YUB4LmlvOnRvay0xMjM=");
        type Change = fn(&mut JiraConfig);
        let cases: &[(&str, Change)] = &[
            ("must be http", |c| c.base_url = "x.atlassian.net".into()),
            ("project key", |c| c.project = " ".into()),
            ("is needed", |c| c.api_token = None),
            ("either", |c| c.oauth_token = Some("o".into())),
            ("above 0", |c| c.requests_per_minute = 0),
            ("origin_lookback_minutes", |c| c.origin_lookback_minutes = 0),
        ];
        for (message, change) in cases {
            let mut bad = c.clone();
            change(&mut bad);
            let err = bad.check().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(message), "{message}: {err}");
        }
        let oauth = JiraConfig {
            email: None,
            api_token: None,
            oauth_token: Some("eyJ".into()),
            ..c
        };
        assert!(oauth.check().is_ok());
        assert_eq!(oauth.authorization(), "Bearer eyJ");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<JiraConfig>(
            "base_url = \"https://x\"\nproject = \"D\"\noauth_token = \"t\"\nprojct = \"x\"\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("unknown field `projct`"), "{err}");
    }
}
