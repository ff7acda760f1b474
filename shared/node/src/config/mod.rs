//! The node config file (TOML, or the same as JSON for the Lambda functions): sandbox
//! trackers to start, nodes, their tracker instances, connections, triggers and rules
//! files. One file can hold several nodes; nodes in the same process reach each other
//! without a network hop.
//!
//! A config error names the key and, where it can, the line.

mod check;
mod trackers;

#[cfg(test)]
mod bad_input;

pub use check::{HttpPublicUrl, check_public_url};
pub use trackers::{
    AdoSection, GithubAppSection, GithubSection, JiraSection, SalesforceSection, ServiceNowSection,
    ZendeskSection,
};

use crate::handlers::polling::PollIntervals;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use twinsync_core::{
    ConflictSettings, ConnectorKind, Filter, MAX_MAX_TRANSPORT_BODY, MIN_MAX_TRANSPORT_BODY,
    NodeHelperMaps, RemovalSettings,
};

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
    /// Answer 429 past this many requests a minute, as a hosted tracker does.
    #[serde(default)]
    pub budget: Option<twinsync_sandbox::Budget>,
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
    /// Tracker webhooks, the node-to-node `/v1/*` endpoints and `/health`; loopback by
    /// default.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// The admin API and the monitor: on loopback unless `admin_allow_remote`.
    #[serde(default = "default_listen")]
    pub admin_listen: String,
    /// Lets `admin_listen` take a non-loopback address (the token and the Host and Origin
    /// checks still apply; put TLS in front of it).
    #[serde(default)]
    pub admin_allow_remote: bool,
    /// More Host values the admin listener answers to (`host` or `host:port`, as the
    /// browser or a proxy in front of it sends them).
    #[serde(default)]
    pub admin_hosts: Vec<String>,
    /// Where other nodes and trackers reach this node: what invitations advertise and
    /// webhooks are registered with. https, or http on a loopback address or with
    /// `allow_http_public_url`; `http://` + the public listener's address when absent,
    /// which needs `listen` on loopback.
    pub public_url: Option<String>,
    #[serde(default)]
    pub allow_http_public_url: bool,
    /// How often the triggers are polled and the twins swept, in ms, for an instance
    /// whose changes only polling brings.
    #[serde(default = "default_poll")]
    pub poll_interval_ms: i64,
    /// The same for an instance whose webhook is registered (or set up by hand): polling
    /// then only catches a lost webhook. 5 minutes when absent (or `poll_interval_ms`,
    /// if that is longer).
    pub webhook_poll_interval_ms: Option<i64>,
    /// How long a failing message is retried before it is dead-lettered and its twin
    /// shows Error (24 hours when absent; at most 14 days, what a queue keeps).
    pub retry_budget_hours: Option<f64>,
    /// The largest replica (transport body, uncompressed) this node takes from another
    /// node; told to the other node when the connection is made. 1 MiB when absent;
    /// 64 KiB to 64 MiB.
    pub max_replica_bytes: Option<u64>,
    #[serde(default)]
    pub instance: Vec<InstanceSection>,
    #[serde(default)]
    pub connection: Vec<ConnectionSection>,
    /// PEM certificates trusted besides the platform's roots when this node calls other
    /// nodes (a peer behind a private CA); relative to the config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Serve the public listener over HTTPS with this certificate, when nothing in front of
    /// the node terminates TLS.
    #[serde(default)]
    pub tls: Option<TlsSection>,
}

/// A node with no trackers or connections yet, listening on loopback ports the system
/// picks, so code that builds a config (tests, demos) names only the fields it sets.
impl Default for NodeSection {
    fn default() -> Self {
        Self {
            id: String::new(),
            data_dir: PathBuf::new(),
            listen: default_listen(),
            admin_listen: default_listen(),
            admin_allow_remote: false,
            admin_hosts: vec![],
            public_url: None,
            allow_http_public_url: false,
            poll_interval_ms: default_poll(),
            webhook_poll_interval_ms: None,
            retry_budget_hours: None,
            max_replica_bytes: None,
            instance: vec![],
            connection: vec![],
            ca_file: None,
            tls: None,
        }
    }
}

/// A certificate chain (leaf first) and its private key, PEM files relative to the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// The longest retry budget: SQS keeps a message 14 days.
const MAX_RETRY_BUDGET_HOURS: f64 = 14.0 * 24.0;

impl NodeSection {
    /// The retry budget this section sets, in milliseconds.
    pub fn retry_budget_ms(&self) -> Option<i64> {
        self.retry_budget_hours
            .map(|hours| (hours * 3_600_000.0).round() as i64)
    }

    /// How often the scheduler polls, by how an instance's changes arrive.
    pub fn poll_intervals(&self) -> PollIntervals {
        PollIntervals {
            polls_ms: self.poll_interval_ms,
            webhooks_ms: self
                .webhook_poll_interval_ms
                .unwrap_or(DEFAULT_WEBHOOK_POLL_MS.max(self.poll_interval_ms)),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:0".into()
}

fn default_poll() -> i64 {
    10_000
}

/// `webhook_poll_interval_ms` when a config does not set it.
pub const DEFAULT_WEBHOOK_POLL_MS: i64 = 300_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSection {
    pub id: String,
    /// Which kind of tracker: sandbox, redmine, github, jira, ado, servicenow, zendesk or
    /// salesforce.
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
    /// Redmine, optional: the custom fields that show each issue's sync status (text) and
    /// its twin's URL (link); without them issues do not show their sync.
    pub status_field_id: Option<u32>,
    pub twin_field_id: Option<u32>,
    /// Redmine: the project to poll, and the tracker new issues get.
    pub project: Option<String>,
    pub tracker: Option<String>,
    /// Redmine: the server's text formatting (`common_mark`, `markdown` or `textile`).
    pub text_formatting: Option<String>,
    /// Subscribe this node's webhook URL on the tracker at start.
    #[serde(default = "yes")]
    pub register_webhook: bool,
    /// With `register_webhook = false`: the operator set the node's webhook up on the
    /// tracker, so polling is a safety net and takes `webhook_poll_interval_ms`, as for a
    /// registered one. Without it the node cannot tell whether one is there.
    #[serde(default)]
    pub webhook_by_hand: bool,
    /// GitHub: the repository, app credentials, users directory and budget.
    #[serde(default)]
    pub github: Option<GithubSection>,
    /// Jira Cloud: the project, the account and the budget.
    #[serde(default)]
    pub jira: Option<JiraSection>,
    /// Azure DevOps: the organization's project, the work item type and the budget.
    #[serde(default)]
    pub ado: Option<AdoSection>,
    /// ServiceNow: the table, the integration user or OAuth client, the budget.
    #[serde(default)]
    pub servicenow: Option<ServiceNowSection>,
    /// Zendesk Support: the default group, the account and the budgets.
    #[serde(default)]
    pub zendesk: Option<ZendeskSection>,
    /// Salesforce: the connected app, the org's setup fields, the budget.
    #[serde(default)]
    pub salesforce: Option<SalesforceSection>,
    /// PEM certificates trusted besides the platform's roots, for a tracker behind a
    /// private CA (self-hosted Redmine or Jira Data Center); relative to the config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Sandbox: the node's own request budget for the instance (its other connectors
    /// keep theirs in their own section).
    #[serde(default)]
    pub budget: Option<twinsync_sandbox::Budget>,
}

/// A blank sandbox instance that subscribes its webhook, so code that builds a config
/// (tests, demos) names only the fields it sets.
impl Default for InstanceSection {
    fn default() -> Self {
        Self {
            id: String::new(),
            connector: ConnectorKind::Sandbox,
            base_url: String::new(),
            webhook_secret: String::new(),
            token: None,
            origin_field_id: None,
            status_field_id: None,
            twin_field_id: None,
            project: None,
            tracker: None,
            text_formatting: None,
            register_webhook: true,
            webhook_by_hand: false,
            github: None,
            jira: None,
            ado: None,
            servicenow: None,
            zendesk: None,
            salesforce: None,
            ca_file: None,
            budget: None,
        }
    }
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
    /// The other node's tracker (`jira`, `github`, ...), for the pair's default rules and
    /// maps; found by itself when the other node is in the same file.
    #[serde(default)]
    pub remote_connector: Option<ConnectorKind>,
    /// `false`: no live sync, only the plans, bulk jobs and operations sync.
    #[serde(default)]
    pub live: Option<bool>,
    /// What happens here when the other side deletes an item or comment, or an item
    /// leaves every trigger there: `policy = "unlink"` (default), `"close"` or `"delete"`.
    #[serde(default)]
    pub removals: Option<RemovalSettings>,
}

/// A connection with no rules files, maps, policies, triggers or plans of its own, so code
/// that builds a config names only the fields it sets.
impl Default for ConnectionSection {
    fn default() -> Self {
        Self {
            id: String::new(),
            name: String::new(),
            instance: String::new(),
            remote_node: String::new(),
            target_project: String::new(),
            outgoing: None,
            incoming: None,
            conflicts: None,
            helper_maps: None,
            trigger: vec![],
            plan: vec![],
            remote_connector: None,
            live: None,
            removals: None,
        }
    }
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

/// A config that does not parse: the parser's message, without its trailing newline.
fn parse_error(path: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Parse {
        path: path.to_string(),
        message: e.to_string().trim_end().to_string(),
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
        Self::parse(&Self::read(path)?, &path.display().to_string())
    }

    /// The text of a config file, for [`ProcessConfig::parse`] or
    /// [`ProcessConfig::parse_to_json`].
    pub fn read(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Parses and checks a config; `path` is only used in messages.
    pub fn parse(text: &str, path: &str) -> Result<ProcessConfig, ConfigError> {
        let config: ProcessConfig = toml::from_str(text).map_err(|e| parse_error(path, e))?;
        config.checked(text, path)
    }

    /// Parses and checks the same config written as JSON, the form the Lambda functions
    /// read: they carry no TOML parser (a quarter of a megabyte of their artifact).
    /// [`ProcessConfig::parse_to_json`] writes it from the TOML file.
    pub fn parse_json(text: &str, path: &str) -> Result<ProcessConfig, ConfigError> {
        let config: ProcessConfig = serde_json::from_str(text).map_err(|e| parse_error(path, e))?;
        config.checked(text, path)
    }

    /// Parses and checks a TOML config as [`ProcessConfig::parse`] does, and gives it as
    /// JSON too: the same tables, keys and values, so [`ProcessConfig::parse_json`] reads
    /// it as `parse` reads the TOML.
    pub fn parse_to_json(text: &str, path: &str) -> Result<(ProcessConfig, String), ConfigError> {
        let config = Self::parse(text, path)?;
        let value: toml::Value = toml::from_str(text).map_err(|e| parse_error(path, e))?;
        let json = serde_json::to_string(&value).map_err(|e| parse_error(path, e))?;
        Ok((config, json))
    }

    fn checked(mut self, text: &str, path: &str) -> Result<ProcessConfig, ConfigError> {
        self.check(text, path)?;
        self.find_remote_connectors();
        Ok(self)
    }

    /// Names the other side's tracker on each connection whose other node is in this
    /// file (the same connection id on that node), where the section did not.
    pub fn find_remote_connectors(&mut self) {
        let mut kinds = std::collections::HashMap::new();
        for node in &self.node {
            for c in &node.connection {
                if let Some(inst) = node.instance.iter().find(|i| i.id == c.instance) {
                    kinds.insert((node.id.clone(), c.id.clone()), inst.connector);
                }
            }
        }
        for node in &mut self.node {
            for c in &mut node.connection {
                if c.remote_connector.is_none() {
                    c.remote_connector = kinds.get(&(c.remote_node.clone(), c.id.clone())).copied();
                }
            }
        }
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
webhook_secret = "s3cret-s3cret-s3cret"

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
        assert_eq!(c.node[0].retry_budget_ms(), None);
        let text = GOOD.replace(
            "data_dir = \"data/a\"",
            "data_dir = \"data/a\"\nretry_budget_hours = 1.5",
        );
        let c = ProcessConfig::parse(&text, "node.toml").unwrap();
        assert_eq!(c.node[0].retry_budget_ms(), Some(5_400_000));
        // The removal policy as the README writes it; a misspelt one is refused.
        let with = |policy: &str| {
            format!(
                "{GOOD}\n[node.connection.removals]\npolicy = \"{policy}\"\nclose_status = \"Closed\"\n"
            )
        };
        let c = ProcessConfig::parse(&with("close"), "node.toml").unwrap();
        let removals = c.node[0].connection[0].removals.clone().unwrap();
        assert_eq!(
            (removals.policy, removals.close_status.as_deref()),
            (twinsync_core::RemovalPolicy::Close, Some("Closed"))
        );
        assert!(ProcessConfig::parse(&with("erase"), "node.toml").is_err());
    }

    #[test]
    fn each_side_learns_the_other_trackers_kind_from_the_file() {
        let redmine_node = r#"
[[node]]
id = "node-b"
data_dir = "data/b"

[[node.instance]]
id = "redmine"
connector = "redmine"
base_url = "https://redmine.example.com"
token = "key"
origin_field_id = 3
status_field_id = 4
twin_field_id = 5

[[node.connection]]
id = "demo"
name = "Demo"
instance = "redmine"
remote_node = "node-a"
target_project = "ops"
"#;
        let both = ProcessConfig::parse(&format!("{GOOD}{redmine_node}"), "n.toml").unwrap();
        let kinds: Vec<_> = both
            .node
            .iter()
            .map(|n| n.connection[0].remote_connector)
            .collect();
        assert_eq!(
            kinds,
            [Some(ConnectorKind::Redmine), Some(ConnectorKind::Sandbox)]
        );
        let redmine = &both.node[1].instance[0];
        assert_eq!(
            (redmine.status_field_id, redmine.twin_field_id),
            (Some(4), Some(5))
        );
        // Alone in its file, a side says nothing of the other unless told.
        let alone = ProcessConfig::parse(GOOD, "n.toml").unwrap();
        assert_eq!(alone.node[0].connection[0].remote_connector, None);
        let told = GOOD.replace(
            "target_project = \"DEMO\"",
            "target_project = \"DEMO\"\nremote_connector = \"jira\"",
        );
        let told = ProcessConfig::parse(&told, "n.toml").unwrap();
        assert_eq!(
            told.node[0].connection[0].remote_connector,
            Some(ConnectorKind::Jira)
        );
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
    fn the_admin_listener_and_the_public_url_are_checked() {
        let table = [
            ("admin_listen = \"127.0.0.1:7711\"", None),
            ("admin_listen = \"[::1]:7711\"", None),
            ("admin_listen = \"localhost:7711\"", None),
            (
                "admin_listen = \"0.0.0.0:7711\"",
                Some("node[0].admin_listen"),
            ),
            ("admin_listen = \"[::]:7711\"", Some("admin_allow_remote")),
            (
                "admin_listen = \"0.0.0.0:7711\"\nadmin_allow_remote = true",
                None,
            ),
            ("public_url = \"https://sync.example.com/twinsync\"", None),
            (
                "public_url = \"http://sync.example.com\"",
                Some("plain http"),
            ),
            (
                "public_url = \"http://sync.example.com\"\nallow_http_public_url = true",
                None,
            ),
            ("public_url = \"http://127.0.0.1:7701\"", None),
            ("public_url = \"http://[::1]:7701\"", None),
            ("public_url = \"http://localhost:7701\"", None),
            ("public_url = \"ftp://sync.example.com\"", Some("scheme")),
            ("public_url = \"sync.example.com\"", Some("not a URL")),
            (
                "public_url = \"https://sync.example.com/?a=1\"",
                Some("no query"),
            ),
            ("listen = \"0.0.0.0:7701\"", Some("needs public_url")),
            (
                "listen = \"0.0.0.0:7701\"\npublic_url = \"https://s.example.com\"",
                None,
            ),
        ];
        for (extra, expected) in table {
            let text = GOOD.replace(
                "data_dir = \"data/a\"",
                &format!("data_dir = \"data/a\"\n{extra}"),
            );
            match (ProcessConfig::parse(&text, "node.toml"), expected) {
                (Ok(_), None) => {}
                (Err(e), Some(want)) => {
                    let e = e.to_string();
                    assert!(e.contains(want) && e.contains("line 9"), "{extra}: {e}");
                }
                (got, want) => panic!("{extra}: {:?}, expected {want:?}", got.err()),
            }
        }
    }

    #[test]
    fn errors_name_key_and_line() {
        let table = [
            (
                GOOD.replace("connector = \"sandbox\"", "connector = \"jura\""),
                "unknown variant `jura`, expected one of `sandbox`, `redmine`, `github`, `jira`, `ado`, `servicenow`, `zendesk`, `salesforce`",
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
            (
                GOOD.replace("\"s3cret-s3cret-s3cret\"", "\"s3cret\""),
                "node[0].instance[0].webhook_secret",
                "at least 16 bytes",
            ),
            (
                GOOD.replace(
                    "data_dir = \"data/a\"",
                    "data_dir = \"data/a\"\nretry_budget_hours = 0",
                ),
                "node[0].retry_budget_hours",
                "line 9",
            ),
            (
                GOOD.replace(
                    "data_dir = \"data/a\"",
                    "data_dir = \"data/a\"\nretry_budget_hours = 400",
                ),
                "at most 336 (14 days)",
                "line 9",
            ),
            (
                GOOD.replace(
                    "data_dir = \"data/a\"",
                    "data_dir = \"data/a\"\nmax_replica_bytes = 1000",
                ),
                "node[0].max_replica_bytes",
                "line 9",
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

    const JIRA: &str = r#"
[[node]]
id = "node-j"
data_dir = "data/j"

[[node.instance]]
id = "jira"
connector = "jira"
base_url = "https://example.atlassian.net"
token = "api-token"
[node.instance.jira]
project = "DEMO"
email = "bot@example.com"
"#;

    #[test]
    fn jira_webhooks_need_a_secret_unless_unsigned_is_allowed() {
        let cases = [
            (JIRA.to_string(), Some("allow_unsigned")),
            (
                JIRA.replace(
                    "token = \"api-token\"",
                    "token = \"api-token\"\nwebhook_secret = \"hook\"",
                ),
                None,
            ),
            (format!("{JIRA}allow_unsigned = true\n"), None),
        ];
        for (text, error) in cases {
            match (ProcessConfig::parse(&text, "node.toml"), error) {
                (Ok(_), None) => {}
                (Err(e), Some(says)) => assert!(e.to_string().contains(says), "{e}"),
                (got, want) => panic!("{text}: {got:?}, wanted an error saying {want:?}"),
            }
        }
    }

    const ADO: &str = r#"
[[node]]
id = "node-d"
data_dir = "data/d"

[[node.instance]]
id = "ado"
connector = "ado"
base_url = "https://dev.azure.com/fabrikam"
token = "pat"
webhook_secret = "a-secret-of-16-bytes"
[node.instance.ado]
project = "Fabrikam Fiber"
"#;

    #[test]
    fn ado_instances_need_a_table_a_token_and_a_long_secret() {
        let cases = [
            (ADO.to_string(), None),
            (
                format!("{ADO}oauth = true\nwork_item_type = \"Bug\"\n"),
                None,
            ),
            (
                ADO.replace(
                    "webhook_secret = \"a-secret-of-16-bytes\"",
                    "webhook_secret = \"short\"",
                ),
                Some("at least 16 bytes"),
            ),
            (
                ADO.replace("token = \"pat\"\n", ""),
                Some("an ado instance needs token"),
            ),
            (
                ADO.replace("[node.instance.ado]\nproject = \"Fabrikam Fiber\"\n", ""),
                Some("[ado] table"),
            ),
            (
                format!("{ADO}projct = \"x\"\n"),
                Some("unknown field `projct`"),
            ),
            (
                format!("{ADO}[node.instance.budget]\nrequests_per_minute = 100\nburst = 10\n"),
                Some("[budget] is for sandbox instances"),
            ),
        ];
        for (text, error) in cases {
            match (ProcessConfig::parse(&text, "node.toml"), error) {
                (Ok(_), None) => {}
                (Err(e), Some(says)) => assert!(e.to_string().contains(says), "{e}"),
                (got, want) => panic!("{text}: {got:?}, wanted an error saying {want:?}"),
            }
        }
    }

    const ZENDESK: &str = r#"
[[node]]
id = "node-z"
data_dir = "data/z"

[[node.instance]]
id = "zendesk"
connector = "zendesk"
base_url = "https://acme.zendesk.com"
token = "api-token"
[node.instance.zendesk]
group = "Support"
email = "bot@example.com"
"#;

    #[test]
    fn zendesk_instances_need_a_table_and_a_secret_when_not_registering() {
        let cases = [
            (ZENDESK.to_string(), None),
            (
                ZENDESK.replace(
                    "token = \"api-token\"",
                    "token = \"api-token\"\nregister_webhook = false",
                ),
                Some("signing secret"),
            ),
            (
                ZENDESK.replace(
                    "token = \"api-token\"",
                    "token = \"api-token\"\nregister_webhook = false\nwebhook_secret = \"s\"",
                ),
                None,
            ),
            (
                ZENDESK.replace(
                    "[node.instance.zendesk]\ngroup = \"Support\"\nemail = \"bot@example.com\"\n",
                    "",
                ),
                Some("[zendesk] table"),
            ),
            (format!("{ZENDESK}grop = \"x\"\n"), Some("grop")),
        ];
        for (text, error) in cases {
            match (ProcessConfig::parse(&text, "node.toml"), error) {
                (Ok(_), None) => {}
                (Err(e), Some(says)) => assert!(e.to_string().contains(says), "{e}"),
                (got, want) => panic!("{text}: {got:?}, wanted an error saying {want:?}"),
            }
        }
    }

    const SALESFORCE: &str = r#"
[[node]]
id = "node-s"
data_dir = "data/s"

[[node.instance]]
id = "sf"
connector = "salesforce"
base_url = "https://login.salesforce.com"
webhook_secret = "outbound-secret-32-bytes"
[node.instance.salesforce]
client_id = "3MVG9"
username = "twinsync@acme.com"
private_key_file = "keys/sf.pem"
organization_id = "00D000000000062EAA"
"#;

    #[test]
    fn salesforce_instances_need_a_connected_app_and_a_long_secret() {
        let cases = [
            (SALESFORCE.to_string(), None),
            (
                SALESFORCE
                    .replace("username = \"twinsync@acme.com\"\n", "")
                    .replace("[[node.instance]]", "[[node.instance]]\ntoken = \"5Aep8\""),
                None,
            ),
            (
                SALESFORCE.replace("private_key_file = \"keys/sf.pem\"\n", ""),
                Some("username + private_key_file (JWT bearer) or token"),
            ),
            (
                SALESFORCE.replace("outbound-secret-32-bytes", "short"),
                Some("at least 16 bytes"),
            ),
            (
                format!("{SALESFORCE}origin = \"x\"\n"),
                Some("unknown field `origin`"),
            ),
        ];
        for (text, error) in cases {
            match (ProcessConfig::parse(&text, "node.toml"), error) {
                (Ok(_), None) => {}
                (Err(e), Some(says)) => assert!(e.to_string().contains(says), "{e}"),
                (got, want) => panic!("{text}: {got:?}, wanted an error saying {want:?}"),
            }
        }
    }
}
