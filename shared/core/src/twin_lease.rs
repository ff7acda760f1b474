//! The lease on a twin: how an apply takes it and gives it back, and how long our
//! outgoing side holds off reading the item meanwhile. Pure, like `twin_state`.

use crate::item::Item;
use crate::twin::{ApplyAttempt, Twin, TwinStatus};
use serde_json::Value;

/// How an apply that held the lease ended, when it did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyFailure {
    /// It will be retried after `retry_after_ms`; the item may be half written.
    Retryable { retry_after_ms: u64 },
    /// It will not be retried.
    Permanent,
}

/// How many unrecorded apply attempts a twin keeps (`Twin::apply_attempts`): more in a
/// row without one recorded means the replicas keep failing, and the oldest goes.
pub const ATTEMPTS_KEPT: usize = 3;

/// How many leases past its time an apply that stopped holds our outgoing side at most,
/// waiting for its retry (`Twin::apply_hold`).
pub const RETRY_HOLD_LEASES: i64 = 10;

/// How long our outgoing side holds off reading a twin's item for an apply of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyHold {
    /// A worker is writing the item, or the retry of one that stopped is due and has
    /// this long to finish (`Twin::apply_wait`).
    For(u64),
    /// An apply stopped (a crash, or a failure it is retried after) and the time its
    /// retry was given is over, yet no retry has taken the lease: the item may still be
    /// half written, until the queue hands the replica back.
    UntilRetried,
}

impl Twin {
    /// How long until the lease another worker holds runs out; `None` when it may be taken.
    pub fn lease_wait(&self, now_ms: i64) -> Option<u64> {
        (self.applying_until_ms > now_ms && !self.lease_released)
            .then(|| (self.applying_until_ms - now_ms).unsigned_abs())
    }

    /// How long our outgoing side still waits for an apply of this twin's item (`None`:
    /// it may read). A lease given back after a failure already runs until its retry is
    /// due and has had time to finish. A lease neither recorded nor given back (the
    /// worker crashed, maybe after writing the item) runs out when its replica becomes
    /// visible again, so its retry is given one more lease to finish: read before it,
    /// the half-written item would go out as edits made here (simulation seed 7847 of
    /// V5). `lease_ms` is the lease the apply took.
    pub fn apply_wait(&self, now_ms: i64, lease_ms: i64) -> Option<u64> {
        if self.applying_until_ms == 0 {
            return None;
        }
        let until = if self.lease_released {
            self.applying_until_ms
        } else {
            self.applying_until_ms.saturating_add(lease_ms)
        };
        (until > now_ms).then(|| (until - now_ms).unsigned_abs())
    }

    /// How our outgoing side holds off reading the item for an apply (`None`: it may
    /// read). Past [`Twin::apply_wait`], an apply that took the lease and was neither
    /// recorded nor given up for good still holds it, until its retry takes the lease:
    /// when that retry comes is the queue's and its consumers' doing, not the clock's. A
    /// given-back lease ran out while nothing ran the replica's retry (a slow batch, a
    /// passing minute), our outgoing read the half-written item and sent the other
    /// side's own values back as edits made here, and the two sides swapped a priority
    /// and an assignee (simulation seed 2356 of V5 at 300 steps; seed 7847 was the same
    /// read after a crash). An unlinked twin syncs nothing, and one in Error (its replica
    /// dead-lettered) waits for an operator: neither holds. A retry that never comes (its
    /// replica dropped unseen) holds the twin at most [`RETRY_HOLD_LEASES`] leases more:
    /// the change waits in its queue meanwhile, so a late read loses nothing.
    pub fn apply_hold(&self, now_ms: i64, lease_ms: i64) -> Option<ApplyHold> {
        if let Some(wait) = self.apply_wait(now_ms, lease_ms) {
            return Some(ApplyHold::For(wait));
        }
        let give_up_at = self
            .applying_until_ms
            .saturating_add(lease_ms.saturating_mul(RETRY_HOLD_LEASES));
        let stopped = self.applying_until_ms != 0
            && now_ms < give_up_at
            && !matches!(self.status, TwinStatus::Unlinked | TwinStatus::Error(_));
        stopped.then_some(ApplyHold::UntilRetried)
    }

    /// Takes the lease for `lease_ms` to apply the replica `version` (`replica`, as it
    /// came): the outgoing side waits meanwhile, so the tracker's echo of the write meets
    /// the new baseline. The first replica an apply takes it for is kept while the twin
    /// links no item: its attempt may create one and stop before linking it. After
    /// applies that created nothing (`Twin::created_nothing`), this one is the first
    /// that may create the item.
    pub fn take_lease(&mut self, version: u64, replica: &Value, now_ms: i64, lease_ms: i64) {
        self.applying_until_ms = now_ms.saturating_add(lease_ms);
        self.lease_released = false;
        if self.first_apply_version == 0 || self.created_nothing {
            self.first_apply_version = version;
            self.first_apply_replica =
                (self.local_key.is_none() && self.in_version == 0).then(|| replica.clone());
        }
        self.created_nothing = false;
    }

    /// Notes that the apply holding the lease created nothing, for sure, when it failed:
    /// `looked_for_none` says it had no item to look for by origin marker (nor had any
    /// apply before it), and `refused_whole` that the tracker refused its create whole.
    /// Only a twin that links no item and has no apply recorded keeps the note; the
    /// failed apply is then no attempt to remember (`Twin::keep_attempt`).
    pub fn note_created_nothing(&mut self, looked_for_none: bool, refused_whole: bool) -> bool {
        self.created_nothing =
            looked_for_none && refused_whole && self.local_key.is_none() && self.in_version == 0;
        self.created_nothing
    }

    /// Whether the next apply may create the item without looking for one an earlier
    /// apply made: each one before created nothing.
    pub fn nothing_to_look_for(&self) -> bool {
        self.created_nothing && self.local_key.is_none() && self.in_version == 0
    }

    /// Keeps the replica of an apply that failed, with the write that gives its lease
    /// back (`Twin::apply_attempts`): the item may hold its write, the answer lost. Not
    /// with the lease itself: the twin record is within bytes of one write unit, and a
    /// replica more took every apply's lease past it for the rare failure. So an apply
    /// that crashes after its write is not kept.
    pub fn keep_attempt(&mut self, kept: ApplyAttempt) {
        self.apply_attempts
            .retain(|a| a.version != kept.version || a.source_twin != kept.source_twin);
        self.apply_attempts.push(kept);
        if self.apply_attempts.len() > ATTEMPTS_KEPT {
            self.apply_attempts.remove(0);
        }
    }

    /// The replicas of `source_twin` older than `version` whose applies failed, not
    /// recorded since, oldest first: their writes may be on the item, with their answers
    /// lost, and the replica in hand overtook their retries.
    pub fn attempts_overtaken(
        &self,
        version: u64,
        source_twin: &str,
    ) -> impl Iterator<Item = &Value> {
        self.apply_attempts
            .iter()
            .filter(move |a| {
                a.version < version && a.version > self.in_version && a.source_twin == source_twin
            })
            .map(|a| &a.replica)
    }

    /// Whether an item found by its origin marker, with no apply recorded here, is what
    /// an earlier attempt of the replica `version` created: it is the first replica an
    /// apply took this twin's lease for (asked before this attempt takes it). A record
    /// from before that was kept (0) counts version 1 as the first.
    pub fn created_by_attempt_of(&self, version: u64) -> bool {
        self.in_version == 0
            && match self.first_apply_version {
                0 => version == 1,
                first => first == version,
            }
    }

    /// The replica an item found by its origin marker, with no apply recorded here, was
    /// created from, for the replica `version` (`replica`) in hand (asked before this
    /// attempt takes the lease): the first one an apply took the lease for, this one or
    /// another. What it created is the merge base of every replica until an apply is
    /// recorded: a pause handed v1 in after v2's attempt had created the item and before
    /// v2's retry, and v1, merged against no base, overwrote a person's edit of the new
    /// item (simulation seed 1738 of V5 at 300 steps). A record from before that replica
    /// was kept knows only its version: then only that replica's own attempt counts
    /// (seeds 1217 of V1 and 1573 of V3).
    pub fn created_from<'a>(&'a self, version: u64, replica: &'a Value) -> Option<&'a Value> {
        if self.in_version != 0 {
            return None;
        }
        match &self.first_apply_replica {
            Some(first) => Some(first),
            None => self.created_by_attempt_of(version).then_some(replica),
        }
    }

    /// The item an apply here created from the other side's replica and linked to this
    /// twin, where that apply stopped after the link (a failure or a crash) and none is
    /// recorded since: it stands for the remote's previous replica, as if the apply had
    /// been recorded. Without it, a later replica that overtook the retry was measured
    /// against no previous replica, every field counted as the other side's change, and
    /// a person's edits of the new item lost to values the other side never changed
    /// (simulation seed 49514 of V6 at 300 steps). A twin that sent nothing and was made
    /// for a replica of the other side holds its base only from that create.
    pub fn created_unrecorded(&self) -> Option<&Item> {
        let unrecorded = self.reservation.is_some()
            && self.in_version == 0
            && self.out_version == 0
            && self.previous.is_none()
            && self.local_key.is_some();
        unrecorded.then_some(self.base_item.as_ref()).flatten()
    }

    /// Gives the lease back after a failed apply. A retry may take it at once, while the
    /// outgoing side keeps waiting until the retry is due and has had time to finish: the
    /// item may be half written and must not be sent back as a change.
    pub fn give_back_lease(&mut self, failure: ApplyFailure, now_ms: i64, lease_ms: i64) {
        match failure {
            ApplyFailure::Retryable { retry_after_ms } => {
                self.lease_released = true;
                self.applying_until_ms = now_ms
                    .saturating_add(i64::try_from(retry_after_ms).unwrap_or(i64::MAX))
                    .saturating_add(lease_ms);
            }
            ApplyFailure::Permanent => self.applying_until_ms = 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twin_state::Applied;
    use serde_json::json;

    fn attempt(version: u64, replica: &Value) -> ApplyAttempt {
        ApplyAttempt {
            version,
            source_twin: "s1".into(),
            replica: replica.clone(),
        }
    }

    fn twin() -> Twin {
        Twin::new("t1".into(), "c1".into(), 1_000)
    }

    /// A create the tracker refused whole leaves nothing to look for (the rate-limited
    /// creates of `twinsync rate-bench` each searched by origin marker on their retry).
    #[test]
    fn a_create_refused_whole_is_retried_without_looking() {
        // What the failed apply left on the twin.
        #[derive(Debug)]
        enum Left {
            Nothing,
            Linked,
            Applied,
        }
        // (looked for none, refused whole, left) -> noted
        let table = [
            (true, true, Left::Nothing, true),
            // it looked (a wiped store, an unpairing): the item may be there
            (false, true, Left::Nothing, false),
            // a timeout, or a create of several requests: the item may be there
            (true, false, Left::Nothing, false),
            (false, false, Left::Nothing, false),
            // the create went through and was linked before a later call failed
            (true, true, Left::Linked, false),
            (true, true, Left::Applied, false),
        ];
        for (looked_for_none, refused_whole, left, want) in table {
            let mut t = twin();
            t.take_lease(1, &json!({"v": 1}), 5_000, 30_000);
            match left {
                Left::Nothing => {}
                Left::Linked => t.local_key = Some("SUPPORT-1".into()),
                Left::Applied => t.in_version = 1,
            }
            let row = format!("{looked_for_none} {refused_whole} {left:?}");
            assert_eq!(
                t.note_created_nothing(looked_for_none, refused_whole),
                want,
                "{row}"
            );
            assert_eq!(t.nothing_to_look_for(), want, "{row}");
        }
        // The retry (of a newer replica, here) is the first that may create the item:
        // an item found after it crashed was made from its replica, not the first's.
        let mut t = twin();
        t.take_lease(1, &json!({"v": 1}), 5_000, 30_000);
        assert!(t.note_created_nothing(true, true));
        t.take_lease(2, &json!({"v": 2}), 6_000, 30_000);
        assert!(!t.nothing_to_look_for(), "the lease clears it");
        assert_eq!(t.first_apply_version, 2);
        assert_eq!(t.created_from(2, &Value::Null), Some(&json!({"v": 2})));
        // Without the note, the first apply's replica stays the one that created it.
        let mut t = twin();
        t.take_lease(1, &json!({"v": 1}), 5_000, 30_000);
        t.take_lease(2, &json!({"v": 2}), 6_000, 30_000);
        assert_eq!(t.first_apply_version, 1);
        assert_eq!(t.created_from(2, &Value::Null), Some(&json!({"v": 1})));
    }

    #[test]
    fn lease_table() {
        // (applying_until_ms, lease_released, now) -> wait
        let table = [
            (0, false, 5_000, None),
            (6_000, false, 5_000, Some(1_000)),
            (6_000, true, 5_000, None),
            (5_000, false, 5_000, None),
        ];
        for (until, released, now, want) in table {
            let mut t = twin();
            t.applying_until_ms = until;
            t.lease_released = released;
            assert_eq!(t.lease_wait(now), want, "{until} {released} {now}");
        }
        let mut t = twin();
        t.take_lease(1, &Value::Null, 5_000, 30_000);
        assert_eq!(t.lease_wait(5_000), Some(30_000));
        t.give_back_lease(
            ApplyFailure::Retryable {
                retry_after_ms: 2_000,
            },
            6_000,
            30_000,
        );
        assert_eq!((t.lease_wait(6_000), t.applying_until_ms), (None, 38_000));
        t.take_lease(1, &Value::Null, 7_000, 30_000);
        t.give_back_lease(ApplyFailure::Permanent, 8_000, 30_000);
        assert_eq!((t.lease_wait(8_000), t.applying_until_ms), (None, 0));
        t.give_back_lease(
            ApplyFailure::Retryable {
                retry_after_ms: u64::MAX,
            },
            8_000,
            30_000,
        );
        assert_eq!(t.applying_until_ms, i64::MAX);
    }

    #[test]
    fn outgoing_waits_for_the_retry_of_an_apply_that_crashed() {
        // (applying_until_ms, lease_released, now) -> outgoing's wait, lease 30 s
        let table = [
            (0, false, 5_000, None),
            // held: the lease and one more for its retry
            (6_000, false, 5_000, Some(31_000)),
            // lapsed without a record or a give-back: a crash; the retry may run
            (6_000, false, 20_000, Some(16_000)),
            (6_000, false, 36_000, None),
            // given back: the give-back already counted the retry's time
            (6_000, true, 5_000, Some(1_000)),
            (6_000, true, 6_000, None),
            (
                i64::MAX,
                false,
                5_000,
                Some((i64::MAX - 5_000).unsigned_abs()),
            ),
        ];
        for (until, released, now, want) in table {
            let mut t = twin();
            t.applying_until_ms = until;
            t.lease_released = released;
            assert_eq!(t.apply_wait(now, 30_000), want, "{until} {released} {now}");
        }
        let mut t = twin();
        t.take_lease(2, &Value::Null, 5_000, 30_000);
        assert_eq!(t.lease_wait(35_000), None, "the retry may take the lease");
        assert!(
            t.apply_wait(35_000, 30_000).is_some(),
            "outgoing still waits"
        );
        t.take_lease(2, &Value::Null, 35_000, 30_000);
        t.applying_until_ms = 0; // record_apply
        assert_eq!(t.apply_wait(35_001, 30_000), None);
    }

    /// An apply that stopped holds outgoing past its time until its retry takes the
    /// lease, records the apply or gives it up (simulation seed 2356 of V5).
    #[test]
    fn outgoing_holds_until_the_retry_of_an_apply_that_stopped() {
        let (synced, syncing, unlinked) = (
            TwinStatus::Synced,
            TwinStatus::Syncing,
            TwinStatus::Unlinked,
        );
        let error = TwinStatus::Error("dead-lettered from incoming: boom".into());
        let (hold, retried) = (|ms| Some(ApplyHold::For(ms)), Some(ApplyHold::UntilRetried));
        // (applying_until_ms, lease_released, status, now) -> hold, lease 30 s
        let table = [
            (0, false, synced.clone(), 5_000, None),
            // within apply_wait: as long as it says
            (6_000, false, synced.clone(), 5_000, hold(31_000)),
            (6_000, true, synced.clone(), 5_000, hold(1_000)),
            // given back, its retry due long ago and not run yet
            (6_000, true, synced.clone(), 60_000, retried),
            (6_000, true, syncing, 60_000, retried),
            // crashed, and its redelivery has not come either
            (6_000, false, synced, 90_000, retried),
            // nothing to wait for
            (6_000, true, unlinked, 60_000, None),
            (6_000, true, error.clone(), 60_000, None),
            // a worker holds the lease: whatever the status, it is writing now
            (6_000, false, error, 5_000, hold(31_000)),
        ];
        for (until, released, status, now, want) in table {
            let mut t = twin();
            t.applying_until_ms = until;
            t.lease_released = released;
            t.status = status.clone();
            assert_eq!(
                t.apply_hold(now, 30_000),
                want,
                "{until} {released} {status:?} {now}"
            );
        }
        // The retry takes the lease and records the apply: nothing holds any more.
        let mut t = twin();
        t.take_lease(3, &Value::Null, 5_000, 30_000);
        t.give_back_lease(ApplyFailure::Retryable { retry_after_ms: 0 }, 6_000, 30_000);
        assert_eq!(t.apply_hold(70_000, 30_000), Some(ApplyHold::UntilRetried));
        t.take_lease(3, &Value::Null, 70_000, 30_000);
        assert_eq!(t.apply_hold(70_001, 30_000), Some(ApplyHold::For(59_999)));
        t.give_back_lease(ApplyFailure::Permanent, 71_000, 30_000);
        assert_eq!(t.apply_hold(200_000, 30_000), None, "given up for good");
        // A retry that never comes holds the twin ten leases past its time, no longer.
        let mut t = twin();
        t.take_lease(3, &Value::Null, 5_000, 30_000);
        t.give_back_lease(ApplyFailure::Retryable { retry_after_ms: 0 }, 6_000, 30_000);
        assert_eq!(t.apply_hold(335_999, 30_000), Some(ApplyHold::UntilRetried));
        assert_eq!(t.apply_hold(336_000, 30_000), None);
    }

    /// An item found by its origin marker before any apply is recorded is taken for the
    /// creation of the first replica an apply took the lease for, and of no other
    /// (simulation seeds 1217 of V1 and 1573 of V3).
    #[test]
    fn an_item_found_by_its_marker_is_the_creation_of_the_first_attempt_only() {
        // (versions whose applies took the lease, applies recorded, the version asking)
        // -> created by its attempt
        let table: [(&[u64], u64, u64, bool); 7] = [
            (&[2], 0, 2, true),
            (&[2, 2], 0, 2, true),
            // v1 created the item; v2 overtook its retry (a pause held it back).
            (&[1], 0, 2, false),
            (&[1, 2], 0, 2, false),
            // Nothing attempted (a record from before the version was kept): version 1.
            (&[], 0, 1, true),
            (&[], 0, 2, false),
            // An apply is recorded: the twin links its item already.
            (&[1], 1, 1, false),
        ];
        for (attempts, applied, version, want) in table {
            let mut t = twin();
            for v in attempts {
                t.take_lease(*v, &json!({"v": v}), 1_000, 30_000);
            }
            t.in_version = applied;
            assert_eq!(
                t.created_by_attempt_of(version),
                want,
                "{attempts:?} applied {applied}, v{version}"
            );
        }
    }

    /// Until an apply is recorded, an item found by its origin marker was created from
    /// the first replica an apply took the lease for, whichever replica finds it; a
    /// record from before that replica was kept falls back on its version (simulation
    /// seeds 1738 of V5, 1217 of V1, 1573 of V3).
    #[test]
    fn an_item_found_by_its_marker_was_created_from_the_first_leased_replica() {
        // (versions whose applies took the lease, the first one kept, an item linked,
        // applies recorded, the version asking) -> the version it was created from
        type Row = (&'static [u64], bool, bool, u64, u64, Option<u64>);
        let table: [Row; 10] = [
            (&[2], true, false, 0, 2, Some(2)),
            // v2 created the item and stopped; a pause handed v1, then v3, in before
            // its retry (seed 1738 of V5).
            (&[2], true, false, 0, 1, Some(2)),
            (&[2], true, false, 0, 3, Some(2)),
            // v1 created it; v2 overtook its retry (seed 1573 of V3).
            (&[1], true, false, 0, 2, Some(1)),
            (&[1, 2], true, false, 0, 2, Some(1)),
            // A record from before the replica was kept: only its own version.
            (&[2], false, false, 0, 2, Some(2)),
            (&[2], false, false, 0, 1, None),
            // Nothing attempted: version 1, as before.
            (&[], false, false, 0, 1, Some(1)),
            // An apply is recorded: the twin links its item already.
            (&[1], true, false, 1, 1, None),
            // The twin linked an item before the first apply (it started here): the
            // apply creates nothing, and nothing is kept.
            (&[1], true, true, 0, 2, None),
        ];
        for (attempts, kept, linked, applied, version, want) in table {
            let mut t = twin();
            if linked {
                t.local_key = Some("A-1".into());
            }
            for v in attempts {
                t.take_lease(*v, &json!({"v": v}), 1_000, 30_000);
            }
            if !kept {
                t.first_apply_replica = None;
            }
            t.in_version = applied;
            let asking = json!({"v": version});
            assert_eq!(
                t.created_from(version, &asking).map(|r| r["v"].as_u64()),
                want.map(Some),
                "{attempts:?} kept {kept} linked {linked} applied {applied}, v{version}"
            );
        }
        let mut t = twin();
        t.take_lease(1, &json!({"v": 1}), 1_000, 30_000);
        assert!(t.first_apply_replica.is_some());
        t.record_apply(
            Applied {
                view: json!({}),
                own: json!({}),
                baseline_version: 1,
                base_item: Item::default(),
                previous: json!({"v": 1}),
                version: 1,
                applied_in: None,
                built_on: None,
                source_twin: "r1".into(),
                source_key: "B-1".into(),
                source_url: String::new(),
                local_url: String::new(),
            },
            2_000,
        );
        assert_eq!(
            t.first_apply_replica, None,
            "dropped once an apply is recorded"
        );
    }

    /// Simulation seed 49514 of V6 at 300 steps: our apply of their v1 created the item,
    /// linked it and failed after (a 500); a pause held its retry back, and their v3
    /// came first. With no previous replica, v3 counted as their change of every field,
    /// and newest wins gave them the description and the severity a person had set
    /// here, which they never changed. The item that create made stands for their
    /// previous replica, as if the apply had been recorded.
    #[test]
    fn an_item_an_unrecorded_apply_created_stands_for_their_previous_replica() {
        use crate::connection::{ConflictPolicy, ConflictSettings};
        use crate::merge::{MergeContext, SentSeen, SinceSent, merge_items};
        let created = Item {
            key: "A-3".into(),
            summary: "item 2".into(),
            description: "made on b".into(),
            updated_ms: 1_000,
            ..Item::default()
        };
        // (what, reserved for their replica, the create linked the item, applies
        // recorded, sends of ours, a previous replica of theirs known) -> stands in
        let table = [
            (
                "the create linked it, the apply stopped",
                true,
                true,
                0,
                0,
                false,
                true,
            ),
            ("nothing linked yet", true, false, 0, 0, false, false),
            ("an apply recorded since", true, true, 1, 0, true, false),
            ("a previous replica known", true, true, 0, 0, true, false),
            ("we sent since", true, true, 0, 1, false, false),
            ("the item started here", false, true, 0, 0, false, false),
        ];
        for (what, reserved, linked, applied, sent, known, want) in table {
            let mut t = twin();
            t.reservation = reserved.then(|| "r".to_string());
            if linked {
                t.local_key = Some(created.key.clone());
                t.base_item = Some(created.clone());
            }
            t.in_version = applied;
            t.out_version = sent;
            t.previous = known.then(|| json!({"summary": "item 2"}));
            let stand_in = t.created_unrecorded();
            assert_eq!(stand_in.is_some(), want, "{what}");
            if !want {
                continue;
            }
            // Their v3 changed the summary only; a person here set the description and
            // the severity. Their item is the newer one.
            let local = Item {
                description: "description 89 on a".into(),
                custom_fields: [("severity".to_string(), json!(2))].into(),
                updated_ms: 2_000,
                ..created.clone()
            };
            let remote = Item {
                summary: "summary 101 on b".into(),
                updated_ms: 3_000,
                ..created.clone()
            };
            let settings = ConflictSettings {
                default: ConflictPolicy::NewestWins,
                fields: Default::default(),
            };
            let ctx = MergeContext {
                settings: &settings,
                local_node: "node-a",
                remote_node: "node-b",
                remote_updated_ms: remote.updated_ms,
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                unseen_moved: &[],
                held_at_ack: None,
                since_sent: SinceSent::NothingApplied,
            };
            let out = merge_items(&ctx, t.base_item.as_ref(), &local, &remote, stand_in);
            assert_eq!(out.merged.summary, "summary 101 on b", "{what}");
            assert_eq!(out.merged.description, "description 89 on a", "{what}");
            assert_eq!(out.merged.custom_fields, local.custom_fields, "{what}");
            assert!(out.conflicts.is_empty(), "{what}");
        }
    }

    #[test]
    fn the_attempts_overtaken_are_the_unrecorded_older_replicas_of_the_same_record() {
        let mut t = twin();
        let (v2, v3) = (json!({"status": "Doing"}), json!({"status": "To Do"}));
        t.keep_attempt(attempt(2, &v2));
        t.keep_attempt(attempt(3, &v3));
        // (the replica in hand, its record) -> the replicas overtaken
        let cases = [
            (3, "s1", vec![&v2]),
            (4, "s1", vec![&v2, &v3]),
            (2, "s1", vec![]),
            (4, "s2", vec![]),
        ];
        for (version, source, want) in cases {
            let got: Vec<&Value> = t.attempts_overtaken(version, source).collect();
            assert_eq!(got, want, "v{version} {source}");
        }
        // An attempt kept again replaces itself; only the last three are kept.
        for v in [3, 4, 5, 6] {
            t.keep_attempt(attempt(v, &v3));
        }
        let kept: Vec<u64> = t.apply_attempts.iter().map(|a| a.version).collect();
        assert_eq!(kept, [4, 5, 6]);
        // Applied here since: none is unrecorded.
        t.in_version = 6;
        assert_eq!(t.attempts_overtaken(7, "s1").count(), 0);
    }
}
