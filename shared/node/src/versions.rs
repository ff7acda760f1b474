//! Configuration versions of a connection: save a draft, activate it, roll back to an
//! earlier version, discard a draft, diff two versions, and Test Run one on live items
//! (with the other node's side, see [`crate::preview`]).
//! Each change is a conditional write of the connection, retried after a lost race.

use crate::handlers::annotate;
use crate::handlers::scheduler::parse_cron;
use crate::{Node, NodeError, NodeResult};
use serde::Serialize;
use twinsync_core::{
    ConfigVersion, Connection, CoreError, DryRunReplica, DryRunResult, Item, SyncEventKind,
};
use twinsync_ports::PortError;
use twinsync_rules::{Limits, RuleSet};

/// Changes the connection with `change` and stores it; a lost race reads it again.
pub(crate) async fn change<T>(
    node: &Node,
    connection_id: &str,
    change: impl Fn(&mut Connection) -> Result<T, CoreError>,
) -> NodeResult<T> {
    let changed = change_if(node, connection_id, |c| change(c).map(Some)).await?;
    changed.ok_or_else(|| NodeError::Operation(format!("connection {connection_id} unchanged")))
}

/// The same for a change that may find nothing to do (`None`), which stores nothing.
pub(crate) async fn change_if<T>(
    node: &Node,
    connection_id: &str,
    change: impl Fn(&mut Connection) -> Result<Option<T>, CoreError>,
) -> NodeResult<Option<T>> {
    for _ in 0..8 {
        let mut connection = node.connection(connection_id).await?;
        let Some(out) = change(&mut connection).map_err(NodeError::from_core)? else {
            return Ok(None);
        };
        match node.connections.update(&connection).await {
            Ok(_) => return Ok(Some(out)),
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Conflict(format!("connection {connection_id} is changing too often")).into())
}

/// Saves a draft version of the connection's configuration; returns its number. The
/// scripts must compile, the triggers parse and the plans' cron patterns read.
pub async fn save_draft(
    node: &Node,
    connection_id: &str,
    template: ConfigVersion,
) -> NodeResult<u32> {
    check_version(&template)?;
    let now = node.now_ms();
    change(node, connection_id, |c| {
        Ok(c.add_draft(template.clone(), now))
    })
    .await
}

/// Everything a version must pass before it is saved.
fn check_version(version: &ConfigVersion) -> NodeResult<()> {
    version
        .check()
        .map_err(|e| NodeError::Operation(e.to_string()))?;
    for plan in &version.plans {
        parse_cron(&plan.cron)
            .map_err(|e| NodeError::Operation(format!("plan {}: {e}", plan.id)))?;
    }
    RuleSet::compile(version, Limits::default())?;
    Ok(())
}

/// Makes a draft the active version; the old one is archived.
pub async fn activate_version(node: &Node, connection_id: &str, number: u32) -> NodeResult<()> {
    change(node, connection_id, |c| c.activate(number)).await?;
    note(node, connection_id, format!("version {number} activated")).await;
    Ok(())
}

/// Rollback: an earlier version comes back as a new draft, to be test-run and activated.
pub async fn rollback(node: &Node, connection_id: &str, number: u32) -> NodeResult<u32> {
    let now = node.now_ms();
    let draft = change(node, connection_id, |c| c.rollback(number, now)).await?;
    let detail = format!("version {number} restored as draft {draft}");
    note(node, connection_id, detail).await;
    Ok(draft)
}

/// Discards a draft.
pub async fn discard(node: &Node, connection_id: &str, number: u32) -> NodeResult<()> {
    change(node, connection_id, |c| c.discard(number)).await?;
    note(node, connection_id, format!("draft {number} discarded")).await;
    Ok(())
}

async fn note(node: &Node, connection_id: &str, detail: String) {
    node.event(connection_id, None, SyncEventKind::Operation, detail)
        .await;
}

/// A unified diff of two versions' whole configuration: both scripts, then the maps,
/// conflict policies, triggers and plans as TOML.
pub fn diff(connection: &Connection, from: u32, to: u32) -> NodeResult<String> {
    let text = |number: u32| -> NodeResult<String> {
        let v = connection.version(number).ok_or_else(|| {
            NodeError::NotFound(format!(
                "connection {} has no version {number}",
                connection.id
            ))
        })?;
        Ok(version_text(v))
    };
    let (a, b) = (text(from)?, text(to)?);
    Ok(similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("version {from}"), &format!("version {to}"))
        .to_string())
}

/// A version as the text its diff compares.
fn version_text(v: &ConfigVersion) -> String {
    #[derive(Serialize)]
    struct Settings<'a> {
        helper_maps: &'a twinsync_core::NodeHelperMaps,
        conflicts: &'a twinsync_core::ConflictSettings,
        triggers: &'a [twinsync_core::Trigger],
        plans: &'a [twinsync_core::SyncPlan],
    }
    let settings = Settings {
        helper_maps: &v.helper_maps,
        conflicts: &v.conflicts,
        triggers: &v.triggers,
        plans: &v.plans,
    };
    let settings = toml::to_string_pretty(&settings)
        .or_else(|_| serde_json::to_string_pretty(&settings))
        .unwrap_or_default();
    let script = |s: &str| {
        if s.ends_with('\n') {
            s.to_string()
        } else {
            format!("{s}\n")
        }
    };
    format!(
        "# outgoing.rhai\n{}# incoming.rhai\n{}# settings\n{settings}",
        script(&v.outgoing),
        script(&v.incoming)
    )
}

/// The most items one Test Run takes.
pub const TEST_RUN_MAX: usize = 500;

/// The items a Test Run takes: named, or found by a trigger query.
#[derive(Debug, Clone)]
pub enum TestRunItems {
    Keys(Vec<String>),
    Query(String),
}

/// What a Test Run shows: per item, the trigger of the version that brings it under sync
/// (none: only an item already under sync, or a forced Sync, would be sent), the replica
/// the version would send, and what the other node's active incoming rules would make of
/// it there, field by field against its twin as it is now.
#[derive(Debug, Clone, Serialize)]
pub struct TestRunReport {
    pub version: u32,
    pub other_node: String,
    /// Why the other side is not shown, when it is not (a private node, a node down).
    pub other_side_error: Option<String>,
    pub items: Vec<TestRunItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestRunItem {
    pub item: String,
    pub trigger: Option<String>,
    pub under_sync: bool,
    /// Whether this version would send it: under one of its triggers, or under sync.
    pub would_send: bool,
    pub replica: Option<serde_json::Value>,
    /// Why there is no replica (the item does not exist, a rule failed).
    pub error: Option<String>,
    pub other_side: Option<DryRunResult>,
}

/// Test Run: runs a version (usually a draft) on live items without writing anything:
/// its triggers and outgoing rules here, then the other node's active incoming rules
/// there (a dry run that writes and stores nothing).
pub async fn test_run(
    node: &Node,
    connection_id: &str,
    number: u32,
    which: TestRunItems,
) -> NodeResult<TestRunReport> {
    let connection = node.connection(connection_id).await?;
    let version = connection.version(number).ok_or_else(|| {
        NodeError::NotFound(format!(
            "connection {connection_id} has no version {number}"
        ))
    })?;
    let rules = RuleSet::compile(version, Limits::default())?;
    let mut rows = Vec::new();
    let mut asked = Vec::new();
    for (key, item) in test_run_items(node, &connection, which).await? {
        let twin = node.twins.find_by_local(connection_id, &key).await?;
        let mut row = TestRunItem {
            trigger: item
                .as_ref()
                .and_then(|i| version.trigger_for(i))
                .map(|t| t.id.clone()),
            under_sync: twin.is_some(),
            would_send: false,
            replica: None,
            error: None,
            other_side: None,
            item: key.clone(),
        };
        row.would_send = row.trigger.is_some() || row.under_sync;
        match item.map(|i| rules.outgoing(&annotate(&i, twin.as_ref()))) {
            None => row.error = Some(format!("item {key} does not exist")),
            Some(Err(e)) => row.error = Some(e.to_string()),
            Some(Ok(replica)) => {
                asked.push(DryRunReplica {
                    source_key: key,
                    target_key: twin.and_then(|t| t.remote_key),
                    hub_issue: replica.clone(),
                });
                row.replica = Some(replica);
            }
        }
        rows.push(row);
    }
    let mut other_side_error = None;
    if !asked.is_empty() {
        match crate::preview::ask_peer(node, &connection, asked).await {
            Ok(results) => {
                for result in results {
                    if let Some(row) = rows.iter_mut().find(|r| r.item == result.source_key) {
                        row.other_side = Some(result);
                    }
                }
            }
            Err(e) => other_side_error = Some(e.to_string()),
        }
    }
    Ok(TestRunReport {
        version: number,
        other_node: connection.remote_node.clone(),
        other_side_error,
        items: rows,
    })
}

/// The items a Test Run takes, read fresh: `None` for a named one that does not exist.
async fn test_run_items(
    node: &Node,
    connection: &Connection,
    which: TestRunItems,
) -> NodeResult<Vec<(String, Option<Item>)>> {
    let tracker = node.tracker(&connection.local_instance)?;
    let mut out = Vec::new();
    match which {
        TestRunItems::Keys(keys) => {
            if keys.len() > TEST_RUN_MAX {
                return Err(NodeError::Operation(format!(
                    "a Test Run takes at most {TEST_RUN_MAX} items"
                )));
            }
            for key in keys {
                let item = tracker.get_item(&key).await?;
                out.push((key, item));
            }
        }
        TestRunItems::Query(query) => {
            twinsync_core::Filter::parse(&query)
                .map_err(|e| NodeError::Operation(format!("query: {e}")))?;
            let mut page = None;
            loop {
                let found = tracker.search_updated(&query, 0, page).await?;
                for item in found.items {
                    if out.len() == TEST_RUN_MAX {
                        return Ok(out);
                    }
                    // A search brings the fields; the replica needs comments too.
                    let full = tracker.get_item(&item.key).await?;
                    out.push((item.key, full));
                }
                match found.next {
                    Some(next) => page = Some(next),
                    None => break,
                }
            }
        }
    }
    Ok(out)
}
