//! The diff of two replicas of a pair's history, named by their ids.

use super::views::{HistoryEntry, find};
use crate::{Node, NodeError, NodeResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twinsync_core::{FieldDiff, replica_diff};
use twinsync_ports::REPLICA_HISTORY;
use utoipa::{IntoParams, ToSchema};

/// Two replicas of a pair's history to compare, by their ids (`HistoryEntry::id`).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The older side of the diff: a history entry's id, `out-3` or `in-7`.
    #[param(max_length = 40, pattern = "^(out|in)-[0-9]{1,19}$", example = "out-1")]
    pub from: String,
    /// The newer side, the same way.
    #[param(max_length = 40, pattern = "^(out|in)-[0-9]{1,19}$", example = "out-2")]
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplicaDiff {
    pub from: HistoryEntry,
    pub to: HistoryEntry,
    #[schema(value_type = Value)]
    pub from_replica: Value,
    #[schema(value_type = Value)]
    pub to_replica: Value,
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<FieldDiff>,
}

/// The fields that differ between two replicas of the pair's history (sent or received,
/// in any order).
pub async fn diff(node: &Node, twin_id: &str, p: &DiffParams) -> NodeResult<ReplicaDiff> {
    let (from, to) = (history_id(&p.from)?, history_id(&p.to)?);
    find(node, twin_id).await?;
    let replicas = node.twins.replicas(twin_id).await?;
    // Newest first: a history kept before the ring may hold a version twice.
    let pick = |(direction, version): (&str, u64)| {
        replicas
            .iter()
            .rev()
            .find(|r| r.direction == direction && r.version == version)
            .ok_or_else(|| {
                NodeError::NotFound(format!(
                    "twin {twin_id} keeps no replica {direction}-{version}: its history holds \
                     the newest {REPLICA_HISTORY} sent and {REPLICA_HISTORY} received"
                ))
            })
    };
    let (a, b) = (pick(from)?, pick(to)?);
    Ok(ReplicaDiff {
        changes: replica_diff(&a.replica, &b.replica),
        from: HistoryEntry::of(a),
        to: HistoryEntry::of(b),
        from_replica: a.replica.clone(),
        to_replica: b.replica.clone(),
    })
}

/// The direction and version a history entry's id names.
fn history_id(id: &str) -> NodeResult<(&str, u64)> {
    let bad = || {
        NodeError::Operation(format!(
            "{id:?} is not a replica of a history: write `out-3` or `in-7`"
        ))
    };
    let (direction, version) = id.split_once('-').ok_or_else(bad)?;
    match (direction, version.parse::<u64>()) {
        ("out" | "in", Ok(version)) => Ok((direction, version)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_ids_name_a_direction_and_a_version() {
        let cases: [(&str, Option<(&str, u64)>); 8] = [
            ("out-3", Some(("out", 3))),
            ("in-70", Some(("in", 70))),
            ("out-0", Some(("out", 0))),
            ("3", None),
            ("sideways-3", None),
            ("out-", None),
            ("out--3", None),
            ("in-3-4", None),
        ];
        for (id, want) in cases {
            match (history_id(id), want) {
                (Ok(got), Some(want)) => assert_eq!(got, want, "{id}"),
                (Err(e), None) => assert!(e.to_string().contains("out-3"), "{id}: {e}"),
                (got, want) => panic!("{id}: {got:?}, wanted {want:?}"),
            }
        }
    }
}
