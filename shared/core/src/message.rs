//! The messages that move between the handlers and between nodes.

use crate::matching::MatchOn;
use crate::twin::CommentLink;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tracker said an item changed (by webhook or poll), or an operator asked for a sync.
/// It is a signal: the outgoing handler reads the item fresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub connection_id: String,
    pub instance: String,
    pub item_key: String,
    pub observed_version: u64,
    pub delivery_id: String,
    /// Set by the Sync operation: bring the item under sync even if no trigger matches.
    #[serde(default)]
    pub force: bool,
    /// Follows the change through both nodes' logs: the replica and its ack carry it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trace_id: String,
    /// The item's origin marker, where the tracker's notification carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The twin record ingest found for the item, if any: outgoing reads it by id (one
    /// read instead of two) while it still holds the item's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twin_id: Option<String>,
}

impl ChangeEvent {
    /// FIFO group: one per connection and item, so changes to an item stay in order.
    pub fn group_id(&self) -> String {
        format!("{}:{}", self.connection_id, self.item_key)
    }
}

/// A replica on its way to the other node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaMessage {
    pub connection_id: String,
    pub from_node: String,
    /// The item's key on the sending side.
    pub source_key: String,
    pub source_url: String,
    /// The twin's key on the receiving side, when the sender knows it.
    pub target_key: Option<String>,
    /// Per-twin replica version, strictly increasing for one `source_twin`.
    pub version: u64,
    /// The sender's twin record. Its ids are time-ordered (UUIDv7): a larger one is a new
    /// record for the same item, whose versions start again at 1.
    #[serde(default)]
    pub source_twin: String,
    /// The hubIssue the outgoing rules built.
    pub hub_issue: Value,
    /// When the source item was last updated, for newest-wins conflicts.
    pub source_updated_ms: i64,
    pub sent_ms: i64,
    pub trace_id: String,
    /// How many of our replicas the sender had applied when it built this one (its
    /// twin's `in_version`). 0 from a sender that has sent us something: the two first
    /// replicas of a pair crossed (both sides relinked it). `None` from older senders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_in: Option<u64>,
    /// Which of our twin records `applied_in` counts on (the sender twin's
    /// `remote_twin`). Counts restart with each record: a count on a record we have
    /// replaced (a Relink here, a wiped store) says nothing of the sends of the record
    /// that receives it. `None` from older senders, or while the sender knows no record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_twin: Option<String>,
}

/// The receiver's answer to a replica. `error` set makes it a negative ack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckMessage {
    pub connection_id: String,
    pub from_node: String,
    /// The replica's source key (the key on the node receiving this ack).
    pub source_key: String,
    /// The twin's key on the acking side.
    pub target_key: Option<String>,
    pub target_url: Option<String>,
    pub applied_version: u64,
    /// The replica's `source_twin`: which of our twin records that version counts on.
    #[serde(default)]
    pub source_twin: String,
    /// Links from the acker's point of view: local = acker's comment, remote = ours.
    pub comment_links: Vec<CommentLink>,
    /// The acker's outgoing replica of its item after the apply: what we now know it has.
    pub remote_view: Option<Value>,
    /// The acker's own replica counter when it built `remote_view`.
    pub remote_out_version: u64,
    pub error: Option<String>,
    /// The acker's twin record: we know it before its first replica reaches us, so a
    /// replica from that record to a twin unlinked here is recognised as the old pair's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acker_twin: Option<String>,
    pub trace_id: String,
}

/// An operation on one twin that the other node follows, so the pair changes on both
/// sides: sent on the transport in the sending twin's message group, after the replicas
/// already queued for it, and answered with the same message carrying `answer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlMessage {
    pub connection_id: String,
    pub from_node: String,
    /// The operation's id, which its answer repeats.
    pub id: String,
    pub op: ControlOp,
    /// The twin's item key on the sending node.
    pub source_key: String,
    /// The twin's item key on the receiving node, when the sender knows it.
    pub target_key: Option<String>,
    /// Relink by a field (Bulk Connect by field): without a `target_key`, the receiving
    /// node links its one item that carries this value, and answers with its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_on: Option<MatchOn>,
    /// `None` on the request; what the receiving node did, on the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<ControlAnswer>,
    /// The receiving node's twin record the operation is about, when the sender knows
    /// it: an Unlink told again then leaves alone a pair relinked since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_twin: Option<String>,
    /// On the answer to a Relink it did: the receiving node's twin record of the pair.
    /// The asker's twin that took replicas from an older record of that node is not the
    /// new pair's (simulation seed 21957 of V6 at 300 steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_twin: Option<String>,
    pub trace_id: String,
}

/// The operations of the seeds that change both nodes' twins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlOp {
    /// Both twins stay on record as unlinked; nothing flows either way.
    Unlink,
    /// Both twins are forgotten; a trigger may bring the items under sync again.
    Unexalate,
    /// Both twins are forgotten and their pending messages dropped.
    ForceUnlink,
    /// Two existing items become twins; nothing is created.
    Relink,
    /// The sender's item was deleted; the receiver applies its removal policy.
    Deleted,
    /// The sender's item left every trigger; the receiver applies its removal policy.
    MovedOut,
}

impl ControlOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlOp::Unlink => "unlink",
            ControlOp::Unexalate => "unexalate",
            ControlOp::ForceUnlink => "force unlink",
            ControlOp::Relink => "relink",
            ControlOp::Deleted => "deleted",
            ControlOp::MovedOut => "moved out",
        }
    }
}

/// The receiving node's answer to a control message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum ControlAnswer {
    /// Done, with what was done.
    Done(String),
    /// Not done, with why (the item does not exist, it is linked to another one).
    Refused(String),
}

impl ControlMessage {
    /// The answer to this request, from the node that received it, with its twin record
    /// of the pair when the request made or kept one.
    pub fn answered(
        &self,
        from_node: &str,
        answer: ControlAnswer,
        answer_twin: Option<String>,
    ) -> ControlMessage {
        ControlMessage {
            answer_twin,
            from_node: from_node.to_string(),
            source_key: self
                .target_key
                .clone()
                .unwrap_or_else(|| self.source_key.clone()),
            target_key: Some(self.source_key.clone()),
            answer: Some(answer),
            ..self.clone()
        }
    }
}

/// A Test Run's question to the other node: what would your active incoming rules make
/// of these replicas? Answered without writing or storing anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    pub connection_id: String,
    pub from_node: String,
    pub replicas: Vec<DryRunReplica>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunReplica {
    /// The item's key on the asking side.
    pub source_key: String,
    /// Its twin's key on the answering side, when the asker knows it.
    pub target_key: Option<String>,
    pub hub_issue: Value,
}

/// What the other side would do with one replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRunResult {
    pub source_key: String,
    /// The item it would write to; `None` when it would create one.
    pub target_key: Option<String>,
    pub would_create: bool,
    /// The item as its incoming rules would leave it.
    pub result: Option<crate::Item>,
    /// The fields that would change on the existing item.
    pub would_change: Option<crate::ItemUpdate>,
    /// Why it could not tell (a rule error, the item unreadable).
    pub error: Option<String>,
}

/// The largest transport body a node takes unless its `[node] max_replica_bytes` says
/// otherwise, and what a peer that never said is assumed to take.
pub const DEFAULT_MAX_TRANSPORT_BODY: u64 = 1 << 20;
/// The range `max_replica_bytes` may take: below 64 KiB an ordinary replica with a few
/// comments would not pass; above 64 MiB one request would hold a node's memory.
pub const MIN_MAX_TRANSPORT_BODY: u64 = 64 << 10;
pub const MAX_MAX_TRANSPORT_BODY: u64 = 64 << 20;
/// The most transport messages one delivery carries, and what a node says it takes: a
/// transport batch's messages for one connection go in one signed request, and the
/// receiving node queues them with one batch send, which takes ten (SQS's
/// `SendMessageBatch`).
pub const TRANSPORT_BATCH_MAX: u32 = 10;

/// What travels between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransportMessage {
    Replica(ReplicaMessage),
    Ack(AckMessage),
    Control(ControlMessage),
}

impl TransportMessage {
    pub fn connection_id(&self) -> &str {
        match self {
            TransportMessage::Replica(r) => &r.connection_id,
            TransportMessage::Ack(a) => &a.connection_id,
            TransportMessage::Control(c) => &c.connection_id,
        }
    }

    /// Why the message cannot be applied although it parsed, if it cannot: outgoing rules
    /// always build a replica as a JSON object, so anything else came from a broken or
    /// hostile sender and must not reach the incoming queue.
    pub fn malformed(&self) -> Option<&'static str> {
        match self {
            TransportMessage::Replica(r) if !r.hub_issue.is_object() => {
                Some("the replica's hub_issue is not a JSON object")
            }
            _ => None,
        }
    }

    /// The same message for another connection record (a local connection's other side).
    pub fn for_connection(mut self, connection_id: &str) -> Self {
        let id = connection_id.to_string();
        match &mut self {
            TransportMessage::Replica(r) => r.connection_id = id,
            TransportMessage::Ack(a) => a.connection_id = id,
            TransportMessage::Control(c) => c.connection_id = id,
        }
        self
    }

    /// FIFO group: per connection and the sending node's key of the twin, so replicas
    /// and acks about one twin from one node stay in the order they were sent.
    pub fn group_id(&self) -> String {
        match self {
            TransportMessage::Replica(r) => format!("{}:{}", r.connection_id, r.source_key),
            TransportMessage::Ack(a) => format!(
                "{}:{}",
                a.connection_id,
                a.target_key.as_deref().unwrap_or(&a.source_key)
            ),
            // After the replicas the sender queued for the same twin.
            TransportMessage::Control(c) => format!("{}:{}", c.connection_id, c.source_key),
        }
    }

    /// Deduplication id: a replica version or an ack of one is delivered once.
    pub fn dedup_id(&self) -> String {
        match self {
            TransportMessage::Replica(r) => {
                // A new twin record counts from 1 again: its versions are new messages.
                format!(
                    "r:{}:{}:{}:{}",
                    r.connection_id, r.source_key, r.source_twin, r.version
                )
            }
            TransportMessage::Ack(a) => format!(
                "a:{}:{}:{}:{}:{}",
                a.connection_id,
                a.source_key,
                a.source_twin,
                a.applied_version,
                a.error.is_some()
            ),
            TransportMessage::Control(c) => {
                format!("c:{}:{}:{}", c.connection_id, c.id, c.answer.is_some())
            }
        }
    }
}
