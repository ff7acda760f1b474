//! The node config file (TOML): sandbox trackers to start, nodes, their tracker
//! instances, connections, triggers and rules files. One file can hold several nodes;
//! nodes in the same process reach each other without a network hop.
//!
//! A config error names the key and, where it can, the line.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use twinsync_core::{ConflictSettings, ConnectorKind, Filter, NodeHelperMaps};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// Sandbox trackers this process runs itself.
    #[serde(default)]
    pub sandbox: Vec<SandboxSection>,
    pub node: Vec<NodeSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSection {
    pub id: String,
    /// Address to listen on, e.g. "127.0.0.1:7801" (port 0 picks one).
    pub listen: String,
    /// SQLite file; relative to the config file. In memory when absent.
    pub db: Option<PathBuf>,
    pub token: Option<String>,
    /// Projects to create at start: key -> name.
    #[serde(default)]
    pub projects: Vec<ProjectSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSection {
    pub key: String,
    pub name: String,
    pub statuses: Option<Vec<String>>,
    pub priorities: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    pub id: String,
    /// Where the node keeps its SQLite database; relative to the config file.
    pub data_dir: PathBuf,
    /// Webhooks, admin API and monitor; loopback by default.
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default = "default_poll")]
    pub poll_interval_ms: i64,
    #[serde(default)]
    pub instance: Vec<InstanceSection>,
    #[serde(default)]
    pub connection: Vec<ConnectionSection>,
    /// PEM certificates trusted besides the platform's roots when this node calls other
    /// nodes (a peer behind a private CA); relative to the config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_listen() -> String {
    "127.0.0.1:0".into()
}

fn default_poll() -> i64 {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSection {
    pub id: String,
    /// Which kind of tracker: sandbox, redmine, github or jira.
    pub connector: ConnectorKind,
    /// The tracker's base URL, or `sandbox:<id>` for a sandbox of this process.
    pub base_url: String,
    /// The secret webhooks are signed with (sandbox).
    #[serde(default)]
    pub webhook_secret: String,
    /// Bearer token (sandbox) or API key (redmine).
    pub token: Option<String>,
    /// Redmine: the custom field that holds the origin marker.
    pub origin_field_id: Option<u32>,
    /// Redmine: the project to poll, and the tracker new issues get.
    pub project: Option<String>,
    pub tracker: Option<String>,
    /// Redmine: the server's text formatting (`common_mark`, `markdown` or `textile`).
    pub text_formatting: Option<String>,
    /// Subscribe this node's webhook URL on the tracker at start.
    #[serde(default = "yes")]
    pub register_webhook: bool,
    /// GitHub: the repository, app credentials, users directory and budget.
    #[serde(default)]
    pub github: Option<GithubSection>,
    /// Jira Cloud: the project, the account and the budget.
    #[serde(default)]
    pub jira: Option<JiraSection>,
    /// PEM certificates trusted besides the platform's roots, for a tracker behind a
    /// private CA (self-hosted Redmine or Jira Data Center); relative to the config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// A Jira site: the instance's `token` is the API token (Basic auth with `email`) or,
/// without `email`, an OAuth 2.0 access token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraSection {
    /// The project key the triggers poll and new issues go to by default.
    pub project: String,
    pub email: Option<String>,
    pub issue_type: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    pub attachment_max_bytes: Option<u64>,
    /// A "Short text" custom field (id or name) holding a searchable token of each
    /// issue's origin, so issues are found again at any age; without it, only among
    /// those this account created in the last `origin_lookback_minutes`.
    #[serde(default)]
    pub origin_field: Option<String>,
    #[serde(default)]
    pub origin_lookback_minutes: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubSection {
    /// `owner/name`, the repository the triggers poll.
    pub repo: String,
    /// A GitHub App instead of the instance's `token`.
    pub app: Option<GithubAppSection>,
    #[serde(default)]
    pub users: Vec<twinsync_core::UserEntry>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubAppSection {
    pub app_id: u64,
    pub installation_id: u64,
    /// The app's private key (PEM), relative to the config file.
    pub private_key_file: PathBuf,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSection {
    pub id: String,
    pub name: String,
    pub instance: String,
    pub remote_node: String,
    pub target_project: String,
    /// Rules files; the default rules when absent.
    pub outgoing: Option<PathBuf>,
    pub incoming: Option<PathBuf>,
    pub conflicts: Option<ConflictSettings>,
    pub helper_maps: Option<NodeHelperMaps>,
    #[serde(default)]
    pub trigger: Vec<TriggerSection>,
    /// SynchronizationPlans.
    #[serde(default)]
    pub plan: Vec<PlanSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSection {
    pub id: Option<String>,
    /// A cron pattern, seconds optional, evaluated in UTC.
    pub cron: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSection {
    pub id: Option<String>,
    pub query: String,
}

/// A config that does not load, with where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: line {line}: key `{key}`: {message}")]
    Invalid {
        path: String,
        line: usize,
        key: String,
        message: String,
    },
}

impl ConfigError {
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// The 1-based line where `needle` first appears, for error messages.
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map(|at| text[..at].matches('\n').count() + 1)
        .unwrap_or(0)
}

impl ProcessConfig {
    pub fn load(path: &Path) -> Result<ProcessConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a config; `path` is only used in messages.
    pub fn parse(text: &str, path: &str) -> Result<ProcessConfig, ConfigError> {
        let config: ProcessConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.check(text, path)?;
        Ok(config)
    }

    fn check(&self, text: &str, path: &str) -> Result<(), ConfigError> {
        let invalid = |key: String, needle: &str, message: String| ConfigError::Invalid {
            path: path.to_string(),
            line: line_of(text, needle),
            key,
            message,
        };
        if self.node.is_empty() {
            return Err(invalid(
                "node".into(),
                "",
                "at least one [[node]] is needed".into(),
            ));
        }
        let mut node_ids = std::collections::HashSet::new();
        for (n, node) in self.node.iter().enumerate() {
            if !node_ids.insert(&node.id) {
                return Err(invalid(
                    format!("node[{n}].id"),
                    &node.id,
                    format!("duplicate node id {:?}", node.id),
                ));
            }
            let mut ids = std::collections::HashSet::new();
            for (i, inst) in node.instance.iter().enumerate() {
                if inst.connector == ConnectorKind::Redmine
                    && (inst.token.is_none() || inst.origin_field_id.is_none())
                {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}]"),
                        &inst.id,
                        "a redmine instance needs token (the API key) and origin_field_id".into(),
                    ));
                }
                if inst.connector == ConnectorKind::Github {
                    let problem = match &inst.github {
                        None => Some("a github instance needs a [github] table with repo"),
                        Some(g) if g.app.is_some() == inst.token.is_some() => {
                            Some("a github instance needs either token or [github.app]")
                        }
                        Some(_) if inst.webhook_secret.is_empty() && inst.register_webhook => {
                            Some("a github instance with register_webhook needs webhook_secret")
                        }
                        Some(_) => None,
                    };
                    if let Some(message) = problem {
                        return Err(invalid(
                            format!("node[{n}].instance[{i}]"),
                            &inst.id,
                            message.into(),
                        ));
                    }
                }
                if inst.connector == ConnectorKind::Jira
                    && (inst.jira.is_none() || inst.token.is_none())
                {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}]"),
                        &inst.id,
                        "a jira instance needs token (API token with [jira] email, or an OAuth token) and a [jira] table with project".into(),
                    ));
                }
                if !ids.insert(&inst.id) {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}].id"),
                        &inst.id,
                        format!("duplicate instance id {:?}", inst.id),
                    ));
                }
                if let Some(sandbox) = inst.base_url.strip_prefix("sandbox:")
                    && !self.sandbox.iter().any(|s| s.id == sandbox)
                {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}].base_url"),
                        &inst.base_url,
                        format!("no [[sandbox]] with id {sandbox:?}"),
                    ));
                }
            }
            let mut conn_ids = std::collections::HashSet::new();
            for (c, conn) in node.connection.iter().enumerate() {
                if !conn_ids.insert(&conn.id) {
                    return Err(invalid(
                        format!("node[{n}].connection[{c}].id"),
                        &conn.id,
                        format!("duplicate connection id {:?}", conn.id),
                    ));
                }
                if !node.instance.iter().any(|i| i.id == conn.instance) {
                    return Err(invalid(
                        format!("node[{n}].connection[{c}].instance"),
                        &format!("\"{}\"", conn.instance),
                        format!("no instance {:?} on node {:?}", conn.instance, node.id),
                    ));
                }
                for (p, plan) in conn.plan.iter().enumerate() {
                    if let Err(e) = crate::handlers::scheduler::parse_cron(&plan.cron) {
                        return Err(invalid(
                            format!("node[{n}].connection[{c}].plan[{p}].cron"),
                            &plan.cron,
                            e,
                        ));
                    }
                }
                for (t, trigger) in conn.trigger.iter().enumerate() {
                    if let Err(e) = Filter::parse(&trigger.query) {
                        return Err(invalid(
                            format!("node[{n}].connection[{c}].trigger[{t}].query"),
                            &trigger.query,
                            e.to_string(),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[sandbox]]
id = "a"
listen = "127.0.0.1:0"

[[node]]
id = "node-a"
data_dir = "data/a"

[[node.instance]]
id = "sandbox-a"
connector = "sandbox"
base_url = "sandbox:a"
webhook_secret = "s3cret"

[[node.connection]]
id = "demo"
name = "Demo"
instance = "sandbox-a"
remote_node = "node-b"
target_project = "DEMO"

[[node.connection.trigger]]
query = "project = DEMO AND labels = sync"
"#;

    #[test]
    fn a_good_config_loads() {
        let c = ProcessConfig::parse(GOOD, "node.toml").unwrap();
        assert_eq!(c.node[0].connection[0].trigger.len(), 1);
    }

    const GITHUB: &str = r#"
[[node]]
id = "node-g"
data_dir = "data/g"

[[node.instance]]
id = "github"
connector = "github"
base_url = "https://api.github.com"
token = "github_pat_x"
webhook_secret = "hook"
[node.instance.github]
repo = "octo/demo"
requests_per_minute = 900
users = [{ login = "mona", email = "mona@example.com", name = "Mona Lisa" }]
"#;

    #[test]
    fn a_github_instance_loads_and_is_checked() {
        let c = ProcessConfig::parse(GITHUB, "node.toml").unwrap();
        let g = c.node[0].instance[0].github.as_ref().unwrap();
        assert_eq!((g.repo.as_str(), g.users.len()), ("octo/demo", 1));
        let table = [
            (
                GITHUB.replace("repo = \"octo/demo\"\n", ""),
                "missing field `repo`",
            ),
            (
                GITHUB.replace("token = \"github_pat_x\"\n", ""),
                "either token or [github.app]",
            ),
            (
                GITHUB.replace("webhook_secret = \"hook\"\n", ""),
                "needs webhook_secret",
            ),
            (
                GITHUB.replace("[node.instance.github]", "[node.instance.gh]"),
                "unknown field `gh`",
            ),
            (
                GITHUB.replace("requests_per_minute", "rpm"),
                "unknown field `rpm`",
            ),
        ];
        for (text, expected) in table {
            let err = ProcessConfig::parse(&text, "node.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn errors_name_key_and_line() {
        let table = [
            (
                GOOD.replace("connector = \"sandbox\"", "connector = \"jura\""),
                "unknown variant `jura`, expected one of `sandbox`, `redmine`, `github`, `jira`",
                "line 12",
            ),
            (
                GOOD.replace("labels = sync\"", "labels =\""),
                "trigger[0].query",
                "line 24",
            ),
            (
                GOOD.replace("instance = \"sandbox-a\"", "instance = \"nope\""),
                "node[0].connection[0].instance",
                "line 19",
            ),
            (
                GOOD.replace("base_url = \"sandbox:a\"", "base_url = \"sandbox:zz\""),
                "base_url",
                "line 13",
            ),
            (
                GOOD.replace("name = \"Demo\"", "name = \"Demo\"\ncolour = 1"),
                "unknown field `colour`",
                "line 19",
            ),
            (
                GOOD.replace("target_project = \"DEMO\"", ""),
                "missing field `target_project`",
                "line",
            ),
            (
                format!("{GOOD}\n[[node.connection.plan]]\ncron = \"61 * * * *\"\n"),
                "node[0].connection[0].plan[0].cron",
                "line 27",
            ),
        ];
        for (text, key, line) in table {
            let e = ProcessConfig::parse(&text, "node.toml")
                .expect_err(key)
                .to_string();
            assert!(e.contains(key), "{e}");
            assert!(e.contains(line), "{e}");
        }
    }
}
