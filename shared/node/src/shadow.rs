//! Shadow mode: a draft runs beside the active version on live changes. For each change
//! the outgoing handler sends, the draft's triggers and outgoing rules run too, and where
//! the draft's replica would differ, an event says which fields; the report gathers them
//! per item. The draft writes nothing and sends nothing.

use crate::handlers::annotate;
use crate::{Node, NodeError, NodeResult, versions};
use serde::Serialize;
use std::collections::BTreeMap;
use twinsync_core::{Connection, Item, SyncEventKind, Twin, VersionStatus};
use twinsync_ports::PortError;

/// Puts draft `number` in shadow (another draft in shadow stops).
pub async fn start(node: &Node, connection_id: &str, number: u32) -> NodeResult<()> {
    let now = node.now_ms();
    versions::change(node, connection_id, |c| {
        let Some(draft) = c.version(number) else {
            return Err(twinsync_core::CoreError::Version(number, "no such version"));
        };
        if draft.status != VersionStatus::Draft {
            return Err(twinsync_core::CoreError::Version(
                number,
                "only a draft runs in shadow",
            ));
        }
        for v in &mut c.versions {
            v.shadow_since_ms = (v.number == number).then_some(now);
        }
        Ok(())
    })
    .await?;
    let detail = format!("version {number} runs in shadow");
    node.event(connection_id, None, SyncEventKind::Operation, detail)
        .await;
    Ok(())
}

/// Ends shadow mode; the report stays readable in the events.
pub async fn stop(node: &Node, connection_id: &str) -> NodeResult<()> {
    versions::change(node, connection_id, |c| {
        for v in &mut c.versions {
            v.shadow_since_ms = None;
        }
        Ok(())
    })
    .await?;
    node.event(
        connection_id,
        None,
        SyncEventKind::Operation,
        "shadow mode ended",
    )
    .await;
    Ok(())
}

/// Called by the outgoing handler with the replica the active version sends for `item`:
/// runs the draft in shadow, if any, and records how its replica would differ. A failure
/// of the draft is recorded too; the real send never waits on it.
pub async fn observe(
    node: &Node,
    connection: &Connection,
    item: &Item,
    twin: &Twin,
    active: &serde_json::Value,
) {
    let Some(draft) = connection
        .versions
        .iter()
        .find(|v| v.status == VersionStatus::Draft && v.shadow_since_ms.is_some())
    else {
        return;
    };
    let key = format!("{}#shadow", connection.id);
    let detail = match node.rules.get_or_compile(&key, draft) {
        Err(e) => Some(format!("{}: the draft's rules fail: {e}", item.key)),
        Ok(rules) => match rules.outgoing(&annotate(item, Some(twin))) {
            Err(e) => Some(format!("{}: the draft's rules fail: {e}", item.key)),
            Ok(replica) => {
                let fields = differing(active, &replica);
                let trigger = draft.trigger_for(item).is_some();
                match (fields.is_empty(), trigger || twin.remote_key.is_some()) {
                    (true, true) => None,
                    (_, false) => Some(format!("{}: the draft would not send it", item.key)),
                    (false, true) => Some(format!("{}: {}", item.key, fields.join(", "))),
                }
            }
        },
    };
    if let Some(detail) = detail {
        node.event(
            &connection.id,
            Some(&twin.id),
            SyncEventKind::Shadow,
            format!("v{}: {detail}", draft.number),
        )
        .await;
    }
}

/// The top-level replica fields that differ between two replicas.
fn differing(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(k.as_str()) != b.get(k.as_str()))
        .cloned()
        .collect()
}

/// What a shadow run found so far: per item, the newest difference.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowReport {
    pub version: Option<u32>,
    pub since_ms: Option<i64>,
    /// Item key -> what differs (fields, "would not send it", a rule failure).
    pub items: BTreeMap<String, String>,
}

pub async fn report(node: &Node, connection_id: &str) -> NodeResult<ShadowReport> {
    let connection = node.connection(connection_id).await?;
    let shadow = connection
        .versions
        .iter()
        .find(|v| v.shadow_since_ms.is_some());
    let (version, since_ms) = match shadow {
        Some(v) => (Some(v.number), v.shadow_since_ms),
        None => (None, None),
    };
    let prefix = version.map(|n| format!("v{n}: "));
    let mut items = BTreeMap::new();
    let events = node
        .twins
        .events(Some(connection_id), None, 5_000)
        .await
        .map_err(|e: PortError| NodeError::from(e))?;
    // Newest first: the first line per item wins.
    for e in events
        .iter()
        .filter(|e| e.kind == SyncEventKind::Shadow)
        .filter(|e| since_ms.is_none_or(|s| e.at_ms >= s))
    {
        let Some(rest) = prefix
            .as_ref()
            .and_then(|p| e.detail.strip_prefix(p.as_str()))
        else {
            continue;
        };
        if let Some((item, what)) = rest.split_once(": ") {
            items
                .entry(item.to_string())
                .or_insert_with(|| what.to_string());
        }
    }
    Ok(ShadowReport {
        version,
        since_ms,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replicas_differ_by_their_top_level_fields() {
        let cases = [
            (json!({"a": 1, "b": 2}), json!({"a": 1, "b": 2}), vec![]),
            (json!({"a": 1, "b": 2}), json!({"a": 1, "b": 3}), vec!["b"]),
            (json!({"a": 1}), json!({"a": 1, "c": []}), vec!["c"]),
            (json!({"s": {"name": "x"}}), json!({}), vec!["s"]),
        ];
        for (a, b, want) in cases {
            assert_eq!(differing(&a, &b), want, "{a} {b}");
        }
    }
}
