//! Sends of one batch leave together. A Lambda function handed a batch of messages makes
//! a send for most of them (outgoing to transport, incoming to transport or ack); on SQS
//! each was a `SendMessage` request. [`BatchedSends`] holds the sends to the handler
//! queues while a batch is handled and sends them in order when it is done, ten to a
//! `SendMessageBatch` request. Any other send (a function URL's, the scheduler's, a
//! dead letter, a held queue or outbox, which may not exist yet) goes at once.
//!
//! If the held sends cannot all be sent, every message of the batch is retried: a
//! handler's effects before its send are repaired on the retry (outgoing sends the
//! version its twin holds again, incoming acknowledges a version it applied again), and
//! the queues' deduplication drops what did leave.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;
use twinsync_ports::{
    Decorated, NewMessage, PortError, PortResult, Queue, QueueHooks, SendOutcome, queues,
};

/// A queue whose sends to the handler queues wait between [`SendBuffer::open`] and
/// [`SendBuffer::flush`].
pub type BatchedSends = Decorated<SendBuffer>;

/// The sends held back, in the order they were made; `None` when no batch is open.
#[derive(Default)]
pub struct SendBuffer {
    held: Mutex<Option<Vec<(String, NewMessage)>>>,
}

/// The handler queues, whose sends wait for the end of the batch.
fn held_back(queue: &str) -> bool {
    queues::HANDLED.contains(&queue) || queue == queues::ACK
}

impl SendBuffer {
    /// A batch begins: sends to the handler queues wait from now.
    pub fn open(&self) {
        if let Ok(mut held) = self.held.lock() {
            *held = Some(Vec::new());
        }
    }

    /// The batch is done: sends what waited to `inner`, each queue's in the order made,
    /// and sends at once from now. An error means some may not have left.
    pub async fn flush(&self, inner: &dyn Queue) -> PortResult<()> {
        let held = self
            .held
            .lock()
            .map_err(|_| PortError::Storage("the send buffer's lock is poisoned".into()))?
            .take()
            .unwrap_or_default();
        let mut by_queue: BTreeMap<String, Vec<NewMessage>> = BTreeMap::new();
        for (queue, message) in held {
            by_queue.entry(queue).or_default().push(message);
        }
        for (queue, mut messages) in by_queue {
            if messages.len() == 1
                && let Some(message) = messages.pop()
            {
                inner.send(&queue, message).await?;
            } else {
                inner.send_batch(&queue, messages).await?;
            }
        }
        Ok(())
    }

    /// Holds `message` back if a batch is open and `queue` is a handler queue; gives it
    /// back otherwise.
    fn hold(&self, queue: &str, message: NewMessage) -> Option<NewMessage> {
        if !held_back(queue) {
            return Some(message);
        }
        match self.held.lock() {
            Ok(mut held) => match held.as_mut() {
                Some(held) => {
                    held.push((queue.to_string(), message));
                    None
                }
                None => Some(message),
            },
            Err(_) => Some(message),
        }
    }
}

#[async_trait]
impl QueueHooks for SendBuffer {
    async fn send(
        &self,
        inner: &dyn Queue,
        queue: &str,
        message: NewMessage,
    ) -> PortResult<SendOutcome> {
        match self.hold(queue, message) {
            // Whether the queue takes it as new is known only when it leaves; no handler
            // of a batch asks.
            None => Ok(SendOutcome::Enqueued),
            Some(message) => inner.send(queue, message).await,
        }
    }

    async fn send_batch(
        &self,
        inner: &dyn Queue,
        queue: &str,
        messages: Vec<NewMessage>,
    ) -> PortResult<()> {
        let rest: Vec<NewMessage> = messages
            .into_iter()
            .filter_map(|m| self.hold(queue, m))
            .collect();
        if rest.is_empty() {
            return Ok(());
        }
        inner.send_batch(queue, rest).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;
    use twinsync_core::SystemClock;

    fn message(group: &str, n: u32) -> NewMessage {
        NewMessage {
            group_id: group.into(),
            dedup_id: format!("{group}-{n}"),
            body: format!("{group} {n}"),
        }
    }

    async fn bodies(queue: &dyn Queue, name: &str) -> Vec<String> {
        let got = queue.receive(name, 10, 30_000).await.unwrap();
        got.into_iter().map(|m| m.body).collect()
    }

    #[tokio::test]
    async fn a_batch_sends_its_handler_queue_sends_when_done_in_order() {
        let (sqlite, _, _) = twinsync_store::open_in_memory(Arc::new(SystemClock)).unwrap();
        let inner: Arc<dyn Queue> = Arc::new(sqlite);
        let sends = BatchedSends::new(inner.clone(), SendBuffer::default());

        // No batch open: a send leaves at once.
        sends
            .send(queues::TRANSPORT, message("a", 0))
            .await
            .unwrap();
        assert_eq!(inner.depth(queues::TRANSPORT).await.unwrap().visible, 1);

        sends.hooks.open();
        for n in 1..=3 {
            sends
                .send(queues::TRANSPORT, message("a", n))
                .await
                .unwrap();
        }
        sends.send(queues::ACK, message("b", 1)).await.unwrap();
        // A held queue is not held back: it may not exist until its first send.
        sends.send("held-c1", message("c", 1)).await.unwrap();
        assert_eq!(inner.depth(queues::TRANSPORT).await.unwrap().visible, 1);
        assert_eq!(inner.depth(queues::ACK).await.unwrap().visible, 0);
        assert_eq!(inner.depth("held-c1").await.unwrap().visible, 1);

        sends.hooks.flush(&*inner).await.unwrap();
        // The group's messages arrive in the order they were made.
        let order = bodies(&*inner, queues::TRANSPORT).await;
        assert_eq!(order, ["a 0", "a 1", "a 2", "a 3"]);
        assert_eq!(bodies(&*inner, queues::ACK).await, ["b 1"]);

        // Closed again: the next send leaves at once.
        sends.send(queues::ACK, message("d", 1)).await.unwrap();
        assert_eq!(inner.depth(queues::ACK).await.unwrap().total(), 2);
    }
}
