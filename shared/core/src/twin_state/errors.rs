//! A twin in Error: a script error, an operator's Retry, a message dead-lettered and
//! redriven.

use crate::twin::{Twin, TwinStatus};

impl Twin {
    /// Records an error that stops this item (a script error): the twin shows it until a
    /// later send, apply or ack.
    pub fn record_error(&mut self, message: &str, now_ms: i64) {
        self.status = TwinStatus::Error(message.to_string());
        self.dead_letter = None;
        self.updated_ms = now_ms;
    }

    /// An operator's Retry of a twin in Error with nothing dead-lettered here (the other
    /// side refused the last replica): the next outgoing read sends a new version even
    /// if the item did not change, since the same version again would be dropped as a
    /// duplicate. Returns whether the twin changed (only a twin in Error does).
    pub fn prepare_retry(&mut self, now_ms: i64) -> bool {
        if !matches!(self.status, TwinStatus::Error(_)) {
            return false;
        }
        self.baseline = None;
        self.updated_ms = now_ms;
        true
    }

    /// Records that a message about this twin gave up retrying and went to the
    /// dead-letter queue of `queue`: the twin shows Error with the reason until the
    /// message is redriven and processed. An unlinked twin stays unlinked: nothing syncs
    /// for it anyway. Returns whether the twin changed.
    pub fn record_dead_letter(&mut self, queue: &str, reason: &str, now_ms: i64) -> bool {
        if self.status == TwinStatus::Unlinked {
            return false;
        }
        self.status = TwinStatus::Error(format!("dead-lettered from {queue}: {reason}"));
        self.dead_letter = Some(queue.to_string());
        self.updated_ms = now_ms;
        true
    }

    /// Records that a redriven message about this twin was processed: the twin leaves the
    /// Error its dead letter put it in, for Synced when the other side has acknowledged
    /// everything sent, else Syncing until it does. An Error that came later (a script
    /// error, a negative ack) stays. Returns whether the twin changed.
    pub fn record_redriven(&mut self, now_ms: i64) -> bool {
        if self.dead_letter.take().is_none() {
            return false;
        }
        self.status = if self.acked_version >= self.out_version {
            TwinStatus::Synced
        } else {
            TwinStatus::Syncing
        };
        self.updated_ms = now_ms;
        true
    }
}
