//! The queues between the handlers: names, messages and the `Queue` port.

use crate::PortResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod queues {
    pub const OUTGOING: &str = "outgoing";
    pub const TRANSPORT: &str = "transport";
    /// Replicas and acks from the other node. Acks share this queue (and the FIFO group
    /// of their twin) with replicas so that an ack never overtakes a replica the other
    /// node sent before it: the merge base depends on that order.
    pub const INCOMING: &str = "incoming";
    /// Acks for the separate `ack` function on AWS: the incoming function forwards each
    /// ack here when it reaches it in its FIFO group, so an ack still never overtakes a
    /// replica sent before it. The local node handles acks in `incoming` directly.
    pub const ACK: &str = "ack";
    /// How long a held queue keeps a message: SQS's longest retention, 14 days.
    pub const HELD_RETENTION_MS: i64 = 14 * 24 * 3_600_000;

    /// The queues the runner consumes, in flow order.
    pub const HANDLED: [&str; 3] = [OUTGOING, TRANSPORT, INCOMING];

    /// The queue that keeps a paused connection's outgoing messages.
    pub fn held(connection_id: &str) -> String {
        format!("held-{connection_id}")
    }

    /// Messages waiting for the private node of a connection to pull them.
    pub fn outbox(connection_id: &str) -> String {
        format!("outbox-{connection_id}")
    }

    /// The dead-letter queue of a queue.
    pub fn dlq(queue: &str) -> String {
        format!("{queue}-dlq")
    }
}

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    /// Messages of one group are delivered in order, one batch in flight at a time.
    pub group_id: String,
    /// A second message with the same id within the deduplication window is dropped.
    pub dedup_id: String,
    pub body: String,
}

/// A received message. `receipt` names this delivery for delete and change-visibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    pub id: String,
    pub receipt: String,
    pub group_id: String,
    pub dedup_id: String,
    pub body: String,
    /// 1 on the first delivery.
    pub receive_count: u32,
    pub sent_ms: i64,
    /// When the message was first received (this receive's time on the first), for the
    /// retry budget: a message failing for longer goes to the dead-letter queue. Locally a
    /// receive given back (`postpone`) does not count; SQS's
    /// `ApproximateFirstReceiveTimestamp` counts every receive.
    pub first_receive_ms: i64,
    /// An operator moved it back from the dead-letter queue (`Queue::redrive`):
    /// processing it clears the dead letter's mark on its twin.
    pub redriven: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SendOutcome {
    Enqueued,
    /// Dropped by the deduplication window.
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueDepth {
    /// Ready to be received.
    pub visible: u64,
    /// Received and not yet deleted.
    pub in_flight: u64,
    /// Waiting for their visibility timeout (retries with backoff).
    pub delayed: u64,
}

impl QueueDepth {
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// A queue service with SQS FIFO semantics.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, queue: &str, message: NewMessage) -> PortResult<SendOutcome>;
    /// Sends in order; used to drain and to fan out.
    async fn send_batch(&self, queue: &str, messages: Vec<NewMessage>) -> PortResult<()>;
    /// Up to `max` messages; a group with a message in flight gives none.
    async fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_ms: i64,
    ) -> PortResult<Vec<QueueMessage>>;
    async fn delete(&self, queue: &str, receipt: &str) -> PortResult<()>;
    /// Deletes the messages of a handled batch; one result per receipt, in order. A queue
    /// that can delete them together (SQLite: one transaction) does.
    async fn delete_batch(&self, queue: &str, receipts: &[String]) -> Vec<PortResult<()>> {
        let mut results = Vec::with_capacity(receipts.len());
        for receipt in receipts {
            results.push(self.delete(queue, receipt).await);
        }
        results
    }
    async fn change_visibility(
        &self,
        queue: &str,
        receipt: &str,
        visibility_ms: i64,
    ) -> PortResult<()>;
    /// Makes a received message visible again after `delay_ms` without counting the
    /// receive as a failed delivery: the handler was told to wait (a rate limit, a twin
    /// being written), which says nothing about the message. Queues that cannot give a
    /// receive back (SQS) change the visibility only; their redrive policy allows for it.
    async fn postpone(&self, queue: &str, receipt: &str, delay_ms: i64) -> PortResult<()> {
        self.change_visibility(queue, receipt, delay_ms).await
    }
    async fn depth(&self, queue: &str) -> PortResult<QueueDepth>;
    /// Drops every message of a group (Force Unlink clears pending transactions).
    async fn purge_group(&self, queue: &str, group_id: &str) -> PortResult<u64>;
    /// Deletes a queue that exists only while it holds something (a held queue, an
    /// outbox) when it is empty; true when it was deleted. Queues that are rows of one
    /// table (SQLite) have nothing to delete.
    async fn remove_if_empty(&self, _queue: &str) -> PortResult<bool> {
        Ok(false)
    }
    /// The queues that exist, for the monitor and for draining held queues.
    async fn queue_names(&self) -> PortResult<Vec<String>>;
    /// Moves the messages of `queue`'s dead-letter queue ([`queues::dlq`]) that `select`
    /// picks back to the end of `queue`, in their order and FIFO groups, marked
    /// `redriven`; returns how many. A message moved is not deduplicated against its
    /// first send, and moving it again after a crash does not duplicate it.
    async fn redrive(&self, queue: &str, select: &RedriveFilter) -> PortResult<u64>;
    /// Up to `limit` messages of `queue`, oldest first, for a listing: the dead letters
    /// the monitor shows. Nothing is received: no receive count moves, nothing is held.
    async fn peek(&self, queue: &str, limit: usize) -> PortResult<Vec<WaitingMessage>>;
    /// A counter that moves whenever a message of `queue` may have become receivable
    /// (sent, deleted, given back). A consumer reads it before `receive` and passes it to
    /// `wait_for_work`, so a send between the two is never slept through.
    fn activity(&self, _queue: &str) -> u64 {
        0
    }
    /// Waits at most `max_ms` until `queue` may have work: its activity moved past
    /// `seen`, or a delayed or in-flight message becomes visible. `Wait::Unsupported`
    /// from queues that cannot tell (SQS: Lambda polls it); the consumer then pauses on
    /// its own.
    async fn wait_for_work(&self, _queue: &str, _seen: u64, _max_ms: u64) -> Wait {
        Wait::Unsupported
    }
}

/// Which dead-lettered messages [`Queue::redrive`] moves back.
pub type RedriveFilter = dyn Fn(&QueueMessage) -> bool + Send + Sync;

/// How [`Queue::wait_for_work`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// There may be work now.
    Woken,
    /// `max_ms` passed with nothing new.
    TimedOut,
    /// This queue cannot wait for work.
    Unsupported,
}

/// A message waiting in a queue, as a listing shows it (nothing is received or held).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingMessage {
    pub id: String,
    pub group_id: String,
    pub body: String,
    pub sent_ms: i64,
}
