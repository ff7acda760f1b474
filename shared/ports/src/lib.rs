//! Ports: the IO the handlers need, as small async traits.
//!
//! Every trait has one local implementation (SQLite, HTTP to the sandbox tracker, an
//! in-process peer) and, with the AWS work, one AWS implementation. Handlers see only these.

use async_trait::async_trait;
use twinsync_core::TransportMessage;

/// The one error type of the ports. `is_retryable` tells a handler whether to try again
/// later (extend the message's visibility) or to record a permanent failure.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PortError {
    /// A conditional write lost a race; re-read and try again.
    #[error("conditional write failed: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The other end is down or timed out.
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("rate limited; retry after {retry_after_ms} ms")]
    RateLimited {
        retry_after_ms: u64,
        /// Whether the tracker surely carried out none of the request.
        refused: Refusal,
    },
    /// The other end refused the request for good (bad input, permission, validation).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Local storage failed (disk, corruption, a bug in a query).
    #[error("storage error: {0}")]
    Storage(String),
}

/// What a deletion answered, as done: a thing already gone is deleted as asked (a retry
/// after a lost answer, or a person who deleted it first).
pub fn gone_is_done<T>(answer: PortResult<T>) -> PortResult<()> {
    match answer {
        Ok(_) | Err(PortError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What a follow-up read of an item (its comments, after the item itself) answered: not
/// found means the item was deleted between the two reads, so it reads as gone (`None`),
/// as a first read would have said a moment later, not as a failure.
pub fn gone_is_none<T>(answer: PortResult<T>) -> PortResult<Option<T>> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(PortError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl PortError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PortError::Conflict(_)
                | PortError::Unavailable(_)
                | PortError::RateLimited { .. }
                | PortError::Storage(_)
        )
    }

    /// How long to wait before the next try, if the other end said so.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            PortError::RateLimited { retry_after_ms, .. } => Some(*retry_after_ms),
            _ => None,
        }
    }
}

/// How much of a request answered with a wait (`PortError::RateLimited`) the other end
/// may have carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// None of it: a 429, a tracker's own "limit exceeded", or our budget before the
    /// request left.
    Whole,
    /// Perhaps some: a 503 with `Retry-After` may come from a server that wrote before it
    /// failed, and a wait met after a create's first request finds the item made.
    Unknown,
}

impl PortError {
    /// Whether the request surely did nothing: refused whole by a rate limit.
    pub fn refused_whole(&self) -> bool {
        matches!(
            self,
            PortError::RateLimited {
                refused: Refusal::Whole,
                ..
            }
        )
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// The queues between the handlers.
pub mod decorate;
pub use decorate::{Decorated, QueueHooks};

mod queue;
mod stores;
mod tracker;
pub use queue::*;
pub use stores::*;
pub use tracker::*;

/// What the other node made of one message of a delivery that carried several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Queued there.
    Accepted,
    /// Refused for good, with the reason (a message that node cannot read): trying again
    /// would not help.
    Refused(String),
}

/// The other node of a connection, as the transport handler sees it.
#[async_trait]
pub trait Peer: Send + Sync {
    async fn deliver(&self, message: &TransportMessage) -> PortResult<()>;
    /// The most messages one delivery may carry (`deliver_all`); one where the other node
    /// takes them one by one.
    fn batch_max(&self) -> usize {
        1
    }
    /// How many messages a delivery may carry, as the other node's answers to this peer's
    /// deliveries said; none when they did not say (an older node's) or none was made.
    fn batch_max_said(&self) -> Option<u32> {
        None
    }
    /// Delivers messages of one connection in their order, as few to a request as the
    /// other node takes, and says what became of each. An error is the whole delivery's:
    /// every message is tried again (the other node's deduplication drops those that
    /// arrived). By default each goes on its own.
    async fn deliver_all(&self, messages: &[TransportMessage]) -> PortResult<Vec<Delivered>> {
        let mut answers = Vec::with_capacity(messages.len());
        for message in messages {
            answers.push(match self.deliver(message).await {
                Ok(()) => Delivered::Accepted,
                Err(PortError::Rejected(reason)) => Delivered::Refused(reason),
                Err(e) => return Err(e),
            });
        }
        Ok(answers)
    }
    /// A Test Run's question (`DryRunRequest` as JSON) to the other node, answered with
    /// its `DryRunResult`s; nothing is written there.
    async fn dry_run(&self, _request: &serde_json::Value) -> PortResult<serde_json::Value> {
        Err(PortError::Unavailable(
            "this peer cannot be asked for a dry run".into(),
        ))
    }
}

/// Whether a tracker call went to the tracker or was answered from the connector's
/// memory (a `show_sync` of a state shown already), told apart per call: a connector's
/// request counter is shared by every call running beside it, so comparing it before and
/// after a call counts the requests of the others too.
pub mod requests {
    use std::cell::Cell;
    use std::future::Future;

    tokio::task_local! {
        static REACHED: Cell<bool>;
    }

    /// Notes that the running call sent a request to its tracker (connectors call this
    /// where they count their requests). Outside [`reached`] it does nothing.
    pub fn note() {
        let _ = REACHED.try_with(|r| r.set(true));
    }

    /// Runs `call` and tells whether it sent its tracker a request.
    pub async fn reached<F: Future>(call: F) -> (F::Output, bool) {
        REACHED
            .scope(Cell::new(false), async {
                let out = call.await;
                (out, REACHED.with(Cell::get))
            })
            .await
    }
}
