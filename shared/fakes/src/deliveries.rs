//! Webhook delivery accounting, shared by every server here.
//!
//! A tracker sends its webhooks on its own time, after the write that caused them has
//! answered. Something that waits for a sync to settle therefore has to know whether a
//! delivery is still on its way, not guess from a quiet stretch: [`Deliveries`] counts
//! the deliveries each server queued and finished.

use std::sync::atomic::{AtomicU64, Ordering};

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
