//! Assembling a node from its config section on given ports: its tracker clients (one
//! per instance, by connector), its connections and rule versions, and the webhook
//! subscriptions of its trackers. The local process (twinsync-local) and the Lambda
//! functions (twinsync-lambda) both build their nodes here; neither SQLite nor the sandbox
//! server is needed for it.

use crate::config::{ConnectionSection, NodeSection};
use crate::handlers::arrival::Arrival;
use crate::{Node, NodeError, NodeResult, NodeSettings};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use twinsync_connector_kit::outbound::{self, ClientOptions};
use twinsync_connector_kit::target::Reach;
use twinsync_core::{
    Clock, ConfigVersion, Connection, ConnectionStatus, ConnectorKind, FileChange, SyncPlan,
    Trigger, VersionOrigin,
};
use twinsync_ports::{PortError, Queue};

/// Turns a node's queue into another, e.g. one that injects faults in tests.
pub type QueueDecorator = Arc<dyn Fn(Arc<dyn Queue>) -> Arc<dyn Queue> + Send + Sync>;
pub type TrackerDecorator =
    Arc<dyn Fn(Arc<dyn twinsync_ports::Tracker>) -> Arc<dyn twinsync_ports::Tracker> + Send + Sync>;
/// How to build a node: its settings, its clock, and wrappers around its queue and its
/// tracker clients (tests inject faults this way).
#[derive(Clone)]
pub struct NodeOptions {
    pub node: NodeSettings,
    pub clock: Arc<dyn Clock>,
    pub queue_decorator: Option<QueueDecorator>,
    /// Wraps every tracker client, e.g. to slow it down in a test.
    pub tracker_decorator: Option<TrackerDecorator>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            node: NodeSettings::default(),
            clock: Arc::new(twinsync_core::SystemClock),
            queue_decorator: None,
            tracker_decorator: None,
        }
    }
}

/// A tracker URL from the config: `sandbox:<id>` names a sandbox of this process.
pub fn resolve_url(base_url: &str, sandboxes: &HashMap<String, String>) -> NodeResult<String> {
    match base_url.strip_prefix("sandbox:") {
        Some(id) => sandboxes
            .get(id)
            .cloned()
            .ok_or_else(|| NodeError::config(format!("no sandbox {id}"))),
        None => Ok(base_url.trim_end_matches('/').to_string()),
    }
}

/// Subscribes `node_url`'s `/webhooks/{connector}/{instance}` to each instance of
/// `section` that asks for it (`register_webhook`). Run by the local process at start and
/// by the AWS console, where `node_url` is the ingest function's URL. Records how each
/// instance's changes arrive ([`Arrival`]), which sets how often the scheduler polls it.
pub async fn register_webhooks(
    http: &reqwest::Client,
    node: &Node,
    section: &NodeSection,
    node_url: &str,
    sandbox_urls: &HashMap<String, String>,
) -> NodeResult<()> {
    let node_url = node_url.trim_end_matches('/');
    // The sandbox has a webhook API of its own; other trackers subscribe through their
    // connector.
    for inst in section
        .instance
        .iter()
        .filter(|i| i.register_webhook && i.connector == ConnectorKind::Sandbox)
    {
        let base = resolve_url(&inst.base_url, sandbox_urls)?;
        let hook = format!("{node_url}/webhooks/{}/{}", inst.connector, inst.id);
        let token = inst.token.as_deref();
        match patiently(|| register_webhook(http, &base, token, &hook, &inst.webhook_secret)).await
        {
            Ok(()) => Arrival::Webhooks.record(node, &inst.id).await?,
            // As for the other trackers below: busy or down now is no reason not to start.
            Err(e) if e.is_retryable() => {
                tracing::warn!(instance = %inst.id, %hook, error = %e, "webhook not registered; polling brings the changes until the next start");
                Arrival::Polls.record(node, &inst.id).await?;
            }
            Err(e) => {
                return Err(NodeError::config(format!(
                    "registering the webhook on {base} failed: {e}"
                )));
            }
        }
    }
    for inst in section
        .instance
        .iter()
        .filter(|i| i.register_webhook && i.connector != ConnectorKind::Sandbox)
    {
        let tracker = node.tracker(&inst.id)?;
        let hook = format!("{node_url}/webhooks/{}/{}", inst.connector, inst.id);
        let registered = match patiently(|| tracker.register_webhook(&hook)).await {
            Ok(registered) => registered,
            // A tracker that is busy or down now must not keep the node from starting:
            // polling brings its changes meanwhile. A refusal (bad credentials, no
            // permission) is the operator's to fix, and stops the start.
            Err(e) if e.is_retryable() => {
                tracing::warn!(instance = %inst.id, %hook, error = %e, "webhook not registered; polling brings the changes until the next start");
                false
            }
            Err(e) => return Err(e.into()),
        };
        if registered {
            tracing::info!(instance = %inst.id, %hook, "webhook registered");
            // The scheduler refreshes it where the tracker lets webhooks expire.
            node.connections
                .set_meta(&format!("webhook:{}", inst.id), &hook)
                .await?;
            Arrival::Webhooks.record(node, &inst.id).await?;
        } else {
            Arrival::Polls.record(node, &inst.id).await?;
        }
    }
    // A webhook the operator set up on the tracker may or may not be there (a secret is
    // configured either way), so polling keeps the short interval unless the config
    // says it is there (`webhook_by_hand`).
    for inst in section.instance.iter().filter(|i| !i.register_webhook) {
        let arrival = match inst.webhook_by_hand {
            true => Arrival::Webhooks,
            false => Arrival::Polls,
        };
        arrival.record(node, &inst.id).await?;
    }
    Ok(())
}

async fn register_webhook(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    url: &str,
    secret: &str,
) -> Result<(), PortError> {
    let auth = |r: reqwest::RequestBuilder| match token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let existing: serde_json::Value = answer(auth(http.get(format!("{base}/api/webhooks"))))
        .await?
        .json()
        .await
        .map_err(|e| PortError::Unavailable(e.to_string()))?;
    let list = existing
        .as_array()
        .or_else(|| existing.get("webhooks").and_then(|w| w.as_array()))
        .cloned()
        .unwrap_or_default();
    let known = list
        .iter()
        .any(|w| w.get("url").and_then(|u| u.as_str()) == Some(url));
    // A subscription for the same node path on another address is from an earlier run of
    // this node (it listened elsewhere); deliveries there would only fail.
    let path = url.find("/webhooks/").map(|at| &url[at..]).unwrap_or(url);
    for stale in list.iter().filter(|w| {
        w.get("url")
            .and_then(|u| u.as_str())
            .is_some_and(|u| u != url && u.ends_with(path))
    }) {
        if let Some(id) = stale.get("id").map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        }) {
            let _ = auth(http.delete(format!("{base}/api/webhooks/{id}")))
                .send()
                .await;
        }
    }
    if !known {
        answer(
            auth(http.post(format!("{base}/api/webhooks")))
                .json(&serde_json::json!({ "url": url, "secret": secret })),
        )
        .await?;
    }
    Ok(())
}

/// Sends a request to the sandbox's webhook API; a refusal is an error of its kind: a
/// 429 or a 5xx is retried, anything else is the operator's to fix.
async fn answer(request: reqwest::RequestBuilder) -> Result<reqwest::Response, PortError> {
    let resp = request
        .send()
        .await
        .map_err(|e| PortError::Unavailable(e.to_string()))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    Err(twinsync_sandbox::client::status_error(
        status, &headers, &text,
    ))
}

/// Checks the one-time setup of each tracker of `section` (`Tracker::check_setup`). A
/// tracker that is busy or down now is logged and left to fail its first sync; a
/// missing field or permission is the operator's to fix and stops the start.
pub async fn check_trackers(node: &Node, section: &NodeSection) -> NodeResult<()> {
    for inst in section
        .instance
        .iter()
        .filter(|i| i.connector != ConnectorKind::Sandbox)
    {
        let tracker = node.tracker(&inst.id)?;
        match patiently(|| tracker.check_setup()).await {
            Ok(()) => {}
            Err(e) if e.is_retryable() => {
                tracing::warn!(instance = %inst.id, error = %e, "the tracker's setup could not be checked now");
            }
            Err(e) => {
                return Err(NodeError::config(format!(
                    "instance {}: the tracker's setup is incomplete: {e}",
                    inst.id
                )));
            }
        }
    }
    Ok(())
}

/// Runs `call`, waiting out a few short rate limits or outages.
async fn patiently<T, F, Fut>(call: F) -> Result<T, twinsync_ports::PortError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, twinsync_ports::PortError>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(e) if e.is_retryable() && tries < 4 => {
                tries += 1;
                let wait = e.retry_after_ms().unwrap_or(1_000).min(10_000);
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            other => return other,
        }
    }
}

/// The stores and queues a node runs on: SQLite locally, SQS and DynamoDB on AWS.
pub struct NodePorts {
    pub queue: Arc<dyn Queue>,
    pub twins: Arc<dyn twinsync_ports::TwinStore>,
    pub connections: Arc<dyn twinsync_ports::ConnectionStore>,
}

/// A node of `section` on the given ports: its trackers, and its connections written
/// from the section (a changed rule set becomes a new active version).
pub async fn build_node_on(
    section: &NodeSection,
    base_dir: &Path,
    sandbox_urls: &HashMap<String, String>,
    local_ids: &[&str],
    options: &NodeOptions,
    ports: NodePorts,
) -> NodeResult<Node> {
    let mut queue = ports.queue;
    if let Some(decorate) = &options.queue_decorator {
        queue = decorate(queue);
    }
    let mut node = Node::new(
        section.id.clone(),
        queue,
        ports.twins,
        ports.connections,
        options.clock.clone(),
    );
    node.settings = options.node.clone();
    node.ingest_gate = crate::handlers::ingest::IngestGate::per_minute(
        node.settings.webhooks_per_minute,
        node.settings.webhook_burst,
    );
    // Node-to-node calls trust a peer's private CA only when the section names one. Peers
    // may sit on a private network: the operator named them by accepting an invitation.
    node.http = outbound::client(
        &ClientOptions::with_timeout(std::time::Duration::from_secs(30))
            .ca_file(
                section
                    .ca_file
                    .as_ref()
                    .map(|f| base_dir.join(f))
                    .as_deref(),
            )
            .reach(Reach::PrivateToo),
    )
    .map_err(|e| NodeError::config(format!("node {}: {e}", section.id)))?;
    if let Some(budget) = section.retry_budget_ms() {
        node.settings.retry_budget_ms = budget;
    }
    if let Some(bytes) = section.max_replica_bytes {
        node.settings.max_replica_bytes = bytes;
    }
    for inst in &section.instance {
        let base_url = resolve_url(&inst.base_url, sandbox_urls)?;
        let tracker = crate::trackers::tracker_for(inst, base_url, base_dir)?;
        let tracker = match &options.tracker_decorator {
            Some(decorate) => decorate(tracker),
            None => tracker,
        };
        node = node.with_tracker(tracker);
    }
    for c in &section.connection {
        upsert_connection(
            &node,
            c,
            base_dir,
            local_ids.contains(&c.remote_node.as_str()),
        )
        .await?;
    }
    Ok(node)
}

/// Compiles the rules of `version`, made from `section`: an error names the connection and
/// the rules file it comes from, when the section names one.
pub(crate) fn check_rules(section: &ConnectionSection, version: &ConfigVersion) -> NodeResult<()> {
    twinsync_rules::RuleSet::compile(version, twinsync_rules::Limits::default())
        .map(|_| ())
        .map_err(|e| {
            let file = match e.script() {
                twinsync_rules::Script::Outgoing => section.outgoing.as_ref(),
                twinsync_rules::Script::Incoming => section.incoming.as_ref(),
            };
            let file = file
                .map(|f| format!(" ({})", f.display()))
                .unwrap_or_default();
            NodeError::config(format!("connection {}: {e}{file}", section.id))
        })
}

/// The configuration version a connection section describes: its rules (the defaults
/// for this connector and the other side's, when it names no files), maps (the pair's
/// when it gives none), conflict policies, triggers and plans.
pub fn version_from(
    section: &ConnectionSection,
    base_dir: &Path,
    connector: ConnectorKind,
) -> NodeResult<ConfigVersion> {
    let read = |p: &Path| {
        std::fs::read_to_string(base_dir.join(p)).map_err(|e| {
            NodeError::config(format!(
                "connection {}: cannot read {}: {e}",
                section.id,
                p.display()
            ))
        })
    };
    let defaults = match section.remote_connector {
        Some(remote) => twinsync_rules::defaults::for_pair(connector, remote),
        None => twinsync_rules::defaults::for_connector(connector),
    };
    Ok(ConfigVersion {
        outgoing: match &section.outgoing {
            Some(p) => read(p)?,
            None => defaults.outgoing.clone(),
        },
        incoming: match &section.incoming {
            Some(p) => read(p)?,
            None => defaults.incoming.clone(),
        },
        helper_maps: section
            .helper_maps
            .clone()
            .unwrap_or_else(|| defaults.helper_maps.clone()),
        conflicts: section.conflicts.clone().unwrap_or_default(),
        triggers: triggers_of(section),
        plans: plans_of(section),
        live: section.live.unwrap_or(true),
        removals: section.removals.clone().unwrap_or_default(),
        origin: VersionOrigin::File,
        ..defaults
    })
}

fn triggers_of(section: &ConnectionSection) -> Vec<Trigger> {
    section
        .trigger
        .iter()
        .enumerate()
        .map(|(i, t)| Trigger {
            id: t.id.clone().unwrap_or_else(|| format!("t{}", i + 1)),
            query: t.query.clone(),
            active: true,
        })
        .collect()
}

fn plans_of(section: &ConnectionSection) -> Vec<SyncPlan> {
    section
        .plan
        .iter()
        .enumerate()
        .map(|(i, p)| SyncPlan {
            id: p.id.clone().unwrap_or_else(|| format!("p{}", i + 1)),
            cron: p.cron.clone(),
            active: true,
        })
        .collect()
}

/// Creates the connection from the config, or brings it in line: a changed
/// configuration (rules, maps, policies, triggers or plans) becomes a new active
/// version, the old one archived, unless a version was activated through the API since
/// the file was last read: then the file's becomes a draft ([`Connection::file_change`]).
async fn upsert_connection(
    node: &Node,
    section: &ConnectionSection,
    base_dir: &Path,
    remote_is_local: bool,
) -> NodeResult<()> {
    let connector = node.tracker(&section.instance)?.kind();
    let version = version_from(section, base_dir, connector)?;
    // Rules are compiled when a version is stored, and lazily per version when used: a
    // start that finds the config as stored compiles nothing.
    let check_rules = |version: &ConfigVersion| check_rules(section, version);
    let now = node.now_ms();
    match node.connections.get(&section.id).await? {
        None => {
            check_rules(&version)?;
            let mut connection = Connection {
                id: section.id.clone(),
                name: section.name.clone(),
                local_node: node.id.clone(),
                remote_node: section.remote_node.clone(),
                local_instance: section.instance.clone(),
                target_project: section.target_project.clone(),
                // Nodes of one process accept each other; others wait for an invitation.
                status: if remote_is_local {
                    ConnectionStatus::Active
                } else {
                    ConnectionStatus::Pending
                },
                status_reason: None,
                versions: vec![],
                link: None,
                revision: 0,
                updated_ms: now,
            };
            let number = connection.add_draft(version, now);
            connection
                .activate(number)
                .map_err(|e| NodeError::config(e.to_string()))?;
            node.connections.insert(&connection).await?;
        }
        Some(stored) => {
            let mut connection = stored.clone();
            connection.name = section.name.clone();
            connection.target_project = section.target_project.clone();
            connection.local_instance = section.instance.clone();
            let change = connection.file_change(&version);
            if change == FileChange::None && connection == stored {
                // A cold start of a function finds what the last one wrote: no write.
                return Ok(());
            }
            if change != FileChange::None {
                check_rules(&version)?;
            }
            match change {
                FileChange::None => {}
                FileChange::Activate => {
                    let number = connection.add_draft(version, now);
                    connection
                        .activate(number)
                        .map_err(|e| NodeError::config(e.to_string()))?;
                }
                FileChange::Draft { active } => {
                    let number = connection.add_draft(version, now);
                    tracing::warn!(connection = %section.id, draft = number, active, "the config file's configuration changed since a version was activated through the API: it is saved as a draft, and the active version stays in force (activate the draft to use the file)");
                }
            }
            connection.updated_ms = now;
            node.connections.update(&connection).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use twinsync_rules::defaults;

    #[test]
    fn a_config_connection_takes_its_pairs_defaults() {
        use ConnectorKind::{Github, Jira};
        let cases = [
            (Some(Github), defaults::for_pair(Jira, Github)),
            (None, defaults::for_connector(Jira)),
        ];
        for (remote, want) in cases {
            let section = ConnectionSection {
                id: "c".into(),
                remote_connector: remote,
                ..Default::default()
            };
            let v = version_from(&section, Path::new("."), Jira).unwrap();
            assert_eq!(
                (v.outgoing, v.incoming, v.helper_maps),
                (want.outgoing, want.incoming, want.helper_maps),
                "{remote:?}"
            );
        }
    }
}
