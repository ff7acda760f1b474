//! The node config file (TOML): sandbox trackers to start, nodes, their tracker
//! instances, connections, triggers and rules files. One file can hold several nodes;
//! nodes in the same process reach each other without a network hop.
//!
//! A config error names the key and, where it can, the line.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use twinsync_core::{
    ConflictSettings, ConnectorKind, Filter, MAX_MAX_TRANSPORT_BODY, MIN_MAX_TRANSPORT_BODY,
    NodeHelperMaps,
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
    #[serde(default = "default_poll")]
    pub poll_interval_ms: i64,
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
    /// Which kind of tracker: sandbox, redmine, github, jira or zendesk.
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
    /// Zendesk Support: the default group, the account and the budgets.
    #[serde(default)]
    pub zendesk: Option<ZendeskSection>,
    /// PEM certificates trusted besides the platform's roots, for a tracker behind a
    /// private CA (self-hosted Redmine or Jira Data Center); relative to the config file.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
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
            project: None,
            tracker: None,
            text_formatting: None,
            register_webhook: true,
            github: None,
            jira: None,
            zendesk: None,
            ca_file: None,
        }
    }
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
    /// Take unsigned webhook deliveries (registered by an OAuth app) as change signals.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// A "Short text" custom field (id or name) holding a searchable token of each
    /// issue's origin, so issues are found again at any age; without it, only among
    /// those this account created in the last `origin_lookback_minutes`.
    #[serde(default)]
    pub origin_field: Option<String>,
    #[serde(default)]
    pub origin_lookback_minutes: Option<u32>,
}

/// A Zendesk Support instance: the instance's `token` is the API token (with `email`)
/// or, without `email`, an OAuth access token. `webhook_secret` is the webhook's signing
/// secret; left empty, the node reads it when it registers the webhook at start.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskSection {
    /// The group (by name) new tickets go to when a connection names none.
    #[serde(default)]
    pub group: String,
    pub email: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub burst: Option<u32>,
    /// The incremental export's own budget (Zendesk allows 10 a minute).
    pub export_per_minute: Option<u32>,
    pub attachment_max_bytes: Option<u64>,
    /// Comments from the other side become public replies instead of internal notes.
    #[serde(default)]
    pub public_replies: bool,
    /// A text ticket field (by title) that shows the sync state and the twin's link.
    #[serde(default)]
    pub sync_field: Option<String>,
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
    /// The other node's tracker (`jira`, `github`, ...), for the pair's default rules and
    /// maps; found by itself when the other node is in the same file.
    #[serde(default)]
    pub remote_connector: Option<ConnectorKind>,
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

/// Whether a `public_url` may be plain http on a non-loopback host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpPublicUrl {
    Refused,
    Allowed,
}

impl HttpPublicUrl {
    /// From the config's `allow_http_public_url`.
    pub fn from_setting(allow: bool) -> HttpPublicUrl {
        if allow {
            HttpPublicUrl::Allowed
        } else {
            HttpPublicUrl::Refused
        }
    }
}

/// Checks a public URL: an absolute https URL, or http on a loopback host (or anywhere
/// when `http` allows it). An invitation carries it, and the other node signs its
/// requests to it, but only TLS keeps their bodies private.
pub fn check_public_url(url: &str, http: HttpPublicUrl) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{url:?} names no host"))?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!("{url:?}: a public URL has no query or fragment"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback || http == HttpPublicUrl::Allowed => Ok(()),
        "http" => Err(format!(
            "{url:?} is plain http on a host other nodes reach over the network; use https \
             (or set allow_http_public_url = true on a network you trust)"
        )),
        other => Err(format!("{url:?}: the scheme must be https, not {other}")),
    }
}

/// A literal address that is not loopback (a host name is checked when it is bound).
fn open_address(listen: &str) -> Option<std::net::SocketAddr> {
    listen
        .parse::<std::net::SocketAddr>()
        .ok()
        .filter(|a| !a.ip().is_loopback())
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
        let mut config = config;
        config.find_remote_connectors();
        Ok(config)
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
            if let Err((key, needle, message)) = node.check_network() {
                return Err(invalid(format!("node[{n}].{key}"), &needle, message));
            }
            if let Some(hours) = node.retry_budget_hours
                && !(hours > 0.0 && hours <= MAX_RETRY_BUDGET_HOURS)
            {
                return Err(invalid(
                    format!("node[{n}].retry_budget_hours"),
                    "retry_budget_hours",
                    format!("must be more than 0 and at most {MAX_RETRY_BUDGET_HOURS} (14 days)"),
                ));
            }
            if let Some(bytes) = node.max_replica_bytes
                && !(MIN_MAX_TRANSPORT_BODY..=MAX_MAX_TRANSPORT_BODY).contains(&bytes)
            {
                return Err(invalid(
                    format!("node[{n}].max_replica_bytes"),
                    "max_replica_bytes",
                    format!(
                        "must be from {MIN_MAX_TRANSPORT_BODY} (64 KiB) to {MAX_MAX_TRANSPORT_BODY} (64 MiB)"
                    ),
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
                if inst.connector == ConnectorKind::Zendesk
                    && (inst.zendesk.is_none() || inst.token.is_none())
                {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}]"),
                        &inst.id,
                        "a zendesk instance needs token (API token with [zendesk] email, or an OAuth token) and a [zendesk] table".into(),
                    ));
                }
                if let Some(problem) = webhook_problem(inst) {
                    return Err(invalid(
                        format!("node[{n}].instance[{i}].webhook_secret"),
                        &inst.id,
                        problem.into(),
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

impl NodeSection {
    /// The listeners and the public URL: the admin API on loopback unless allowed, a
    /// public URL that is https (or http where it may be), and one at all when the public
    /// listener is not on loopback. An error is (key, text to find its line by, message).
    fn check_network(&self) -> Result<(), (String, String, String)> {
        if let Some(open) = open_address(&self.admin_listen)
            && !self.admin_allow_remote
        {
            return Err((
                "admin_listen".into(),
                self.admin_listen.clone(),
                format!(
                    "{open} is not a loopback address; the admin API controls the node, so it \
                     listens on loopback unless admin_allow_remote = true"
                ),
            ));
        }
        match &self.public_url {
            Some(url) => {
                check_public_url(url, HttpPublicUrl::from_setting(self.allow_http_public_url))
                    .map_err(|m| ("public_url".into(), url.clone(), m))
            }
            None => match open_address(&self.listen) {
                Some(open) => Err((
                    "public_url".into(),
                    self.listen.clone(),
                    format!(
                        "a node listening on {open} needs public_url, the https URL other \
                         nodes and trackers reach it at"
                    ),
                )),
                None => Ok(()),
            },
        }
    }
}

/// What is wrong with how an instance's webhooks are authenticated, if anything.
fn webhook_problem(inst: &InstanceSection) -> Option<&'static str> {
    match inst.connector {
        ConnectorKind::Sandbox
            if inst.webhook_secret.len() < twinsync_sandbox::MIN_WEBHOOK_SECRET =>
        {
            Some("a sandbox webhook_secret needs at least 16 bytes: a short one can be guessed")
        }
        ConnectorKind::Jira
            if inst.webhook_secret.is_empty()
                && !inst.jira.as_ref().is_some_and(|j| j.allow_unsigned) =>
        {
            Some(
                "a jira instance needs webhook_secret (the admin webhook's secret), or \
                 [jira] allow_unsigned = true to take unsigned deliveries as signals",
            )
        }
        // Without a registration at start, nothing tells the node the signing secret.
        ConnectorKind::Zendesk if inst.webhook_secret.is_empty() && !inst.register_webhook => Some(
            "a zendesk instance that does not register its webhook needs webhook_secret \
                 (the webhook's signing secret)",
        ),
        _ => None,
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
                "unknown variant `jura`, expected one of `sandbox`, `redmine`, `github`, `jira`, `zendesk`",
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
}
