//! What a node's config says about a GitHub instance.

use serde::Deserialize;

/// Where to find GitHub, how to authenticate and how fast to go.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// `https://api.github.com`, a GitHub Enterprise `https://HOST/api/v3`, or a fake.
    #[serde(default = "default_api")]
    pub api_url: String,
    /// The repository (`owner/name`) polled by the triggers; writes go to the repository
    /// in an item's key or a connection's target project.
    pub repo: String,
    /// A fine-grained personal access token. Either this or `app`.
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub app: Option<GithubApp>,
    /// The secret the repository's webhook signs deliveries with.
    #[serde(default)]
    pub webhook_secret: String,
    /// Who is who: GitHub hides most users' emails, so the node keeps a directory.
    #[serde(default)]
    pub users: Vec<UserEntry>,
    /// The connector's own budget, below GitHub's limits (5,000 requests an hour for a
    /// token; 80 content-creating requests a minute) so a bulk run does not cause 429s.
    #[serde(default = "default_per_minute")]
    pub requests_per_minute: u32,
    /// Requests allowed at once before the budget starts spacing them.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// PEM certificates trusted besides the platform's roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

/// A GitHub App installation: the node signs a JWT with the app's private key and trades
/// it for an installation token, renewed before it expires.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubApp {
    pub app_id: u64,
    pub installation_id: u64,
    /// The PEM text of the app's private key (PKCS#1, as GitHub hands it out).
    pub private_key_pem: String,
}

pub use crate::mapping::UserEntry;

/// The REST API version every request asks for (`X-GitHub-Api-Version`).
pub const API_VERSION: &str = "2022-11-28";
/// Who is calling, as GitHub asks every client to say.
pub const USER_AGENT: &str = concat!("twinsync/", env!("CARGO_PKG_VERSION"));

fn default_api() -> String {
    "https://api.github.com".into()
}

fn default_per_minute() -> u32 {
    900
}

fn default_burst() -> u32 {
    50
}

impl std::fmt::Debug for GithubConfig {
    // Tokens and keys never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubConfig")
            .field("api_url", &self.api_url)
            .field("repo", &self.repo)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("app", &self.app)
            .field("webhook_secret", &"<redacted>")
            .field("users", &self.users.len())
            .field("requests_per_minute", &self.requests_per_minute)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl std::fmt::Debug for GithubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubApp")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

impl GithubConfig {
    /// A config for `repo` on `api_url` with a token and the default budget.
    pub fn with_token(api_url: &str, repo: &str, token: &str) -> Self {
        Self {
            api_url: api_url.to_string(),
            repo: repo.to_string(),
            token: Some(token.to_string()),
            app: None,
            webhook_secret: String::new(),
            users: Vec::new(),
            requests_per_minute: default_per_minute(),
            burst: default_burst(),
            ca_file: None,
        }
    }

    /// Checks what serde cannot.
    pub fn check(&self) -> Result<(), crate::GithubError> {
        let bad = |m: String| Err(crate::GithubError::Config(m));
        if !(self.api_url.starts_with("http://") || self.api_url.starts_with("https://")) {
            return bad(format!("api_url {:?} must be http(s)", self.api_url));
        }
        if crate::mapping::split_repo(&self.repo).is_none() {
            return bad(format!("repo {:?} must be owner/name", self.repo));
        }
        match (&self.token, &self.app) {
            (Some(_), Some(_)) => bad("give either token or app, not both".into()),
            (None, None) => bad("a token or an app is needed".into()),
            _ if self.requests_per_minute == 0 || self.burst == 0 => {
                bad("requests_per_minute and burst must be above 0".into())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_bad_configs_refused() {
        let mut c = GithubConfig::with_token("https://api.github.com", "octo/demo", "ghp_x");
        c.webhook_secret = "hook-secret".into();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("ghp_x") && !shown.contains("hook-secret"),
            "{shown}"
        );
        assert!(c.check().is_ok());
        type Change = fn(&mut GithubConfig);
        let cases: &[(&str, Change)] = &[
            ("must be owner/name", |c| c.repo = "demo".into()),
            ("must be http", |c| c.api_url = "ftp://x".into()),
            ("a token or an app", |c| c.token = None),
            ("above 0", |c| c.burst = 0),
        ];
        for (message, change) in cases {
            let mut bad = c.clone();
            change(&mut bad);
            let err = bad.check().err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(message), "{message}: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<GithubConfig>("repo = \"o/r\"\ntoken = \"t\"\ntokn = \"x\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown field `tokn`"), "{err}");
    }
}
