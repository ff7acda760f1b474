//! What the Item Sync Monitor shows, as JSON the page's script renders: the overview
//! (connections, errors, jobs, queues), the search, one sync pair with its history, a
//! diff between two replicas, and the dead letters. Every view is read-only; the page's
//! buttons call the operations API.

use crate::router::scope::Scope;
use crate::{Node, NodeError, NodeResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use twinsync_core::{Job, SyncEvent, Twin, TwinStatus};
use twinsync_ports::{
    QueueDepth, REPLICA_HISTORY, ReplicaRecord, TwinCursor, TwinOrder, TwinQuery, queues,
};
use utoipa::{IntoParams, ToSchema};

/// A page of the search holds at most this many twins.
pub const MAX_PAGE: usize = 200;

/// One twin as a row of the search and the error list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwinRow {
    pub id: String,
    pub connection_id: String,
    pub local_key: Option<String>,
    pub local_url: Option<String>,
    pub remote_key: Option<String>,
    pub remote_url: Option<String>,
    /// syncing, synced, error or unlinked.
    pub status: String,
    /// Why, when the status is error.
    pub error: Option<String>,
    pub summary: Option<String>,
    pub out_version: u64,
    pub acked_version: u64,
    pub in_version: u64,
    pub updated_ms: i64,
}

impl TwinRow {
    pub fn of(t: &Twin) -> Self {
        Self {
            id: t.id.clone(),
            connection_id: t.connection_id.clone(),
            local_key: t.local_key.clone(),
            local_url: t.local_url.clone(),
            remote_key: t.remote_key.clone(),
            remote_url: t.remote_url.clone(),
            status: t.status.label().to_string(),
            error: match &t.status {
                TwinStatus::Error(why) => Some(why.clone()),
                _ => None,
            },
            summary: t.summary().map(str::to_string),
            out_version: t.out_version,
            acked_version: t.acked_version,
            in_version: t.in_version,
            updated_ms: t.updated_ms,
        }
    }
}

/// The search: text is a key's prefix or part of a summary or error.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// A key's prefix, or text in the summary or the error (any case).
    pub q: Option<String>,
    pub connection: Option<String>,
    #[param(inline)]
    pub status: Option<StatusFilter>,
    /// The `next` of the page before.
    #[param(pattern = r"^[0-9]{1,15}\..*$")]
    pub cursor: Option<String>,
    /// Twins per page, 1 to 200 (50 when not given).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

/// A page of twins, newest first, and the cursor of the next page if there is one.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    pub twins: Vec<TwinRow>,
    pub next: Option<String>,
}

/// A twin status to filter by.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    Syncing,
    Synced,
    Error,
    Unlinked,
}

impl StatusFilter {
    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::Syncing => "syncing",
            StatusFilter::Synced => "synced",
            StatusFilter::Error => "error",
            StatusFilter::Unlinked => "unlinked",
        }
    }
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// One page of the search. A page costs the same however deep it is: it starts from the
/// cursor, not from an offset.
pub async fn search(node: &Node, scope: &Scope, p: &SearchParams) -> NodeResult<SearchPage> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(NodeError::Operation(format!(
            "limit must be 1 to {MAX_PAGE}, not {limit}"
        )));
    }
    let status = p.status.map(|s| s.label().to_string());
    let after = match p.cursor.as_deref() {
        Some(token) => Some(TwinCursor::parse(token).ok_or_else(|| {
            NodeError::Operation(format!("{token:?} is not a cursor this node gave"))
        })?),
        None => None,
    };
    let mut twins = node
        .twins
        .list(&TwinQuery {
            connection_id: given(&p.connection),
            within: scope.within(),
            status,
            text: given(&p.q),
            order: TwinOrder::Newest,
            after,
            limit: limit + 1,
            ..TwinQuery::default()
        })
        .await?;
    let more = twins.len() > limit;
    twins.truncate(limit);
    let next = more
        .then(|| twins.last().map(|t| TwinCursor::of(t).token()))
        .flatten();
    Ok(SearchPage {
        twins: twins.iter().map(TwinRow::of).collect(),
        next,
    })
}

/// A connection as the overview lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub local_instance: String,
    pub remote_node: String,
    pub active_version: Option<u32>,
    pub versions: Vec<VersionRow>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionRow {
    pub number: u32,
    /// Draft, Active or Archived.
    pub status: String,
    pub note: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueRow {
    pub name: String,
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

/// The monitor's first page: every connection, the newest errors, the bulk jobs and the
/// queues.
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub node: String,
    pub now_ms: i64,
    pub connections: Vec<ConnectionRow>,
    /// The newest twins in error (at most 20).
    pub errors: Vec<TwinRow>,
    /// Bulk jobs, newest first, with their progress.
    #[schema(value_type = Vec<Object>)]
    pub jobs: Vec<Job>,
    pub queues: Vec<QueueRow>,
    /// Workspaces with their integrations' items under sync against their capacity.
    pub workspaces: Vec<crate::workspaces::WorkspaceView>,
}

pub async fn overview(node: &Node, scope: &Scope) -> NodeResult<Overview> {
    let connections = node
        .connections
        .list()
        .await?
        .iter()
        .filter(|c| scope.sees(&c.id))
        .map(|c| ConnectionRow {
            id: c.id.clone(),
            name: c.name.clone(),
            status: c.status.as_str().to_string(),
            status_reason: c.status_reason.clone(),
            local_instance: c.local_instance.clone(),
            remote_node: c.remote_node.clone(),
            active_version: c.active_version().map(|v| v.number),
            versions: c
                .versions
                .iter()
                .map(|v| VersionRow {
                    number: v.number,
                    status: format!("{:?}", v.status),
                    note: v.note.clone(),
                })
                .collect(),
        })
        .collect();
    let errors = node
        .twins
        .list(&TwinQuery {
            status: Some("error".into()),
            within: scope.within(),
            order: TwinOrder::Newest,
            limit: 20,
            ..TwinQuery::default()
        })
        .await?;
    let mut queues = Vec::new();
    for name in node.queue.queue_names().await? {
        let QueueDepth {
            visible,
            in_flight,
            delayed,
        } = node.queue.depth(&name).await?;
        queues.push(QueueRow {
            name,
            visible,
            in_flight,
            delayed,
        });
    }
    Ok(Overview {
        node: node.id.clone(),
        now_ms: node.now_ms(),
        connections,
        errors: errors.iter().map(TwinRow::of).collect(),
        jobs: crate::jobs::list(node, None)
            .await?
            .into_iter()
            .filter(|j| scope.sees(&j.connection_id))
            .collect(),
        queues,
        workspaces: crate::workspaces::view(node, scope).await?,
    })
}

/// One line of a pair's field-by-field comparison: what this side last sent and what the
/// other side last sent, each in its own rules' words.
#[derive(Debug, Serialize, ToSchema)]
pub struct PairField {
    pub field: String,
    /// Any JSON value, as the rules wrote it (`null` when this side does not share it).
    #[schema(value_type = Value)]
    pub here: Value,
    #[schema(value_type = Value)]
    pub there: Value,
    pub same: bool,
}

/// One replica in a pair's history: its id (for the diff), direction and version.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    /// `{direction}-{version}` (`out-3`): names the replica for the diff wherever it moves
    /// in the history, which moves up by one as a replica comes once it is full.
    pub id: String,
    /// "out": sent by this node; "in": received and applied here.
    pub direction: String,
    pub version: u64,
    pub at_ms: i64,
}

impl HistoryEntry {
    pub(super) fn of(r: &ReplicaRecord) -> Self {
        HistoryEntry {
            id: format!("{}-{}", r.direction, r.version),
            direction: r.direction.clone(),
            version: r.version,
            at_ms: r.at_ms,
        }
    }
}

/// A sync pair: both items, field by field, the history and the timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct PairView {
    pub twin: TwinRow,
    pub connection_name: String,
    pub local_instance: String,
    pub remote_node: String,
    /// The local item as the tracker has it now (`null` when it could not be read).
    #[schema(value_type = Option<Object>)]
    pub local_item: Option<twinsync_core::Item>,
    /// Why the local item could not be read.
    pub local_error: Option<String>,
    pub fields: Vec<PairField>,
    pub history: Vec<HistoryEntry>,
    /// How many replicas of each direction the history keeps: the newest.
    pub history_limit: u64,
    /// The pair's events, newest first.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<SyncEvent>,
}

pub async fn pair(node: &Node, twin_id: &str) -> NodeResult<PairView> {
    let twin = find(node, twin_id).await?;
    let connection = node.connection(&twin.connection_id).await?;
    let (local_item, local_error) = match &twin.local_key {
        Some(key) => match node
            .tracker(&connection.local_instance)?
            .get_item(key)
            .await
        {
            Ok(Some(item)) => (Some(item), None),
            Ok(None) => (None, Some(format!("{key} is gone from the tracker"))),
            Err(e) => (None, Some(e.to_string())),
        },
        None => (None, Some("the item is not made yet".into())),
    };
    let replicas = node.twins.replicas(twin_id).await?;
    let history = replicas.iter().map(HistoryEntry::of).collect();
    let events = node.timeline(&twin, 200).await?;
    Ok(PairView {
        fields: side_by_side(twin.baseline.as_ref(), twin.previous.as_ref()),
        twin: TwinRow::of(&twin),
        connection_name: connection.name,
        local_instance: connection.local_instance,
        remote_node: connection.remote_node,
        local_item,
        local_error,
        history,
        history_limit: REPLICA_HISTORY,
        events,
    })
}

/// Every field either replica names, with both values.
fn side_by_side(here: Option<&Value>, there: Option<&Value>) -> Vec<PairField> {
    let empty = serde_json::Map::new();
    let a = here.and_then(Value::as_object).unwrap_or(&empty);
    let b = there.and_then(Value::as_object).unwrap_or(&empty);
    let names: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names
        .into_iter()
        .map(|name| {
            let here = a.get(name).cloned().unwrap_or(Value::Null);
            let there = b.get(name).cloned().unwrap_or(Value::Null);
            PairField {
                field: name.clone(),
                same: here == there,
                here,
                there,
            }
        })
        .collect()
}

pub(super) async fn find(node: &Node, twin_id: &str) -> NodeResult<Twin> {
    node.twins
        .get(twin_id)
        .await?
        .ok_or_else(|| NodeError::NotFound(format!("no twin {twin_id}")))
}

/// What Retry did: dead-lettered messages of the pair sent back, or, with none, a fresh
/// sync of the item queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Retried {
    pub redriven: u64,
    pub queued: usize,
}

/// Retry an errored pair: its dead letters go back to their queues in order; a pair with
/// none (the other side refused its last replica) has its item sent again.
pub async fn retry(node: &Node, twin_id: &str) -> NodeResult<Retried> {
    let twin = find(node, twin_id).await?;
    let redriven = crate::dead_letters::redrive_twin(node, &twin).await?;
    let queued = match (&twin.local_key, redriven) {
        (Some(key), 0) => {
            crate::dead_letters::change_twin(node, twin.clone(), |t, now| t.prepare_retry(now))
                .await?;
            crate::bulk::sync(node, &twin.connection_id, key).await?
        }
        _ => 0,
    };
    Ok(Retried { redriven, queued })
}

/// A message in a dead-letter queue, and the pair it is about where one is known.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetter {
    /// The queue it gave up in (its dead-letter queue is `{queue}-dlq`).
    pub queue: String,
    pub id: String,
    pub connection_id: String,
    /// The item key its message group names.
    pub item_key: String,
    pub sent_ms: i64,
    pub twin_id: Option<String>,
    /// The pair's error, which says why the message gave up.
    pub reason: Option<String>,
}

/// The dead letters of every handled queue, up to `limit` per queue.
pub async fn dead_letters(node: &Node, limit: usize) -> NodeResult<Vec<DeadLetter>> {
    let mut out = Vec::new();
    for queue in crate::dead_letters::REDRIVEN_QUEUES {
        for m in node.queue.peek(&queues::dlq(queue), limit).await? {
            let (connection_id, item_key) = m
                .group_id
                .split_once(':')
                .map(|(c, k)| (c.to_string(), k.to_string()))
                .unwrap_or_else(|| (String::new(), m.group_id.clone()));
            let twin = match node.twins.find_by_local(&connection_id, &item_key).await? {
                Some(t) => Some(t),
                None => node.twins.find_by_remote(&connection_id, &item_key).await?,
            };
            out.push(DeadLetter {
                queue: queue.to_string(),
                id: m.id,
                connection_id,
                item_key,
                sent_ms: m.sent_ms,
                reason: twin.as_ref().and_then(|t| TwinRow::of(t).error),
                twin_id: twin.map(|t| t.id),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn side_by_side_lists_every_field_of_either_replica() {
        let here = json!({"summary": "a", "labels": ["x"]});
        let there = json!({"summary": "a", "status": {"name": "Open"}});
        let rows = side_by_side(Some(&here), Some(&there));
        let got: Vec<(&str, bool)> = rows.iter().map(|r| (r.field.as_str(), r.same)).collect();
        assert_eq!(
            got,
            vec![("labels", false), ("status", false), ("summary", true)]
        );
        assert!(side_by_side(None, None).is_empty());
    }
}
