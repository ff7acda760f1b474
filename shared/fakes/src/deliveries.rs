//! Webhook deliveries, shared by every server here.
//!
//! A tracker sends its webhooks on its own time, after the write that caused them has
//! answered. Something that waits for a sync to settle therefore has to know whether a
//! delivery is still on its way, not guess from a quiet stretch: [`Deliveries`] counts
//! the deliveries each server queued and finished. [`Outbox`] sends a vendor fake's
//! deliveries in order, counts them and keeps what was sent.

use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Counts of one server's webhook deliveries. A delivery is queued when the write that
/// causes it is made and finished when the receiver answered, or gave up for good.
#[derive(Debug, Default)]
pub struct Deliveries {
    queued: AtomicU64,
    finished: AtomicU64,
}

/// The counts at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct DeliveryCounts {
    pub queued: u64,
    pub finished: u64,
}

impl DeliveryCounts {
    /// Deliveries queued and not finished.
    pub fn pending(&self) -> u64 {
        self.queued.saturating_sub(self.finished)
    }
}

impl Deliveries {
    /// A delivery was queued. Call it before handing the delivery to the sender, so a
    /// reader never sees it finished before it was queued.
    pub fn queued(&self) {
        self.queued.fetch_add(1, Ordering::SeqCst);
    }

    /// A delivery was made (or abandoned).
    pub fn finished(&self) {
        self.finished.fetch_add(1, Ordering::SeqCst);
    }

    pub fn counts(&self) -> DeliveryCounts {
        // Finished first: a delivery queued and finished between the two reads then
        // shows as pending, never the other way round.
        let finished = self.finished.load(Ordering::SeqCst);
        let queued = self.queued.load(Ordering::SeqCst);
        DeliveryCounts { queued, finished }
    }

    pub fn pending(&self) -> u64 {
        self.counts().pending()
    }
}

/// The summed counts of several servers.
pub fn total(all: &[std::sync::Arc<Deliveries>]) -> DeliveryCounts {
    all.iter()
        .map(|d| d.counts())
        .fold(DeliveryCounts::default(), |a, c| DeliveryCounts {
            queued: a.queued + c.queued,
            finished: a.finished + c.finished,
        })
}

/// One webhook delivery to make, with the headers the vendor sends.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub url: String,
    pub event: String,
    pub headers: Vec<(String, String)>,
    pub payload: Value,
}

/// A delivery made: what was sent, and the receiver's status (0: no answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub event: String,
    /// The payload's `action` (GitHub's `opened`, `edited`, ...), empty when it has none.
    pub action: String,
    pub payload: Value,
    pub status: u16,
}

/// Sends deliveries one by one, in order, as GitHub's hookshot and Jira do: each is
/// counted queued when handed over and finished once the receiver answered (or could
/// not be reached), and kept for the tests to read.
pub struct Outbox {
    queue: mpsc::UnboundedSender<Outgoing>,
    counts: Arc<Deliveries>,
    made: Arc<Mutex<Vec<Delivery>>>,
}

impl Outbox {
    /// Starts the sender; `vendor` names it in logs. The task ends when the outbox is
    /// dropped.
    pub fn start(vendor: &'static str) -> (Outbox, JoinHandle<()>) {
        let (queue, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let counts = Arc::new(Deliveries::default());
        let made = Arc::new(Mutex::new(Vec::new()));
        let (task_counts, task_made) = (counts.clone(), made.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            while let Some(out) = rx.recv().await {
                // A text payload (a SOAP envelope) goes as it is; JSON as JSON.
                let body = match &out.payload {
                    Value::String(text) => text.clone(),
                    json => json.to_string(),
                };
                let mut request = http.post(&out.url);
                for (name, value) in &out.headers {
                    request = request.header(name, value);
                }
                let status = match request.body(body).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(e) => {
                        tracing::warn!(url = %out.url, error = %e, "fake {vendor} could not deliver a webhook");
                        0
                    }
                };
                if let Ok(mut made) = task_made.lock() {
                    made.push(Delivery {
                        action: out.payload["action"].as_str().unwrap_or("").to_string(),
                        event: out.event,
                        payload: out.payload,
                        status,
                    });
                }
                task_counts.finished();
            }
        });
        (
            Outbox {
                queue,
                counts,
                made,
            },
            task,
        )
    }

    pub fn send(&self, delivery: Outgoing) {
        self.counts.queued();
        if self.queue.send(delivery).is_err() {
            self.counts.finished();
        }
    }

    /// The counts of deliveries, for waiting until none is on its way.
    pub fn counts(&self) -> Arc<Deliveries> {
        self.counts.clone()
    }

    /// The deliveries made so far, in order.
    pub fn made(&self) -> Vec<Delivery> {
        self.made.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_is_queued_minus_finished() {
        let d = Deliveries::default();
        assert_eq!(d.pending(), 0);
        d.queued();
        d.queued();
        assert_eq!(d.pending(), 2);
        d.finished();
        assert_eq!(
            d.counts(),
            DeliveryCounts {
                queued: 2,
                finished: 1
            }
        );
        let all = [std::sync::Arc::new(d), std::sync::Arc::default()];
        assert_eq!(total(&all).pending(), 1);
    }
}
