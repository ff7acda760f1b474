//! What a node's config says about an Azure DevOps organization.

use serde::Deserialize;

/// Where the organization is, how to authenticate and how fast to go.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdoConfig {
    /// `https://dev.azure.com/your-org`, or a fake.
    pub org_url: String,
    /// The project triggers poll and new work items go to when a connection names none.
    pub project: String,
    /// The work item type new items get.
    #[serde(default = "default_type")]
    pub work_item_type: String,
    /// A personal access token, sent as Basic with an empty user name. Either this or
    /// `oauth_token`.
    #[serde(default)]
    pub pat: Option<String>,
    /// A Microsoft Entra access token, sent as a bearer token.
    #[serde(default)]
    pub oauth_token: Option<String>,
    /// The secret a service hook subscription sends: the Basic password (user
    /// `webhook_user`) and the value of the `X-Twinsync-Secret` header. Azure DevOps
    /// signs nothing, so this is how a delivery is told from a forgery.
    #[serde(default)]
    pub webhook_secret: String,
    #[serde(default = "default_hook_user")]
    pub webhook_user: String,
    /// The connector's own budget, below Azure DevOps' global consumption limit.
    #[serde(default = "default_per_minute")]
    pub requests_per_minute: u32,
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Attachments above this size are not copied; the twin says why.
    #[serde(default = "default_attachment_max")]
    pub attachment_max_bytes: u64,
    /// PEM certificates trusted besides the platform's roots (Azure DevOps Server behind
    /// a private CA, or the demo's fake).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_type() -> String {
    "Task".into()
}

fn default_hook_user() -> String {
    "twinsync".into()
}

fn default_per_minute() -> u32 {
    600
}

fn default_burst() -> u32 {
    30
}

fn default_attachment_max() -> u64 {
    60 * 1024 * 1024
}

impl std::fmt::Debug for AdoConfig {
    // Tokens never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("AdoConfig")
            .field("org_url", &self.org_url)
            .field("project", &self.project)
            .field("work_item_type", &self.work_item_type)
            .field("pat", &redacted(&self.pat))
            .field("oauth_token", &redacted(&self.oauth_token))
            .field("webhook_secret", &"<redacted>")
            .field("webhook_user", &self.webhook_user)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("attachment_max_bytes", &self.attachment_max_bytes)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl AdoConfig {
    /// A config with a personal access token and the default budget.
    pub fn with_pat(org_url: &str, project: &str, pat: &str) -> Self {
        Self {
            org_url: org_url.to_string(),
            project: project.to_string(),
            work_item_type: default_type(),
            pat: Some(pat.to_string()),
            oauth_token: None,
            webhook_secret: String::new(),
            webhook_user: default_hook_user(),
            requests_per_minute: default_per_minute(),
            burst: default_burst(),
            attachment_max_bytes: default_attachment_max(),
            ca_file: None,
        }
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), crate::AdoError> {
        let bad = |m: &str| Err(crate::AdoError::Config(m.to_string()));
        if !(self.org_url.starts_with("http://") || self.org_url.starts_with("https://")) {
            return bad("org_url must be http(s)");
        }
        if self.project.trim().is_empty() {
            return bad("project must name a project");
        }
        if self.work_item_type.trim().is_empty() {
            return bad("work_item_type must name a work item type");
        }
        match (&self.pat, &self.oauth_token) {
            (Some(_), None) | (None, Some(_)) => {}
            (Some(_), Some(_)) => return bad("give either pat or oauth_token"),
            (None, None) => return bad("pat or oauth_token is needed"),
        }
        if self.requests_per_minute == 0 || self.burst == 0 {
            return bad("requests_per_minute and burst must be above 0");
        }
        Ok(())
    }

    /// The `Authorization` header value: a PAT is Basic with an empty user name.
    pub fn authorization(&self) -> String {
        use base64::Engine;
        match (&self.oauth_token, &self.pat) {
            (Some(t), _) => format!("Bearer {t}"),
            (None, Some(p)) => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(":{p}"))
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
        let mut c = AdoConfig::with_pat("https://dev.azure.com/acme", "Demo", "pat-123");
        c.webhook_secret = "hook-secret".into();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("pat-123") && !shown.contains("hook-secret"),
            "{shown}"
        );
        assert!(c.check().is_ok());
        assert_eq!(c.authorization(), "Basic OnBhdC0xMjM=");
        type Change = fn(&mut AdoConfig);
        let cases: &[(&str, Change)] = &[
            ("must be http", |c| c.org_url = "dev.azure.com/acme".into()),
            ("name a project", |c| c.project = " ".into()),
            ("is needed", |c| c.pat = None),
            ("either", |c| c.oauth_token = Some("o".into())),
            ("above 0", |c| c.burst = 0),
            ("work item type", |c| c.work_item_type = String::new()),
        ];
        for (message, change) in cases {
            let mut bad = c.clone();
            change(&mut bad);
            let err = bad.check().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(message), "{message}: {err}");
        }
        let oauth = AdoConfig {
            pat: None,
            oauth_token: Some("eyJ".into()),
            ..c
        };
        assert!(oauth.check().is_ok());
        assert_eq!(oauth.authorization(), "Bearer eyJ");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<AdoConfig>(
            "org_url = \"https://x\"\nproject = \"D\"\npat = \"t\"\nprojct = \"x\"\n",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("unknown field `projct`"), "{err}");
    }
}
