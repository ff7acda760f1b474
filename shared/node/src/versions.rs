//! Configuration versions of a connection: save a draft, activate it, roll back to an
//! earlier version, discard a draft, diff two versions, and Test Run one on a live item.
//! Each change is a conditional write of the connection, retried after a lost race.

use crate::handlers::annotate;
use crate::handlers::scheduler::parse_cron;
use crate::{Node, NodeError, NodeResult};
use serde::Serialize;
use twinsync_core::{ConfigVersion, Connection, CoreError, Item, SyncEventKind};
use twinsync_ports::PortError;
use twinsync_rules::{IncomingContext, Limits, RuleSet};

/// Changes the connection with `change` and stores it; a lost race reads it again.
async fn change<T>(
    node: &Node,
    connection_id: &str,
    change: impl Fn(&mut Connection) -> Result<T, CoreError>,
) -> NodeResult<T> {
    for _ in 0..8 {
        let mut connection = node.connection(connection_id).await?;
        let out = change(&mut connection).map_err(|e| NodeError::Operation(e.to_string()))?;
        match node.connections.update(&connection).await {
            Ok(_) => return Ok(out),
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
            NodeError::Operation(format!(
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

/// What a Test Run shows: the trigger of the version that brings the item under sync
/// (none: only an item already under sync, or a forced Sync, would be sent), the replica
/// the version would send, and what its incoming rules would make of that replica on an
/// item, with the fields that would change.
#[derive(Debug, Clone, Serialize)]
pub struct TestRunReport {
    pub version: u32,
    pub item: String,
    pub trigger: Option<String>,
    pub under_sync: bool,
    pub replica: serde_json::Value,
    pub incoming_result: Item,
    pub would_change: twinsync_core::ItemUpdate,
}

/// Test Run: runs a version (usually a draft) on a live item without writing anything:
/// its triggers, its outgoing rules, then its incoming rules.
pub async fn test_run(
    node: &Node,
    connection_id: &str,
    number: u32,
    item_key: &str,
) -> NodeResult<TestRunReport> {
    let connection = node.connection(connection_id).await?;
    let version = connection.version(number).ok_or_else(|| {
        NodeError::Operation(format!(
            "connection {connection_id} has no version {number}"
        ))
    })?;
    let rules = RuleSet::compile(version, Limits::default())?;
    let tracker = node.tracker(&connection.local_instance)?;
    let item = tracker
        .get_item(item_key)
        .await?
        .ok_or_else(|| NodeError::Operation(format!("item {item_key} does not exist")))?;
    let twin = node.twins.find_by_local(connection_id, item_key).await?;
    let replica = rules.outgoing(&annotate(&item, twin.as_ref()))?;
    let prefix = Node::origin_prefix(connection_id);
    let links = twin
        .as_ref()
        .map(|t| t.comment_links.clone())
        .unwrap_or_default();
    let incoming_result = rules.incoming(&IncomingContext {
        replica: &replica,
        previous: twin.as_ref().and_then(|t| t.previous.as_ref()),
        issue: &item,
        first_sync: false,
        comment_links: &links,
        origin_prefix: &prefix,
    })?;
    Ok(TestRunReport {
        version: number,
        item: item_key.to_string(),
        trigger: version.trigger_for(&item).map(|t| t.id.clone()),
        under_sync: twin.is_some(),
        would_change: item.update_to(&incoming_result),
        replica,
        incoming_result,
    })
}
