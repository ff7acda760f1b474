//! A twin's timeline: the routine steps kept in the twin record, merged with the events
//! stored on their own.
//!
//! A change's routine steps (a replica sent, found unchanged, applied, acknowledged) are
//! each made together with a write of the twin. Kept in that record, they cost no write of
//! their own: on DynamoDB an event item was one write unit each, a third of a change's.

use crate::twin::{SyncEvent, SyncEventKind, Twin};
use serde::{Deserialize, Serialize};

/// How many routine steps a twin keeps in its own record: enough for the last few
/// changes each way, few enough that the record stays within one DynamoDB write unit.
pub const RECENT_STEPS: usize = 8;

/// One routine step of a change, as a twin record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwinStep {
    pub kind: SyncEventKind,
    pub detail: String,
    pub at_ms: i64,
}

impl Twin {
    /// Records a routine step with the twin, dropping the oldest beyond [`RECENT_STEPS`].
    pub fn record_step(&mut self, kind: SyncEventKind, detail: impl Into<String>, at_ms: i64) {
        self.recent_steps.push(TwinStep {
            kind,
            detail: detail.into(),
            at_ms,
        });
        let extra = self.recent_steps.len().saturating_sub(RECENT_STEPS);
        self.recent_steps.drain(..extra);
    }
}

/// The twin's timeline, newest first: the events stored for it and the steps its record
/// keeps, at most `limit` of them. Events at the same time keep their order (stored
/// events first), so a step never jumps ahead of the conflict it came with.
pub fn timeline(stored: Vec<SyncEvent>, twin: &Twin, limit: usize) -> Vec<SyncEvent> {
    let steps = twin.recent_steps.iter().rev().map(|s| SyncEvent {
        connection_id: twin.connection_id.clone(),
        twin_id: Some(twin.id.clone()),
        at_ms: s.at_ms,
        kind: s.kind,
        detail: s.detail.clone(),
    });
    let mut all: Vec<SyncEvent> = stored.into_iter().chain(steps).collect();
    all.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: SyncEventKind, at_ms: i64) -> SyncEvent {
        SyncEvent {
            connection_id: "c".into(),
            twin_id: Some("t".into()),
            at_ms,
            kind,
            detail: format!("{kind:?} at {at_ms}"),
        }
    }

    #[test]
    fn a_twin_keeps_its_latest_steps_only() {
        let mut twin = Twin::new("t".into(), "c".into(), 0);
        for at in 0..(RECENT_STEPS as i64 + 3) {
            twin.record_step(SyncEventKind::Outgoing, format!("v{at}"), at);
        }
        assert_eq!(twin.recent_steps.len(), RECENT_STEPS);
        assert_eq!(twin.recent_steps[0].at_ms, 3);
        assert_eq!(
            twin.recent_steps.last().map(|s| s.detail.as_str()),
            Some("v10")
        );
    }

    #[test]
    fn the_timeline_merges_steps_and_stored_events_newest_first() {
        use SyncEventKind::*;
        // (stored events, steps, limit, expected (kind, at) newest first)
        type Case = (
            Vec<(SyncEventKind, i64)>,
            Vec<(SyncEventKind, i64)>,
            usize,
            Vec<(SyncEventKind, i64)>,
        );
        let cases: Vec<Case> = vec![
            (vec![], vec![], 10, vec![]),
            (vec![(Error, 5)], vec![], 10, vec![(Error, 5)]),
            (
                vec![],
                vec![(Outgoing, 1), (Ack, 2)],
                10,
                vec![(Ack, 2), (Outgoing, 1)],
            ),
            (
                vec![(Conflict, 3), (Error, 9)],
                vec![(Outgoing, 1), (Incoming, 3), (Ack, 7)],
                10,
                vec![
                    (Error, 9),
                    (Ack, 7),
                    (Conflict, 3),
                    (Incoming, 3),
                    (Outgoing, 1),
                ],
            ),
            (
                vec![(Conflict, 3)],
                vec![(Outgoing, 1), (Incoming, 3), (Ack, 7)],
                2,
                vec![(Ack, 7), (Conflict, 3)],
            ),
        ];
        for (stored, steps, limit, expected) in cases {
            let mut twin = Twin::new("t".into(), "c".into(), 0);
            for (kind, at) in &steps {
                twin.record_step(*kind, format!("{kind:?} at {at}"), *at);
            }
            // Stores answer newest first.
            let mut stored: Vec<SyncEvent> = stored.iter().map(|(k, at)| event(*k, *at)).collect();
            stored.reverse();
            let got: Vec<(SyncEventKind, i64)> = timeline(stored, &twin, limit)
                .iter()
                .map(|e| (e.kind, e.at_ms))
                .collect();
            assert_eq!(got, expected, "stored {steps:?}");
            assert!(
                timeline(vec![], &twin, limit)
                    .iter()
                    .all(|e| e.twin_id.as_deref() == Some("t"))
            );
        }
    }
}
