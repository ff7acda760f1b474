//! What a node config says about a sandbox instance.

use serde::Deserialize;

/// Connection settings for one sandbox tracker instance.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// e.g. `http://127.0.0.1:7801`
    pub base_url: String,
    /// Bearer token, when the sandbox requires one.
    pub token: Option<String>,
    /// The secret the sandbox signs its webhooks with.
    pub webhook_secret: String,
    /// Restricts listings to one project, when set.
    pub project: Option<String>,
    /// PEM certificates trusted besides the platform's roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// The node's own request budget for this sandbox, where it has one (a sandbox
    /// started with a rate limit): so many a minute, `burst` at once.
    #[serde(default)]
    pub budget: Option<Budget>,
}

/// Requests a minute, and how many may go at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub requests_per_minute: u32,
    pub burst: u32,
}

// Secrets never reach logs: Debug shows only whether they are set.
impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("webhook_secret", &"<redacted>")
            .field("project", &self.project)
            .field("ca_file", &self.ca_file)
            .field("budget", &self.budget)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secrets_and_unknown_fields_are_refused() {
        let c: SandboxConfig = serde_json::from_str(
            r#"{"base_url":"http://x","token":"tok-123","webhook_secret":"sec-456","project":null}"#,
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("tok-123") && !shown.contains("sec-456"),
            "{shown}"
        );
        let err = serde_json::from_str::<SandboxConfig>(
            r#"{"base_url":"x","webhook_secret":"s","colour":1}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
    }
}
