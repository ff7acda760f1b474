//! How a twin's record changes as its replicas are sent, applied and acknowledged (the
//! lease an apply takes is in `twin_lease`). Pure: the handlers read the twin, call one
//! of these, and store the result with a conditional write.

use crate::crossing::members_apart;
use crate::item::Item;
use crate::twin::{EARLIER_SENDS_KEPT, EarlierSend, Twin, TwinStatus};
use serde_json::Value;
use std::collections::BTreeMap;

mod ack;
mod errors;

/// Which of our sends count as having reached the other side, for what their comments
/// and files carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendsCounted {
    /// Every send, acknowledged or not: the unacknowledged ones are on their way.
    All,
    /// Only the acknowledged ones: the others went to a record of the other side that a
    /// newer one replaced, and may have been dropped there.
    Acknowledged,
}

/// What an apply wrote, for [`Twin::record_apply`].
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// Our outgoing replica of the item as the other side now has it.
    pub view: Value,
    /// Our outgoing replica of the item as the write left it. It differs from `view` in
    /// the members where the item holds a value of its own, not the replica's: one the
    /// merge kept (it goes back as a change), or one a person set during the write.
    pub own: Value,
    /// The local item version `view` stands for (0: the next change event must read).
    pub baseline_version: u64,
    /// The local item as both sides now agree on it: the next merge base.
    pub base_item: Item,
    /// The replica applied (the scripts' `previous` next time).
    pub previous: Value,
    pub version: u64,
    /// How many of our replicas the sender had applied when it built this one
    /// ([`Twin::applied_of_ours`]).
    pub applied_in: Option<u64>,
    /// Our send that replica was built on, as our outgoing rules make it, where it is
    /// the other side's first replica and no previous one is known
    /// ([`Twin::first_replica_built_on`]): the names it shares with that send are ours
    /// coming back, not its own additions ([`Twin::note_crossing`]).
    pub built_on: Option<Value>,
    /// The sender's twin record the version counts on (empty from old senders).
    pub source_twin: String,
    pub source_key: String,
    pub source_url: String,
    pub local_url: String,
}

impl Twin {
    /// Records a new replica of `item` (`replica`, in our outgoing vocabulary) about to be
    /// sent; returns its version. The merge base moves only when the other side
    /// acknowledges it: a replica it sent before seeing this one must still be merged
    /// against what both sides agreed on.
    pub fn record_send(&mut self, replica: Value, item: &Item, now_ms: i64) -> u64 {
        // Measured now, against what this send was built on: its base, or before the
        // first ack the send before it. The base moves with every apply, and a later
        // look would count the other side's values as ours (seed 427 of V6: a value
        // taken from the other side's replica, carried by our next send, became our
        // change). `record_send` does not move the base, so this is `sent_changed` below
        // where there is one.
        // A first send moves every field it sets: a replica of the other side built
        // without it crosses it, and the other side weighs each such field against its
        // own (simulation seed 21533 of V6 at 300 steps).
        let built_on = self.base_item.as_ref().or(self.sent_item.as_ref());
        let sent_moved = Some(crate::merge::changed_fields(
            built_on.unwrap_or(&Item::default()),
            item,
        ));
        // What the send before carried the same way: a replica built on that send lacks
        // none of it (simulation seed 22273 of V6 at 300 steps: a send repeating the
        // summary of the send the other side had built on made that side's later summary
        // look crossed by ours).
        // Only with nothing of theirs applied since that send: a value of theirs taken
        // between, then set back to ours, is ours again, and they lack it.
        let before = self
            .sent_item
            .as_ref()
            .filter(|_| self.sent_in_version == self.in_version);
        let repeated: Vec<String> = match (before, sent_moved.as_ref()) {
            (Some(before), Some(moved)) => {
                let again = crate::merge::changed_fields(before, item);
                moved
                    .iter()
                    .filter(|f| !again.contains(f))
                    .cloned()
                    .collect()
            }
            _ => Vec::new(),
        };
        // Where the item changed since the other side was last believed to have it, it
        // no longer holds what a replica applied here crossing an earlier send said.
        let moved = self
            .baseline
            .as_ref()
            .map(|baseline| members_apart(&replica, baseline));
        if self.acked_version < self.out_version
            && let Some(previous) = self.sent_item.take()
        {
            self.earlier_sends.push(EarlierSend {
                version: self.out_version,
                item: previous,
                in_version: self.sent_in_version,
                crossed: std::mem::take(&mut self.sent_crossed),
                changed: self.sent_moved.take(),
                repeated: std::mem::take(&mut self.sent_repeated),
            });
            // The oldest unacknowledged send stays: when acks stop coming (the other
            // side paused or unreachable), its replicas in flight were built on it, and
            // without it they merge against no base, undoing every edit made here since
            // (simulation seed 1332 of V5: four sends unacked, the first one forgotten).
            let over = self.earlier_sends.len().saturating_sub(EARLIER_SENDS_KEPT);
            if over > 0 {
                let trimmed = self.earlier_sends.drain(1..=over).next();
                // The first send kept after them carries the crossing notes of the oldest
                // (which hold every member a later send's do, with values as old or
                // older): the ack of a trimmed send is taken against them, not whole, or
                // a crossing replica's change the view shows as before drops out of
                // `previous` (simulation seed 1060 of V5: a label the other side added,
                // then removed, stayed here for good).
                if let (Some(trimmed), Some(next)) = (trimmed, self.earlier_sends.get_mut(1)) {
                    next.crossed.extend(trimmed.crossed);
                    // The send it repeated is gone, so nothing of it counts as repeated.
                    next.repeated.clear();
                    // What the trimmed send moved, the other side still gets from the
                    // first send kept after it.
                    if let (Some(changed), Some(more)) = (next.changed.as_mut(), trimmed.changed) {
                        changed.extend(more);
                        changed.sort();
                        changed.dedup();
                    }
                }
            }
        }
        match moved {
            // A name the send moved takes its place in `previous` (labels go name by name).
            Some(moved) => {
                let previous = self.previous.clone();
                self.forget_crossing(&moved, previous.as_ref());
            }
            // No baseline (a first send, or a retry): nothing is known to be held.
            None => self.forget_all_crossing(),
        }
        // Nothing applied here has crossed the new send yet.
        self.sent_crossed = BTreeMap::new();
        self.out_version += 1;
        self.baseline = Some(replica);
        self.baseline_version = item.version;
        self.sent_changed = self
            .base_item
            .is_some()
            .then(|| sent_moved.clone())
            .flatten();
        self.sent_moved = sent_moved;
        self.sent_repeated = repeated;
        self.sent_item = Some(item.clone());
        self.sent_in_version = self.in_version;
        self.local_url = Some(item.url.clone());
        // A new send is a new attempt, so an earlier error no longer describes the twin.
        self.status = TwinStatus::Syncing;
        self.dead_letter = None;
        self.updated_ms = now_ms;
        self.out_version
    }

    /// Names the other side's twin record a replica comes from, when none is known yet.
    /// It is stored with the lease, before the apply writes anything, so the pair is
    /// known even if the apply stops before [`Twin::record_apply`]: an Unlink here can
    /// then be told again to that record, and a Relink names it (simulation seed 1388).
    /// A known record stays; a newer one is taken when its apply is recorded.
    pub fn learn_remote_twin(&mut self, source_twin: &str) {
        if self.remote_twin.is_none() && !source_twin.is_empty() {
            self.remote_twin = Some(source_twin.to_string());
        }
    }

    /// Records a replica applied here and gives the lease back.
    pub fn record_apply(&mut self, applied: Applied, now_ms: i64) {
        self.note_crossing(
            &applied.previous,
            &applied.view,
            &applied.own,
            applied.applied_in,
            applied.built_on.as_ref(),
        );
        self.baseline = Some(applied.view);
        self.baseline_version = applied.baseline_version;
        self.base_item = Some(applied.base_item);
        self.previous = Some(applied.previous);
        self.in_version = applied.version;
        // The view of an ack not taken that waited for exactly this replica is what the
        // other side held after it and after the sends of ours that ack answered: its
        // next replica is measured against the view, as if the ack had come now. Dropped,
        // the replica stood for the other side's state, and a person's edit there back
        // to the replica's value, made after it took ours, looked like no change here
        // (simulation seed 32995 of V6 at 300 steps).
        // Where a later ack's view replaced the one this replica waited for, that one is
        // taken now and the later one waits on for its own replica (seed 48991 of V6).
        match self.view_not_taken.take() {
            Some(held) if held.remote_out_version == applied.version => self.take_held(&held),
            Some(mut held) => {
                let earlier = held.earlier.take();
                if let Some(earlier) = earlier.filter(|e| e.remote_out_version == applied.version) {
                    self.take_held(&earlier);
                    self.view_not_taken = Some(held);
                }
            }
            None => {}
        }
        if !applied.source_twin.is_empty() {
            self.remote_twin = Some(applied.source_twin);
        }
        self.remote_key = Some(applied.source_key);
        self.remote_url = Some(applied.source_url);
        self.local_url = Some(applied.local_url);
        self.status = TwinStatus::Synced;
        self.dead_letter = None;
        self.applying_until_ms = 0;
        self.lease_released = false;
        // The item is linked and has a base now: what created it no longer counts.
        self.first_apply_replica = None;
        self.apply_attempts.clear();
        self.created_nothing = false;
        self.updated_ms = now_ms;
    }

    /// Whether this twin was reserved for a replica of the other side whose first apply
    /// is not recorded yet (a crash or a retryable failure stopped it): its item, if
    /// created, holds that replica, not a change of ours, and has no baseline to compare
    /// with. Outgoing waits for the apply instead of sending the item as new (simulation
    /// seed 284). A twin in Error has stopped waiting.
    pub fn awaits_first_apply(&self) -> bool {
        self.reservation.is_some()
            && self.in_version == 0
            && self.out_version == 0
            && !matches!(self.status, TwinStatus::Error(_))
    }

    /// How many of this record's replicas the sender of a replica had applied: its
    /// `applied_in`, which counts on the record of ours it names (`applied_twin`). A
    /// count on another record of ours (one this twin replaced, its versions counted
    /// from 1 as ours do) says the sender had applied none of this one's: read as ours,
    /// it made a send the sender never saw the merge base and the sender's older values
    /// its changes, and the pair swapped an assignee and labels (simulation seed 279 of
    /// V5 at 300 steps). Unnamed (older senders), the count is taken as it is.
    pub fn applied_of_ours(
        &self,
        applied_in: Option<u64>,
        applied_twin: Option<&str>,
    ) -> Option<u64> {
        match applied_twin {
            Some(named) if named != self.id => applied_in.map(|_| 0),
            _ => applied_in,
        }
    }

    /// The item of our send that a replica says its sender had applied (`applied_in`),
    /// when the ack of that send has not reached us and nothing came in here since it:
    /// what we sent then is what both sides agreed on when the replica was built. The
    /// ack normally comes first (same FIFO group), but a pause parks messages still in
    /// `transport` behind ones sent straight to the held queue, so the sender's next
    /// replica can overtake it; merged against no base, that replica then undid every
    /// edit made here since our send (simulation seeds 680 and 1872 of generator V4).
    /// For a send `record_send` trimmed, the one kept before it stands in
    /// (`earlier_send_up_to`).
    pub fn send_seen_unacked(&self, applied_in: Option<u64>) -> Option<&Item> {
        let seen = applied_in?;
        if seen == 0 || seen <= self.acked_version || seen > self.out_version {
            return None;
        }
        if seen == self.out_version {
            return self
                .sent_item
                .as_ref()
                .filter(|_| self.sent_in_version == self.in_version);
        }
        self.earlier_send_up_to(seen).map(|e| &e.item)
    }

    /// Our send a first replica of the other side's was built on (`applied_in`), where
    /// no previous replica of theirs is known and nothing came in here yet: the merge
    /// takes it as the other side's previous state ([`Twin::send_seen_unacked`]), and so
    /// does [`Twin::note_crossing`], through [`Applied::built_on`].
    pub fn first_replica_built_on(&self, applied_in: Option<u64>) -> Option<&Item> {
        let first = self.previous.is_none() && self.in_version == 0;
        first.then(|| self.send_seen_unacked(applied_in)).flatten()
    }

    /// Our earlier unacknowledged send `version`, with nothing applied here since it;
    /// where `record_send` trimmed it, the newest kept before it. That one is older than
    /// what the other side applied, but both sides shared it: merged against it, what
    /// changed here since counts as ours and a field both sides moved is a conflict for
    /// the policy. Against no base (none acknowledged yet, nothing applied), the other
    /// side's values won every field (simulation seed 2967 of V5 at 300 steps: six sends
    /// unacked, the other side's replica built on v2, trimmed for v1's sake; its stale
    /// summary, priority and assignee replaced a person's newer ones).
    fn earlier_send_up_to(&self, version: u64) -> Option<&EarlierSend> {
        self.earlier_sends
            .iter()
            .rev()
            .find(|e| e.version <= version)
            .filter(|e| e.in_version == self.in_version)
    }

    /// Whether a replica that says its sender had applied `applied_in` of ours crosses
    /// a first replica we sent: neither side had seen the other's item when it built its
    /// own, so there is no common base and every field both set differently is a
    /// conflict for the policy, decided alike on both sides (simulation seeds 78, 89).
    pub fn crosses_first_send(&self, applied_in: Option<u64>) -> bool {
        applied_in == Some(0) && self.out_version > 0 && self.in_version == 0
    }

    /// Whether the replica's sender may never get the sends of ours it has neither
    /// applied (`applied_in`) nor acknowledged: it comes from a twin record of the other
    /// side (`source_twin`) other than the one this twin knew, so the pair was relinked
    /// there (or its store wiped). Those sends went to the record it replaced, and a
    /// record unlinked there drops them without a word; a Relink that names no record
    /// of ours then resumes this twin, which counted their comments and files as sent,
    /// and they never went out (simulation seed 145 of V5 at 300 steps).
    /// A twin that has heard from no record of the other side (no apply or ack recorded)
    /// knows none: the record an apply's lease named (`learn_remote_twin`, this very
    /// replica's among them) says nothing of where our sends went. A replica that applied
    /// none of them then counts as from another record: it may come from one newer than
    /// the record that dropped them (seed 693 of V5 at 300 steps: a twin made by our
    /// Relink sent its first replica to a record unlinked there by a crashed Unlink, and
    /// the other node's later Relink named no record of ours), or it crossed them on
    /// their way, and sent again, a comment it has comes back linked by its marker.
    pub fn sends_reaching(&self, source_twin: &str, applied_in: Option<u64>) -> SendsCounted {
        let heard_from = self.in_version > 0 || self.acked_version > 0;
        let elsewhere = match self.remote_twin.as_deref().filter(|_| heard_from) {
            Some(known) => known != source_twin,
            None => applied_in == Some(0),
        };
        let unseen = applied_in.is_some_and(|seen| seen < self.out_version)
            && self.acked_version < self.out_version
            && !source_twin.is_empty()
            && elsewhere;
        match unseen {
            true => SendsCounted::Acknowledged,
            false => SendsCounted::All,
        }
    }

    /// The ids of local comments the other side has or was sent: linked ones, and those
    /// in the merge base or in a replica sent since, as `counted` says (see
    /// [`Twin::sends_reaching`]).
    pub fn comments_sent(&self, counted: SendsCounted) -> std::collections::BTreeSet<String> {
        self.comment_links
            .iter()
            .map(|l| l.local_id.clone())
            .chain(
                self.items_sent(counted)
                    .into_iter()
                    .flat_map(|i| i.comments.iter().map(|c| c.id.clone())),
            )
            .collect()
    }

    /// The local items the other side has or was sent: the merge base and the items of
    /// the replicas sent since, as `counted` says.
    fn items_sent(&self, counted: SendsCounted) -> Vec<&Item> {
        let mut items: Vec<&Item> = self.base_item.iter().collect();
        let all = counted == SendsCounted::All;
        if all || self.acked_version >= self.out_version {
            items.extend(self.sent_item.iter());
        }
        if all {
            items.extend(self.earlier_sends.iter().map(|e| &e.item));
        }
        items
    }

    /// The ids of local attachments the other side has or was sent: those in the merge
    /// base or in a replica sent since, as `counted` says.
    pub fn attachments_sent(&self, counted: SendsCounted) -> std::collections::BTreeSet<String> {
        self.items_sent(counted)
            .into_iter()
            .flat_map(|i| i.attachments.iter().map(|a| a.id.clone()))
            .collect()
    }

    /// Whether a change event for `observed_version` of the local item is news: not when
    /// the baseline was made from exactly that version (our own write's echo, or a
    /// version already sent) and the other side has acknowledged everything sent. An
    /// event without a version (0) is always news. Ingest drops what is not news before
    /// it is queued, outgoing again before it reads the tracker.
    pub fn is_news(&self, observed_version: u64) -> bool {
        observed_version == 0
            || self.baseline.is_none()
            || self.baseline_version != observed_version
            || self.acked_version < self.out_version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::AckMessage;
    use serde_json::json;

    #[test]
    fn a_twin_reserved_by_a_replica_awaits_its_first_apply() {
        // (reserved, in, out, error) -> awaits
        let table = [
            (true, 0, 0, false, true),
            (true, 1, 0, false, false),
            (true, 0, 1, false, false),
            (true, 0, 0, true, false),
            (false, 0, 0, false, false),
        ];
        for (reserved, inv, out, error, awaits) in table {
            let mut t = twin();
            t.reservation = reserved.then(|| "r".to_string());
            t.in_version = inv;
            t.out_version = out;
            if error {
                t.status = TwinStatus::Error("x".into());
            }
            assert_eq!(
                t.awaits_first_apply(),
                awaits,
                "{reserved} {inv} {out} {error}"
            );
        }
    }

    #[test]
    fn a_replica_built_before_its_sender_saw_ours_crosses_our_first_send() {
        // (sender applied, our out, our in) -> crosses
        let table = [
            (Some(0), 1, 0, true),
            // We have not sent anything: an ordinary first replica.
            (Some(0), 0, 0, false),
            // It had applied ours: built on top of it.
            (Some(1), 1, 0, false),
            // We had applied one of theirs: not a first exchange.
            (Some(0), 1, 1, false),
            // An older sender does not say.
            (None, 1, 0, false),
        ];
        for (applied_in, out, inv, crosses) in table {
            let mut t = twin();
            t.out_version = out;
            t.in_version = inv;
            assert_eq!(
                t.crosses_first_send(applied_in),
                crosses,
                "{applied_in:?} {out} {inv}"
            );
        }
    }

    fn twin() -> Twin {
        Twin::new("t1".into(), "c1".into(), 1_000)
    }

    #[test]
    fn retry_forgets_the_baseline_of_a_twin_in_error_only() {
        let cases = [
            (TwinStatus::Error("remote: refused".into()), true),
            (TwinStatus::Synced, false),
            (TwinStatus::Syncing, false),
            (TwinStatus::Unlinked, false),
        ];
        for (status, changes) in cases {
            let mut t = Twin::new("t".into(), "c".into(), 0);
            t.baseline = Some(serde_json::json!({"summary": "a"}));
            t.status = status.clone();
            assert_eq!(t.prepare_retry(5), changes, "{status:?}");
            assert_eq!(t.baseline.is_none(), changes, "{status:?}");
        }
    }

    #[test]
    fn news_table() {
        let settled = |baseline: bool, version: u64, out: u64, acked: u64| {
            let mut t = Twin::new("t".into(), "c".into(), 0);
            t.baseline = baseline.then(|| serde_json::json!({"summary": "s"}));
            t.baseline_version = version;
            t.out_version = out;
            t.acked_version = acked;
            t
        };
        // (twin, observed version, is news)
        let cases = [
            (settled(true, 7, 3, 3), 7, false),
            (settled(true, 7, 3, 3), 8, true),
            (settled(true, 7, 3, 3), 0, true),
            (settled(true, 7, 4, 3), 7, true),
            (settled(false, 7, 3, 3), 7, true),
            (settled(true, 0, 0, 0), 0, true),
        ];
        for (i, (twin, observed, news)) in cases.into_iter().enumerate() {
            assert_eq!(twin.is_news(observed), news, "case {i}");
        }
    }

    #[test]
    fn a_send_bumps_the_version_and_clears_an_error() {
        let mut t = twin();
        t.status = TwinStatus::Error("boom".into());
        t.in_version = 3;
        let item = Item {
            version: 7,
            url: "https://t/1".into(),
            ..Item::default()
        };
        assert_eq!(t.record_send(json!({"summary": "a"}), &item, 2_000), 1);
        assert_eq!(t.record_send(json!({"summary": "b"}), &item, 3_000), 2);
        assert_eq!(t.status, TwinStatus::Syncing);
        assert_eq!(
            (t.baseline_version, t.sent_in_version, t.updated_ms),
            (7, 3, 3_000)
        );
        assert_eq!(t.baseline, Some(json!({"summary": "b"})));
        assert_eq!(t.base_item, None, "the merge base waits for the ack");
    }

    #[test]
    fn a_send_records_the_fields_it_changed_from_its_base() {
        let base = Item {
            summary: "a".into(),
            labels: vec!["x".into()],
            ..Item::default()
        };
        let changed = Item {
            summary: "b".into(),
            ..base.clone()
        };
        // (base, item sent) -> fields changed; no base: every field counts.
        type Case<'a> = (Option<&'a Item>, &'a Item, Option<&'a [&'a str]>);
        let cases: [Case; 3] = [
            (None, &changed, None),
            (Some(&base), &base, Some(&[])),
            (Some(&base), &changed, Some(&["summary"])),
        ];
        for (base, sent, want) in cases {
            let mut t = twin();
            t.base_item = base.cloned();
            t.record_send(json!({}), sent, 2_000);
            let want: Option<Vec<String>> = want.map(|w| w.iter().map(|f| f.to_string()).collect());
            assert_eq!(t.sent_changed, want, "{base:?} {sent:?}");
        }
    }

    /// Simulation seed 3453 of V5: v1 went out with no base, v2 took the status to Doing
    /// before v1's ack came, v3 took it back to To Do after. A replica whose sender had
    /// applied v1 crosses the status change of v2 (measured against v1, sent before it),
    /// though v3 changed nothing from that base; one that had applied v3 crosses nothing.
    #[test]
    fn the_fields_our_unseen_sends_moved() {
        let status = |s: &str| Item {
            status: Some(crate::item::Named::new(s)),
            ..Item::default()
        };
        let mut t = twin();
        t.record_send(json!({}), &status("To Do"), 2_000);
        t.record_send(json!({}), &status("Doing"), 2_100);
        let mut a = ack(1, None);
        a.remote_view = None;
        t.record_ack(&a, 2_200);
        assert_eq!(t.base_item, Some(status("To Do")));
        t.record_send(json!({}), &status("To Do"), 2_300);
        assert_eq!(t.sent_moved, Some(Vec::new()), "v3 is the base value");
        // (the sender's applied_in) -> fields moved by our sends it had not applied
        let table: [(Option<u64>, &[&str]); 4] = [
            (Some(1), &["status"]),
            (Some(2), &[]),
            (Some(3), &[]),
            (None, &[]),
        ];
        for (applied_in, want) in table {
            assert_eq!(
                t.moved_by_unseen_sends(applied_in, 1),
                want,
                "{applied_in:?}"
            );
        }
    }

    /// Simulation seed 29792 of V6 at 300 steps: our sends v2 and v3 moved the
    /// description, then an apply took the other side's description over ours. Those
    /// moves are forgotten, for the last send and the earlier ones alike, so a replica of
    /// theirs built without v2 and v3 changes the description as their edit alone; what
    /// the sends moved besides it still counts.
    #[test]
    fn an_apply_that_took_their_value_over_ours_forgets_our_unseen_moves_of_it() {
        let edit = |d: &str, p: &str| Item {
            description: d.into(),
            priority: Some(crate::item::Named::new(p)),
            ..Item::default()
        };
        let superseded = ["description".to_string()];
        // (what, fields the apply took over ours) -> fields moved by our sends a
        // replica built on v1 lacks
        let table: [(&str, &[String], &[&str]); 3] = [
            ("nothing taken over ours", &[], &["description", "priority"]),
            ("their description taken", &superseded, &["priority"]),
            (
                "a field no send moved",
                &["summary".to_string()],
                &["description", "priority"],
            ),
        ];
        for (what, taken, want) in table {
            let mut t = twin();
            t.record_send(json!({}), &edit("d1", "Low"), 2_000);
            let mut a = ack(1, None);
            a.remote_view = None;
            t.record_ack(&a, 2_100);
            t.record_send(json!({}), &edit("d2", "Low"), 2_200);
            t.record_send(json!({}), &edit("d2", "High"), 2_300);
            t.supersede_moves(taken);
            assert_eq!(t.moved_by_unseen_sends(Some(1), 1), want, "{what}");
        }
    }

    /// Simulation seed 1929 of V6 at 300 steps: our send (no base yet) set In Progress,
    /// and the apply of their crossing replica took their Done over it. Their ack's view
    /// then showed our In Progress, as a view does where the acker kept its own value, and
    /// kept it as our echo: their person's later In Progress was taken for ours coming
    /// back, and our Done went over it. The status is no echo of ours any more, whether
    /// the ack comes before the apply or after it; what the apply did not take stays one.
    #[test]
    fn an_apply_that_took_their_value_over_ours_ends_our_echo_of_it() {
        let item = |status: &str| Item {
            summary: "ours".into(),
            status: Some(crate::item::Named::new(status)),
            ..Item::default()
        };
        let status = ["status".to_string()];
        let priority = ["priority".to_string()];
        // (what, base, fields the apply took over ours, the ack first) -> `sent_changed`
        // after the apply and the ack
        type Case<'a> = (&'a str, Option<Item>, &'a [String], bool, &'a [&'a str]);
        let table: [Case; 6] = [
            (
                "nothing taken over ours",
                None,
                &[],
                false,
                &["summary", "status"],
            ),
            ("their status taken", None, &status, false, &["summary"]),
            (
                "their status taken after the ack",
                None,
                &status,
                true,
                &["summary"],
            ),
            ("with a base", Some(item("Open")), &status, false, &[]),
            (
                "with a base, nothing taken",
                Some(item("Open")),
                &[],
                false,
                &["status"],
            ),
            (
                "a field the send did not move",
                Some(item("Open")),
                &priority,
                false,
                &["status"],
            ),
        ];
        for (what, base, taken, ack_first, want) in table {
            let mut t = twin();
            t.base_item = base;
            let sent = item("In Progress");
            t.record_send(json!({}), &sent, 2_000);
            if ack_first {
                t.record_ack_viewed(&ack(1, None), Some(&sent), 2_100);
                t.supersede_moves(taken);
            } else {
                t.supersede_moves(taken);
                t.record_ack_viewed(&ack(1, None), Some(&sent), 2_100);
            }
            let want: Vec<String> = want.iter().map(|f| f.to_string()).collect();
            assert_eq!(t.sent_changed, Some(want), "{what}");
        }
    }

    /// Simulation seed 22273 of V6 at 300 steps: a send repeating a value the send before
    /// it carried moves nothing a replica built on that send lacks, though it still
    /// differs from the base. Where the sender applied that send only after building its
    /// replica (its ack came since), the repeat still counts.
    #[test]
    fn a_send_repeating_the_one_before_moves_nothing_a_replica_built_on_it_lacks() {
        let summary = |s: &str, p: &str| Item {
            summary: s.into(),
            priority: Some(crate::item::Named::new(p)),
            ..Item::default()
        };
        let sends = |t: &mut Twin| {
            t.base_item = Some(summary("S1", "Low"));
            t.record_send(json!({}), &summary("S2", "Low"), 2_000);
            t.record_send(json!({}), &summary("S2", "High"), 2_100);
        };
        let mut t = twin();
        sends(&mut t);
        assert_eq!(t.sent_repeated, vec!["summary".to_string()]);
        assert_eq!(
            t.sent_changed,
            Some(vec!["summary".to_string(), "priority".to_string()]),
            "the echo rules count the repeat as the send's"
        );
        let mut acked = twin();
        sends(&mut acked);
        let mut a = ack(1, None);
        a.remote_view = None;
        acked.record_ack(&a, 2_200);
        // (what, twin, the sender's applied_in) -> fields moved by our sends it lacked
        let table: [(&str, &Twin, Option<u64>, &[&str]); 5] = [
            (
                "built on nothing of ours",
                &t,
                Some(0),
                &["priority", "summary"],
            ),
            ("built on the first send", &t, Some(1), &["priority"]),
            ("built on both", &t, Some(2), &[]),
            (
                "built before the first send, acked since",
                &acked,
                Some(0),
                &["priority", "summary"],
            ),
            (
                "built on the first send, acked since",
                &acked,
                Some(1),
                &["priority"],
            ),
        ];
        for (what, twin, applied_in, want) in table {
            assert_eq!(twin.moved_by_unseen_sends(applied_in, 1), want, "{what}");
        }
        // A replica of theirs applied between the two sends: the summary set again may be
        // ours over a value of theirs taken between, which they lack (seeds 635, 20055,
        // 20291 and 20581 of V6 at 300 steps, swept with the first version of this).
        let mut between = twin();
        between.base_item = Some(summary("S1", "Low"));
        between.record_send(json!({}), &summary("S2", "Low"), 2_000);
        between.in_version = 1;
        between.record_send(json!({}), &summary("S2", "High"), 2_100);
        assert!(between.sent_repeated.is_empty());
        assert_eq!(
            between.moved_by_unseen_sends(Some(1), 1),
            ["priority", "summary"]
        );
    }

    /// Simulation seed 21533 of V6 at 300 steps: a first send, built on nothing, moves
    /// every field it sets. A replica of the other side built without it (a relinked
    /// pair's crossing sends) crosses those fields; the echo rules still count every
    /// field as that send's (`sent_changed` stays `None`).
    #[test]
    fn a_first_send_moves_the_fields_it_sets() {
        let first = Item {
            summary: "ours".into(),
            status: Some(crate::item::Named::new("Doing")),
            ..Item::default()
        };
        let mut t = twin();
        t.record_send(json!({}), &first, 2_000);
        assert_eq!(t.sent_changed, None);
        // (the sender's applied_in) -> fields moved by our sends it had not applied
        let table: [(Option<u64>, &[&str]); 3] = [
            (Some(0), &["status", "summary"]),
            (Some(1), &[]),
            (None, &[]),
        ];
        for (applied_in, want) in table {
            assert_eq!(
                t.moved_by_unseen_sends(applied_in, 1),
                want,
                "{applied_in:?}"
            );
        }
    }

    /// Simulation seed 22056 of V6 at 300 steps: the ack of our second send overtook the
    /// first one's (a batch lost and sent again), its view not taken (built on a
    /// replica of theirs not applied here). With no previous replica known, the first
    /// ack's view becomes `previous`, what their first replica, built on our first send,
    /// is measured against; a known `previous`, or a view built on replicas we have not
    /// applied, stays out.
    #[test]
    fn an_overtaken_acks_view_is_the_previous_replica_when_none_is_known() {
        let sent = |severity: Option<i64>| {
            let mut i = Item {
                summary: "S".into(),
                ..Item::default()
            };
            if let Some(v) = severity {
                i.custom_fields.insert("severity".into(), json!(v));
            }
            i
        };
        let first_view = json!({"summary": "S"});
        // (what, previous before, the first ack's remote_out_version) -> previous after
        let table: [(&str, Option<Value>, u64, Option<Value>); 3] = [
            ("none known: taken", None, 0, Some(first_view.clone())),
            (
                "one known: kept",
                Some(json!({"summary": "theirs"})),
                0,
                Some(json!({"summary": "theirs"})),
            ),
            ("built on a replica not applied here", None, 1, None),
        ];
        for (what, previous, remote_out, want) in table {
            let mut t = twin();
            t.base_item = Some(sent(None));
            t.record_send(json!({"summary": "S"}), &sent(None), 2_000);
            t.record_send(
                json!({"summary": "S", "severity": 3}),
                &sent(Some(3)),
                2_100,
            );
            t.previous = previous;
            let mut second = ack(2, None);
            second.remote_view = Some(json!({"summary": "S", "severity": 3}));
            second.remote_out_version = 1;
            t.record_ack(&second, 2_200);
            let mut first = ack(1, None);
            first.remote_view = Some(first_view.clone());
            first.remote_out_version = remote_out;
            t.record_ack(&first, 2_300);
            assert_eq!(t.previous, want, "{what}");
        }
    }

    /// The ack of our last send, its view taken as the acker's previous replica, ends
    /// that send's echoes: `previous` says what the acker made of it (seed 2632 of V5).
    /// A view not taken (built on replicas not applied here), or the ack of an earlier
    /// send, leaves them.
    #[test]
    fn a_taken_ack_view_of_our_last_send_ends_its_echoes() {
        let sent = Item {
            summary: "ours".into(),
            ..Item::default()
        };
        let changed = Some(vec!["summary".to_string()]);
        // (sends, acked version, ack's remote_out_version) -> sent_changed after
        type Case = (u64, u64, u64, Option<Vec<String>>);
        let table: [Case; 3] = [
            (1, 1, 0, Some(Vec::new())),
            (1, 1, 1, changed.clone()),
            (2, 1, 0, changed.clone()),
        ];
        for (sends, acked, remote_out, want) in table {
            let mut t = twin();
            t.base_item = Some(Item::default());
            for _ in 0..sends {
                t.record_send(json!({"summary": "ours"}), &sent, 2_000);
            }
            let mut a = ack(acked, None);
            a.remote_out_version = remote_out;
            t.record_ack(&a, 3_000);
            assert_eq!(t.sent_changed, want, "{sends} {acked} {remote_out}");
        }
    }

    fn ack(applied: u64, error: Option<&str>) -> AckMessage {
        AckMessage {
            connection_id: "c1".into(),
            from_node: "b".into(),
            source_key: "A-1".into(),
            target_key: Some("B-1".into()),
            target_url: Some("https://b/1".into()),
            applied_version: applied,
            source_twin: "t1".into(),
            comment_links: Vec::new(),
            remote_view: Some(json!({"summary": "theirs"})),
            remote_out_version: 0,
            error: error.map(str::to_string),
            acker_twin: Some("b-record".into()),
            trace_id: String::new(),
        }
    }

    #[test]
    fn an_ack_names_the_other_sides_record_until_a_replica_does() {
        // (remote_twin before, ack's acker_twin) -> remote_twin after
        let table = [
            (None, Some("b1"), Some("b1")),
            (Some("b0"), Some("b1"), Some("b0")),
            (None, None, None),
        ];
        for (before, acker, after) in table {
            let mut t = twin();
            t.remote_twin = before.map(str::to_string);
            let mut a = ack(1, None);
            a.acker_twin = acker.map(str::to_string);
            t.record_ack(&a, 1);
            assert_eq!(t.remote_twin.as_deref(), after, "{before:?} {acker:?}");
        }
    }

    #[test]
    fn ack_table() {
        let sent = Item {
            summary: "sent".into(),
            ..Item::default()
        };
        // (out, in, sent_in, ack applied, error) -> (status, acked, base is the sent item)
        let table = [
            // The latest replica, nothing applied since: synced, and the base moves.
            (2, 0, 0, 2, None, TwinStatus::Synced, 2, true),
            // An older replica: still syncing, the base stays.
            (2, 0, 0, 1, None, TwinStatus::Syncing, 1, false),
            // A replica came back in between: synced, but the base is the apply's.
            (2, 1, 0, 2, None, TwinStatus::Synced, 2, false),
            // A negative ack: the error, nothing else moves.
            (
                2,
                0,
                0,
                2,
                Some("no such project"),
                TwinStatus::Error("remote: no such project".into()),
                0,
                false,
            ),
        ];
        for (out, inv, sent_in, applied, error, status, acked, base_moved) in table {
            let mut t = twin();
            t.out_version = out;
            t.in_version = inv;
            t.sent_in_version = sent_in;
            t.sent_item = Some(sent.clone());
            t.status = TwinStatus::Syncing;
            t.record_ack(&ack(applied, error), 9_000);
            assert_eq!(t.status, status, "{out} {inv} {applied} {error:?}");
            assert_eq!(t.acked_version, acked);
            assert_eq!(t.base_item.is_some(), base_moved);
            assert_eq!(t.updated_ms, 9_000);
            assert_eq!(t.remote_key.is_some(), error.is_none());
        }
    }

    /// The acker's view is the remote's previous state only when we have applied every
    /// replica it had sent when it built the view (simulation seed 1958 of V4).
    #[test]
    fn an_ack_view_is_taken_only_with_the_replicas_it_was_built_on() {
        // (our in_version, the ack's remote_out_version) -> view taken
        let table = [(0, 0, true), (2, 2, true), (1, 2, false), (3, 2, false)];
        for (inv, remote_out, taken) in table {
            let mut t = twin();
            t.out_version = 1;
            t.in_version = inv;
            let mut a = ack(1, None);
            a.remote_out_version = remote_out;
            t.record_ack(&a, 1);
            assert_eq!(
                t.previous.is_some(),
                taken,
                "in {inv}, remote out {remote_out}"
            );
        }
    }

    /// A view not taken because a replica it was built on is missing here is kept for
    /// the replicas built after it on the send it answered (simulation seed 1351 of V6),
    /// until an apply or a view taken replaces it.
    #[test]
    fn a_view_not_taken_is_held_for_replicas_built_after_it() {
        let mut t = twin();
        t.out_version = 4;
        let mut a = ack(3, None);
        a.remote_out_version = 1;
        t.record_ack(&a, 1);
        assert_eq!(t.previous, None, "not taken: their v1 never came");
        // (the replica's version, what its sender had applied of ours) -> held
        let table = [
            (2, Some(3), true),
            (2, Some(4), true),
            (1, Some(3), false),
            (2, Some(2), false),
            (2, None, false),
        ];
        for (version, applied_in, held) in table {
            assert_eq!(
                t.view_held_for(version, applied_in).is_some(),
                held,
                "v{version} on {applied_in:?}"
            );
        }
        let mut replaced = t.clone();
        replaced.record_apply(applied(json!({"summary": "theirs"}), 2), 2);
        assert_eq!(replaced.view_not_taken, None, "an apply replaces it");
        let mut taken = ack(4, None);
        taken.remote_out_version = 0;
        t.record_ack(&taken, 3);
        assert!(t.previous.is_some());
        assert_eq!(t.view_not_taken, None, "a view taken replaces it");
    }

    /// Simulation seed 32995 of V6 at 300 steps: the ack of our last send (v3) came
    /// before their v1, built before they applied our v2 and v3, and its view (High,
    /// ours taken) waited for v1. With v1 applied, the view is their previous replica,
    /// so their v2 carrying a person's Medium, v1's value too, is their change here.
    /// Another replica than the one the view waited for leaves `previous` at the
    /// replica, as before.
    #[test]
    fn a_held_view_is_taken_once_the_replica_it_waited_for_is_applied() {
        // (the replica applied, its version) -> previous
        let table = [
            (
                "the replica the view waited for",
                1,
                json!({"priority": "High"}),
            ),
            ("a later replica", 2, json!({"priority": "Medium"})),
        ];
        for (what, version, want) in table {
            let mut t = twin();
            for v in 1..=3 {
                t.record_send(json!({"priority": "High"}), &Item::default(), v);
            }
            let mut a = ack(3, None);
            a.remote_view = Some(json!({"priority": "High"}));
            a.remote_out_version = 1;
            t.record_ack(&a, 4);
            assert!(t.view_not_taken.is_some(), "{what}: held");
            t.record_apply(applied(json!({"priority": "Medium"}), version), 5);
            assert_eq!(t.previous, Some(want), "{what}");
            assert_eq!(t.view_not_taken, None, "{what}: an apply ends it");
        }
    }

    /// Simulation seed 27570 of V6 at 300 steps: the ack of our last send, whose view
    /// waits for a replica of theirs not applied here (built on our first send, before
    /// they applied the second), came first. That replica, when it comes, crosses both
    /// our sends as if neither were acknowledged; one built after the ack crosses none.
    #[test]
    fn sends_an_ack_answered_stay_unseen_by_the_replicas_its_view_waits_for() {
        let item = |s: &str, p: &str| Item {
            summary: s.into(),
            priority: Some(crate::item::Named::new(p)),
            ..Item::default()
        };
        let mut t = twin();
        t.base_item = Some(item("S1", "Low"));
        t.record_send(json!({}), &item("S2", "Low"), 2_000);
        t.record_send(json!({}), &item("S2", "High"), 2_100);
        let mut a = ack(2, None);
        a.remote_out_version = 1;
        t.record_ack(&a, 2_200);
        assert_eq!(t.previous, None, "not taken: their v1 has not come");
        assert_eq!(
            t.base_item,
            Some(item("S2", "High")),
            "the base moves as before"
        );
        // (their replica's version, what its sender had applied of ours) -> fields moved
        // by our sends it lacked
        let table: [(u64, Option<u64>, &[&str]); 4] = [
            (1, Some(0), &["priority", "summary"]),
            (1, Some(1), &["priority"]),
            (2, Some(2), &[]),
            (1, None, &[]),
        ];
        for (version, applied_in, want) in table {
            assert_eq!(
                t.moved_by_unseen_sends(applied_in, version),
                want,
                "v{version} on {applied_in:?}"
            );
        }
        // An apply drops the view not taken, and with it what the ack answered.
        t.record_apply(applied(json!({"summary": "theirs"}), 1), 2_300);
        assert_eq!(t.moved_by_unseen_sends(Some(1), 2), Vec::<String>::new());
    }

    /// An ack of an older replica than one already acknowledged leaves `previous` as the
    /// newer ack's view set it (simulation seed 1018 of V1).
    #[test]
    fn an_ack_older_than_one_acknowledged_leaves_the_view_alone() {
        // (acks in the order they come) -> the view `previous` ends with
        let table: [(&[u64], &str); 5] = [
            (&[1, 2], "v2"),
            (&[2, 1], "v2"),
            (&[2, 2], "v2"),
            (&[3, 1, 2], "v3"),
            (&[1], "v1"),
        ];
        for (acks, want) in table {
            let mut t = twin();
            t.out_version = 3;
            for (n, applied) in acks.iter().enumerate() {
                let mut a = ack(*applied, None);
                a.remote_view = Some(json!({ "summary": format!("v{applied}") }));
                t.record_ack(&a, n as i64);
            }
            assert_eq!(
                t.previous.as_ref().and_then(|p| p.get("summary")),
                Some(&json!(want)),
                "{acks:?}"
            );
        }
    }

    /// A replica whose sender had applied a send of ours not acknowledged yet was built
    /// on that send's item (simulation seeds 680 and 1872 of V4, 988 of V5), the oldest
    /// of many included (seed 1428 of V5 at 300 steps).
    #[test]
    fn a_replica_built_on_an_unacknowledged_send_has_that_send_as_its_base() {
        let item = |summary: &str| Item {
            summary: summary.into(),
            ..Item::default()
        };
        const SIX: [&str; 6] = ["v1", "v2", "v3", "v4", "v5", "v6"];
        // (sends, acked, applies after the sends, applied_in) -> the send's summary
        type Case = (
            &'static [&'static str],
            u64,
            u64,
            Option<u64>,
            Option<&'static str>,
        );
        let table: [Case; 13] = [
            (&["v1"], 0, 0, Some(1), Some("v1")),
            (&["v1", "v2"], 0, 0, Some(1), Some("v1")),
            (&["v1", "v2"], 0, 0, Some(2), Some("v2")),
            // Four sends unacked (the other side paused), its replica built on the first:
            // that send is kept (seed 1428 of V5).
            (&["v1", "v2", "v3", "v4"], 0, 0, Some(1), Some("v1")),
            // Six unacked: v1, v3, v4, v5 are kept. The replica built on the trimmed v2
            // merges against v1, not against nothing (seed 2967 of V5).
            (&SIX, 0, 0, Some(2), Some("v1")),
            (&SIX, 0, 0, Some(3), Some("v3")),
            // Seven: v1, v4, v5, v6 kept; v3 went too.
            (
                &["v1", "v2", "v3", "v4", "v5", "v6", "v7"],
                0,
                0,
                Some(3),
                Some("v1"),
            ),
            // Acknowledged: the ack set the base already.
            (&["v1", "v2"], 1, 0, Some(1), None),
            // Nothing of ours seen, or nothing said.
            (&["v1"], 0, 0, Some(0), None),
            (&["v1"], 0, 0, None, None),
            // A replica applied here since: that send is no common state any more, nor
            // the one kept before a trimmed one.
            (&["v1"], 0, 1, Some(1), None),
            (&SIX, 0, 1, Some(2), None),
            // A send we never made.
            (&["v1"], 0, 0, Some(5), None),
        ];
        for (sends, acked, applied_since, applied_in, want) in table {
            let mut t = twin();
            for s in sends {
                t.record_send(serde_json::json!({ "summary": s }), &item(s), 1);
            }
            if acked > 0 {
                t.record_ack(&ack(acked, None), 2);
            }
            t.in_version += applied_since;
            assert_eq!(
                t.send_seen_unacked(applied_in).map(|i| i.summary.as_str()),
                want,
                "{sends:?} acked {acked}, applied since {applied_since}, applied_in {applied_in:?}"
            );
        }
    }

    /// A count of our replicas on another record of ours is none of this record's
    /// (simulation seed 279 of V5 at 300 steps).
    #[test]
    fn a_count_on_another_record_of_ours_is_none_of_this_ones() {
        let item = Item {
            summary: "v1".into(),
            ..Item::default()
        };
        // (applied_in, applied_twin) -> what counts here
        let table = [
            (Some(1), Some("t1"), Some(1)),
            (Some(1), None, Some(1)),
            (None, None, None),
            (Some(1), Some("t0"), Some(0)),
            (None, Some("t0"), None),
        ];
        for (applied_in, applied_twin, want) in table {
            let mut t = twin();
            t.record_send(serde_json::json!({ "summary": "v1" }), &item, 1);
            let applied = t.applied_of_ours(applied_in, applied_twin);
            assert_eq!(applied, want, "{applied_in:?} {applied_twin:?}");
            if applied_twin == Some("t0") && applied_in.is_some() {
                // Our unacked send is no base for it: it crosses our first send.
                assert!(t.send_seen_unacked(applied).is_none());
                assert!(t.crosses_first_send(applied));
            }
        }
    }

    /// An ack for an older replica makes that replica's item the merge base, while the
    /// replicas sent after it wait for their own acks.
    #[test]
    fn an_ack_for_an_earlier_replica_moves_the_base_to_its_item() {
        let item = |summary: &str| Item {
            summary: summary.into(),
            ..Item::default()
        };
        // (sends, applies between sends, acked version) -> (base summary, earlier kept)
        type Case = (
            &'static [&'static str],
            Option<usize>,
            u64,
            Option<&'static str>,
            usize,
        );
        let table: [Case; 8] = [
            (&["v1", "v2"], None, 1, Some("v1"), 0),
            (&["v1", "v2"], None, 2, Some("v2"), 0),
            (&["v1", "v2", "v3"], None, 1, Some("v1"), 1),
            // A replica applied here after v1 was sent: v1's item is no base any more.
            (&["v1", "v2"], Some(1), 1, None, 0),
            // Four sends unacked, the first one acked last (seed 1332 of V5).
            (&["v1", "v2", "v3", "v4"], None, 1, Some("v1"), 2),
            // Past EARLIER_SENDS_KEPT the oldest stays, the ones after it go:
            // v1, v4, v5, v6 are kept before the ack.
            (
                &["v1", "v2", "v3", "v4", "v5", "v6", "v7"],
                None,
                1,
                Some("v1"),
                3,
            ),
            // The ack of a trimmed send moves the base to the send kept before it
            // (seed 2967 of V5).
            (
                &["v1", "v2", "v3", "v4", "v5", "v6", "v7"],
                None,
                2,
                Some("v1"),
                3,
            ),
            (
                &["v1", "v2", "v3", "v4", "v5", "v6", "v7"],
                None,
                4,
                Some("v4"),
                2,
            ),
        ];
        for (sends, apply_after, acked, base, kept) in table {
            let mut t = twin();
            for (i, s) in sends.iter().enumerate() {
                t.record_send(serde_json::json!({ "summary": s }), &item(s), 1);
                if apply_after == Some(i + 1) {
                    t.in_version += 1;
                }
            }
            t.record_ack(&ack(acked, None), 2);
            assert_eq!(
                t.base_item.as_ref().map(|i| i.summary.as_str()),
                base,
                "{sends:?} acked {acked}"
            );
            assert_eq!(t.earlier_sends.len(), kept, "{sends:?} acked {acked}");
        }
    }

    /// How a dead letter marks a twin and how it leaves that mark.
    #[test]
    fn dead_letter_table() {
        #[derive(Clone, Copy, Debug)]
        enum Then {
            Redriven,
            Send,
            Error,
            Ack,
        }
        let dead = || TwinStatus::Error("dead-lettered from outgoing: down".into());
        // (status before, out, acked, what happens after the dead letter) -> status after
        let table = [
            // The redriven message was processed: everything acknowledged -> Synced.
            (
                TwinStatus::Synced,
                2,
                2,
                Some(Then::Redriven),
                TwinStatus::Synced,
            ),
            // A replica is still unacknowledged -> Syncing until its ack.
            (
                TwinStatus::Syncing,
                3,
                2,
                Some(Then::Redriven),
                TwinStatus::Syncing,
            ),
            // Not processed yet: the Error stays.
            (TwinStatus::Synced, 1, 1, None, dead()),
            // A newer send says more than the dead letter.
            (
                TwinStatus::Synced,
                1,
                1,
                Some(Then::Send),
                TwinStatus::Syncing,
            ),
            (
                TwinStatus::Synced,
                1,
                0,
                Some(Then::Ack),
                TwinStatus::Synced,
            ),
            // A later script error is not cleared by the redriven message.
            (
                TwinStatus::Synced,
                1,
                1,
                Some(Then::Error),
                TwinStatus::Error("script".into()),
            ),
            // An unlinked twin is not marked.
            (TwinStatus::Unlinked, 1, 1, None, TwinStatus::Unlinked),
        ];
        for (before, out, acked, then, want) in table {
            let mut t = twin();
            t.status = before.clone();
            t.out_version = out;
            t.acked_version = acked;
            let marked = t.record_dead_letter("outgoing", "down", 5_000);
            assert_eq!(marked, before != TwinStatus::Unlinked, "{before:?}");
            match then {
                Some(Then::Redriven) => assert!(t.record_redriven(6_000)),
                Some(Then::Send) => {
                    t.record_send(json!({}), &Item::default(), 6_000);
                }
                Some(Then::Error) => {
                    t.record_error("script", 6_000);
                    assert!(!t.record_redriven(7_000), "the script error stays");
                }
                Some(Then::Ack) => t.record_ack(&ack(1, None), 6_000),
                None => {}
            }
            assert_eq!(t.status, want, "{before:?} {out} {acked} {then:?}");
            if then.is_some() {
                assert_eq!(t.dead_letter, None, "{then:?}");
            }
        }
    }

    fn applied(previous: Value, version: u64) -> Applied {
        Applied {
            view: json!({}),
            own: json!({}),
            baseline_version: 0,
            base_item: Item::default(),
            previous,
            version,
            applied_in: None,
            built_on: None,
            source_twin: "r1".into(),
            source_key: "B-1".into(),
            source_url: "https://b/1".into(),
            local_url: "https://a/1".into(),
        }
    }

    /// Each send notes what the replicas applied after it changed in `previous`, with
    /// the value before the first of them; a new send starts afresh.
    #[test]
    fn a_send_notes_what_replicas_applied_after_it_changed() {
        let mut t = twin();
        t.record_apply(applied(json!({"labels": ["a"], "summary": "s"}), 1), 1);
        assert!(t.sent_crossed.is_empty(), "nothing sent: nothing crossed");
        t.record_send(json!({}), &Item::default(), 2);
        t.record_apply(
            applied(
                json!({"labels": ["a", "b"], "summary": "s", "status": "x"}),
                2,
            ),
            3,
        );
        t.record_apply(
            applied(json!({"labels": ["c"], "summary": "s", "status": "y"}), 3),
            4,
        );
        let want = BTreeMap::from([
            ("labels".to_string(), json!(["a"])),
            ("status".to_string(), Value::Null),
        ]);
        assert_eq!(
            t.sent_crossed, want,
            "the values before the first crossing replica"
        );
        t.record_send(json!({}), &Item::default(), 5);
        assert!(t.sent_crossed.is_empty(), "a new send starts afresh");
        assert_eq!(t.earlier_sends.len(), 1);
        assert_eq!(
            t.earlier_sends[0].crossed, want,
            "the earlier send keeps its own"
        );
    }

    /// The acker built its view on our replica, which a replica of its own, applied
    /// here after our send, crossed: where the view shows a member as it was before that
    /// replica, `previous` keeps the replica's value; everything else comes from the
    /// view, as before (simulation seeds 1020 of V4 and 822 of V3). The ack of our last
    /// send keeps the replica's value also where the view shows a new one (seed 1326 of
    /// V5); after a later send of ours, which carried it on, the new value is taken.
    #[test]
    fn an_ack_view_keeps_what_a_replica_crossing_our_send_changed() {
        let s1020 = json!({"summary": "s", "labels": ["escalate"], "status": "To Do"});
        let s1020_v2 = json!({"summary": "s", "labels": ["escalate", "red"], "status": "Doing"});
        // (what, the acker's replica before our send, its replica applied after our send
        // (None: none), our earlier send acked, the ack's view) -> previous
        type Case = (&'static str, Value, Option<Value>, bool, Value, Value);
        let table: [Case; 9] = [
            (
                "seed 1020: the view shows the labels and status from before",
                s1020.clone(),
                Some(s1020_v2.clone()),
                false,
                json!({"summary": "s", "labels": ["escalate"], "status": "To Do"}),
                json!({"summary": "s", "labels": ["escalate", "red"], "status": "Doing"}),
            ),
            (
                "seed 822: labels are a set, the old ones in another order are old",
                json!({"labels": ["blue", "escalate"], "priority": "Low"}),
                Some(json!({"labels": ["escalate"], "priority": "Low"})),
                false,
                json!({"labels": ["escalate", "blue"], "priority": "Low"}),
                json!({"labels": ["escalate"], "priority": "Low"}),
            ),
            (
                "a member the crossing replica left alone comes from the view",
                s1020.clone(),
                Some(s1020_v2.clone()),
                false,
                json!({"summary": "ours", "labels": ["escalate"], "status": "To Do"}),
                json!({"summary": "ours", "labels": ["escalate", "red"], "status": "Doing"}),
            ),
            (
                "a value new in the view (the acker took ours, or its person set one) keeps \
                 the replica's, labels name by name: the red the crossing replica added and \
                 the view lacks stays (seed 1173), the view's blue is taken",
                s1020.clone(),
                Some(s1020_v2.clone()),
                false,
                json!({"summary": "s", "labels": ["escalate", "blue"], "status": "Done"}),
                json!({"summary": "s", "labels": ["escalate", "blue", "red"], "status": "Doing"}),
            ),
            (
                "seed 1326: the acker's person cleared the assignee its crossing replica had \
                 set, as our send had; its next replica must count as its change",
                json!({"summary": "s", "assignee": "cy"}),
                Some(json!({"summary": "s", "assignee": "ana"})),
                false,
                json!({"summary": "s", "assignee": null}),
                json!({"summary": "s", "assignee": "ana"}),
            ),
            (
                "the ack of an earlier send: our later send carried the replica's values on, \
                 and a value new in the view is taken (the order of seed 495)",
                s1020.clone(),
                Some(s1020_v2.clone()),
                true,
                json!({"summary": "s", "labels": ["escalate", "blue"], "status": "Done"}),
                json!({"summary": "s", "labels": ["escalate", "blue", "red"], "status": "Done"}),
            ),
            (
                "a member the crossing replica added and the view lacks stays",
                json!({"summary": "s"}),
                Some(json!({"summary": "s", "assignee": "bo"})),
                false,
                json!({"summary": "s"}),
                json!({"summary": "s", "assignee": "bo"}),
            ),
            (
                "nothing applied since our send: the whole view",
                s1020.clone(),
                None,
                false,
                json!({"summary": "t", "labels": [], "status": "To Do"}),
                json!({"summary": "t", "labels": [], "status": "To Do"}),
            ),
            (
                "the ack of an earlier send: what crossed it is remembered with it",
                s1020.clone(),
                Some(s1020_v2.clone()),
                true,
                json!({"summary": "s", "labels": ["escalate"], "status": "To Do"}),
                json!({"summary": "s", "labels": ["escalate", "red"], "status": "Doing"}),
            ),
        ];
        for (what, before, crossing, earlier, view, want) in table {
            let mut t = twin();
            t.record_apply(applied(before, 1), 1);
            // Our v1, built on the acker's v1.
            t.record_send(json!({}), &Item::default(), 2);
            let mut in_version = 1;
            if let Some(replica) = crossing {
                // The acker's v2, built before it applied our v1.
                t.record_apply(applied(replica, 2), 3);
                in_version = 2;
            }
            if earlier {
                // Our v2, sent before the ack of v1 came.
                t.record_send(json!({}), &Item::default(), 4);
            }
            let mut a = ack(1, None);
            a.remote_view = Some(view);
            a.remote_out_version = in_version;
            t.record_ack(&a, 5);
            assert_eq!(t.previous, Some(want), "{what}");
        }
    }

    /// A crossing replica's value stays in `previous` against an ack's view only while
    /// our item holds it. Where the item holds a value of its own (the merge kept ours,
    /// a person set it during the write, or a later send changed it), the view is taken:
    /// its value from before may be the acker's echo of our send, which carried that
    /// value as a change (simulation seed 4216 of V5: B's v3 set the priority back to
    /// Medium, A took it, and the ack's view showed Medium; B had kept its Highest over
    /// A's crossing Low, and with Low kept in `previous` A's next replica, Medium, looked
    /// like A's edit and won the conflict over Highest).
    #[test]
    fn an_ack_view_is_taken_where_our_item_holds_its_own_value() {
        let before = json!({"summary": "s0", "priority": "Medium"});
        let crossing = json!({"summary": "a19", "priority": "Low"});
        // Our replica of the item as the other side has it after the crossing apply: it
        // took both members, or the merge kept the priority (the view shows the replica's).
        let took = json!({"summary": "a19", "priority": "Low"});
        let kept = json!({"summary": "a19", "priority": "Highest"});
        let view = json!({"summary": "s0", "priority": "Medium"});
        // (what, our item's replica after the apply, our replica sent after the apply
        // (None: none), the ack's view) -> previous
        type Case = (&'static str, Value, Option<Value>, Value, Value);
        let table: [Case; 6] = [
            (
                "seed 4216: the merge kept our priority, the view's Medium is taken",
                kept.clone(),
                None,
                view.clone(),
                json!({"summary": "a19", "priority": "Medium"}),
            ),
            (
                "the item took both: the replica's values stay (seeds 1020, 495)",
                took.clone(),
                None,
                view.clone(),
                json!({"summary": "a19", "priority": "Low"}),
            ),
            (
                "a person set the priority during the write: the view's is taken",
                json!({"summary": "a19", "priority": "High"}),
                None,
                view.clone(),
                json!({"summary": "a19", "priority": "Medium"}),
            ),
            (
                "a later send changed the priority here: the view's is taken",
                took.clone(),
                Some(json!({"summary": "a19", "priority": "Highest"})),
                view.clone(),
                json!({"summary": "a19", "priority": "Medium"}),
            ),
            (
                "a later send that left the priority alone: the replica's stays",
                took.clone(),
                Some(json!({"summary": "a20", "priority": "Low"})),
                view.clone(),
                json!({"summary": "s0", "priority": "Low"}),
            ),
            (
                "a value new in the view: the replica's stays where our item holds it \
                 (seed 1326), the view's is taken where our item kept its own",
                kept.clone(),
                None,
                json!({"summary": "s1", "priority": "High"}),
                json!({"summary": "a19", "priority": "High"}),
            ),
        ];
        for (what, own, later, view, want) in table {
            let mut t = twin();
            t.record_apply(applied(before.clone(), 1), 1);
            // Our v1, built on the acker's v1.
            t.record_send(json!({}), &Item::default(), 2);
            // The acker's v2, built before it applied our v1.
            t.record_apply(
                Applied {
                    view: took.clone(),
                    own,
                    ..applied(crossing.clone(), 2)
                },
                3,
            );
            if let Some(replica) = later {
                // Our v2, sent before the ack of v1 came.
                t.record_send(replica, &Item::default(), 4);
            }
            let mut a = ack(1, None);
            a.remote_view = Some(view);
            a.remote_out_version = 2;
            t.record_ack(&a, 5);
            assert_eq!(t.previous, Some(want), "{what}");
        }
    }

    /// Labels go name by name (simulation seed 1173 of V1). A's v1 added `blue`; B's v2,
    /// built before B applied it, added `red`, and A's merge kept its `blue` beside it.
    /// A person on B then removed `red`, B applied A's v1 and acked it with a view showing
    /// `blue` and no `red`. Taken whole, the view made B's next replica (no `red`) look
    /// like no change, and A kept `red` for good. `blue`, held apart by our item, and moved
    /// by our v2, is the view's; `red`, which our item holds as B's v2 left it, stays.
    #[test]
    fn an_ack_view_keeps_a_crossing_label_our_item_holds_beside_its_own() {
        // (what, our item's labels after the crossing apply, our v2's labels (None: no
        // v2), the ack's view) -> previous labels
        type Case = (&'static str, Value, Option<Value>, Value, Value);
        let table: [Case; 4] = [
            (
                "seed 1173: red stays, blue is the view's",
                json!(["escalate", "blue", "red"]),
                Some(json!(["escalate", "blue", "red"])),
                json!(["escalate", "blue"]),
                json!(["escalate", "blue", "red"]),
            ),
            (
                "no later send: the same",
                json!(["escalate", "blue", "red"]),
                None,
                json!(["escalate", "blue"]),
                json!(["escalate", "blue", "red"]),
            ),
            (
                "our item dropped red (a person, during the write): the view's",
                json!(["escalate", "blue"]),
                None,
                json!(["escalate", "blue"]),
                json!(["escalate", "blue"]),
            ),
            (
                "a later send of ours dropped red: the view's",
                json!(["escalate", "blue", "red"]),
                Some(json!(["escalate", "blue"])),
                json!(["escalate", "blue"]),
                json!(["escalate", "blue"]),
            ),
        ];
        for (what, own, later, view, want) in table {
            let mut t = twin();
            t.record_apply(applied(json!({"labels": ["escalate"]}), 1), 1);
            // Our v1, built on B's v1, adds blue.
            t.record_send(json!({"labels": ["escalate", "blue"]}), &Item::default(), 2);
            // B's v2, built before B applied our v1, adds red; our item keeps its blue.
            t.record_apply(
                Applied {
                    view: json!({"labels": ["escalate", "red"]}),
                    own: json!({ "labels": own }),
                    ..applied(json!({"labels": ["escalate", "red"]}), 2)
                },
                3,
            );
            if let Some(labels) = later {
                t.record_send(json!({ "labels": labels }), &Item::default(), 4);
            }
            let mut a = ack(1, None);
            a.remote_view = Some(json!({ "labels": view }));
            a.remote_out_version = 2;
            t.record_ack(&a, 5);
            assert_eq!(t.previous, Some(json!({ "labels": want })), "{what}");
        }
    }

    /// Simulation seed 910 of V6: a relinked pair's first replicas crossed. Theirs added
    /// `red` to what the merge took against an empty item; their ack of our send, built
    /// after a person here removed `red`, lacks it. `previous` keeps `red`, so their next
    /// replica without it is a removal here; a scalar member the policy decided alike on
    /// both nodes comes from the view, as before.
    #[test]
    fn an_ack_view_keeps_a_label_the_first_replica_crossing_our_first_send_added() {
        // (what, a later send of ours) -> previous
        let table = [
            ("the ack of our last send", false),
            ("the ack of an earlier send", true),
        ];
        for (what, later) in table {
            let mut t = twin();
            t.record_send(
                json!({"labels": ["sync"], "status": "Done"}),
                &Item::default(),
                1,
            );
            t.record_apply(
                Applied {
                    view: json!({"labels": ["sync", "red"]}),
                    own: json!({"labels": ["sync", "red"]}),
                    ..applied(json!({"labels": ["sync", "red"], "status": "Doing"}), 1)
                },
                2,
            );
            if later {
                t.record_send(json!({"labels": ["sync", "red"]}), &Item::default(), 3);
            }
            let mut a = ack(1, None);
            a.remote_view = Some(json!({"labels": ["sync"], "status": "Done"}));
            a.remote_out_version = 1;
            t.record_ack(&a, 4);
            assert_eq!(
                t.previous,
                Some(json!({"labels": ["sync", "red"], "status": "Done"})),
                "{what}"
            );
        }
    }

    /// Simulation seed 32661 of V6 at 300 steps: their first replica ("e"), built on our
    /// first send, crossed our sends 2 to 5. The ack of send 3 showed "red", a person's
    /// there, and its view was taken; the ack of send 4 no longer shows it (they took our
    /// removal). "red" is no name the crossing replica moved, so `previous` follows the
    /// view; read against the old `previous`, every name of the first view counted as
    /// the replica's, "red" stayed, and their next replica adding it again was no change
    /// here. A name the replica did add ("e") still keeps its place.
    #[test]
    fn a_taken_view_moves_the_crossing_notes_of_names_onto_it() {
        // (what, the view of the ack of send 4) -> previous labels
        let table: [(&str, Value, Value); 2] = [
            (
                "the view dropped a name the earlier view brought",
                json!(["e", "b"]),
                json!(["e", "b"]),
            ),
            (
                "the view dropped a name the crossing replica added",
                json!(["b"]),
                json!(["b", "e"]),
            ),
        ];
        for (what, view, want) in table {
            let mut t = twin();
            for version in 1..=5 {
                t.record_send(json!({"labels": ["e", "b"]}), &Item::default(), version);
            }
            t.record_apply(
                Applied {
                    view: json!({"labels": ["e", "b"]}),
                    own: json!({"labels": ["e", "b"]}),
                    applied_in: Some(1),
                    ..applied(json!({"labels": ["e"]}), 2)
                },
                6,
            );
            let mut a = ack(3, None);
            a.remote_view = Some(json!({"labels": ["e", "red", "b"]}));
            a.remote_out_version = 2;
            t.record_ack(&a, 7);
            assert_eq!(
                t.previous,
                Some(json!({"labels": ["e", "red", "b"]})),
                "{what}"
            );
            let mut a = ack(4, None);
            a.remote_view = Some(json!({ "labels": view }));
            a.remote_out_version = 2;
            t.record_ack(&a, 8);
            assert_eq!(t.previous, Some(json!({ "labels": want })), "{what}");
        }
    }

    /// Simulation seed 25626 of V6: the other side's first replica, built after it
    /// applied our v2, set the assignee and crossed our v3; a person there cleared it
    /// before the ack of v3, whose view shows none. With no previous replica to compare
    /// with, its scalar members are noted too: the ack of our last send keeps the
    /// replica's assignee, so their next replica's clear is a change here. An earlier
    /// send's ack (a later send of ours carried the assignee on), a member our item holds
    /// as its own, and a first replica built on none of ours take the view, as before.
    #[test]
    fn an_ack_view_keeps_what_a_first_replica_built_on_our_send_set() {
        let ana = json!({"assignee": "ana", "summary": "s"});
        let cleared = json!({"assignee": null, "summary": "s"});
        // (what, the sender had applied, our item's own value, a later send of ours)
        // -> previous
        type Case = (&'static str, Option<u64>, Value, bool, Value);
        let table: [Case; 4] = [
            (
                "the ack of our last send",
                Some(2),
                ana.clone(),
                false,
                ana.clone(),
            ),
            (
                "the ack of an earlier send",
                Some(2),
                ana.clone(),
                true,
                cleared.clone(),
            ),
            (
                "our item holds its own assignee",
                Some(2),
                json!({"assignee": "bo", "summary": "s"}),
                false,
                cleared.clone(),
            ),
            (
                "built on none of ours",
                Some(0),
                ana.clone(),
                false,
                cleared.clone(),
            ),
        ];
        for (what, applied_in, own, later, want) in table {
            let mut t = twin();
            for at in 1..=3 {
                t.record_send(json!({"summary": "s"}), &Item::default(), at);
            }
            t.record_apply(
                Applied {
                    view: ana.clone(),
                    own,
                    applied_in,
                    ..applied(ana.clone(), 1)
                },
                4,
            );
            if later {
                t.record_send(ana.clone(), &Item::default(), 5);
            }
            let mut a = ack(3, None);
            a.remote_view = Some(cleared.clone());
            a.remote_out_version = 1;
            t.record_ack(&a, 6);
            assert_eq!(t.previous, Some(want), "{what}");
        }
    }

    /// Simulation seeds 46184 and 57023 of V6 at 300 steps: our v1 carried e, r and b, a
    /// person here removed b (v2, v3) and set it again (v4). Their first replica, built on
    /// our v1, repeats its e, r and b; the ack of our v3 shows b removed there, as they
    /// took our removal. Measured against our v1 the replica moved no name, so `previous`
    /// follows the view; noted as added, b stayed in `previous`, and their next replica
    /// without it removed our person's b again. A name the replica did move from our send
    /// keeps its place where the view shows it as before, and without our send known
    /// every name of the replica still counts as added.
    #[test]
    fn a_first_replica_built_on_our_send_moved_only_the_names_it_changed_from_it() {
        let labels = |names: &[&str]| json!({ "labels": names });
        let (ours, ours_less) = (labels(&["e", "r", "b"]), labels(&["e", "r"]));
        // (what, our v1 as sent, if known, their first replica, the ack of v3's view)
        // -> previous
        type Case = (&'static str, Option<Value>, Value, Value, Value);
        let table: [Case; 4] = [
            (
                "it repeats our send",
                Some(ours.clone()),
                ours.clone(),
                ours_less.clone(),
                ours_less.clone(),
            ),
            (
                "our send not known",
                None,
                ours.clone(),
                ours_less.clone(),
                ours.clone(),
            ),
            (
                "it added a name to our send's",
                Some(ours_less.clone()),
                ours.clone(),
                ours_less.clone(),
                labels(&["e", "r", "b"]),
            ),
            (
                "it removed a name of our send's",
                Some(ours.clone()),
                ours_less.clone(),
                ours.clone(),
                ours_less.clone(),
            ),
        ];
        for (what, built_on, replica, view, want) in table {
            let mut t = twin();
            t.record_send(ours.clone(), &Item::default(), 1);
            for at in 2..=3 {
                t.record_send(ours_less.clone(), &Item::default(), at);
            }
            t.record_apply(
                Applied {
                    view: ours.clone(),
                    own: ours.clone(),
                    applied_in: Some(1),
                    built_on,
                    ..applied(replica, 1)
                },
                4,
            );
            t.record_send(ours.clone(), &Item::default(), 5);
            let mut a = ack(3, None);
            a.remote_view = Some(view);
            a.remote_out_version = 1;
            t.record_ack(&a, 6);
            assert_eq!(t.previous, Some(want), "{what}");
        }
    }

    /// The send a first replica was built on: our unacknowledged send it names, while no
    /// replica of theirs is known here.
    #[test]
    fn a_first_replica_is_built_on_the_unacknowledged_send_it_names() {
        let item = |summary: &str| Item {
            summary: summary.into(),
            ..Item::default()
        };
        // (what, applied_in, a previous replica known) -> the send's summary
        let table = [
            ("built on our v1", Some(1), false, Some("v1")),
            ("built on our v2", Some(2), false, Some("v2")),
            ("built on none of ours", Some(0), false, None),
            ("an older sender", None, false, None),
            ("a previous replica known", Some(2), true, None),
        ];
        for (what, applied_in, known, want) in table {
            let mut t = twin();
            t.record_send(json!({"summary": "v1"}), &item("v1"), 1);
            t.record_send(json!({"summary": "v2"}), &item("v2"), 2);
            if known {
                t.previous = Some(json!({"summary": "v1"}));
            }
            let got = t.first_replica_built_on(applied_in);
            assert_eq!(got.map(|i| i.summary.as_str()), want, "{what}");
        }
    }

    /// Simulation seed 48991 of V6 at 300 steps: the acks of our v2 and v3 came before
    /// their replicas v1 and v2, and neither view could be taken. The view of v3's ack
    /// replaced v2's, and the apply of their v1 dropped it, so their v2 was measured
    /// against their v1, from before they took our v2 (its red), and their person's
    /// removal of red looked like no change. Now the earlier view waits for its replica
    /// beside the later one: their v1's apply takes it, and the later view waits on for
    /// their v2. With one view only, or a third, the rest stays as before.
    #[test]
    fn a_view_held_for_an_earlier_replica_outlives_a_later_ack() {
        let summary = |s: &str| json!({ "summary": s });
        // (what, our sends (one more than the acks answer: the ack of our last send keeps
        // a crossing replica's value), the acks not taken: acked, remote_out_version,
        // view) -> previous after their v1, after their v2
        type Case = (
            &'static str,
            u64,
            &'static [(u64, u64, &'static str)],
            &'static str,
            &'static str,
        );
        let table: [Case; 3] = [
            (
                "both views before their replicas",
                4,
                &[(2, 1, "v2"), (3, 2, "v3")],
                "v2",
                "v3",
            ),
            ("only the later view", 4, &[(3, 2, "v3")], "r1", "r2"),
            (
                "three views",
                5,
                &[(2, 1, "v2"), (3, 2, "v3"), (4, 3, "v4")],
                "v2",
                "r2",
            ),
        ];
        for (what, sends, acks, after_first, after_second) in table {
            let mut t = twin();
            for at in 1..=sends {
                t.record_send(summary("ours"), &Item::default(), at as i64);
            }
            let mut a = ack(1, None);
            a.remote_view = Some(summary("a"));
            t.record_ack(&a, 10);
            for (acked, remote_out_version, view) in acks {
                let mut a = ack(*acked, None);
                a.remote_view = Some(summary(view));
                a.remote_out_version = *remote_out_version;
                t.record_ack(&a, 11);
            }
            for (version, want) in [(1, after_first), (2, after_second)] {
                let replica = summary(&format!("r{version}"));
                t.record_apply(
                    Applied {
                        view: replica.clone(),
                        own: replica.clone(),
                        applied_in: Some(1),
                        ..applied(replica, version)
                    },
                    12,
                );
                assert_eq!(t.previous, Some(summary(want)), "{what}: their v{version}");
            }
        }
    }

    /// Simulation seed 1060 of V5: the other side's v1, built before it applied any of
    /// our unacknowledged sends, added `blue`; a person there removed it before those
    /// sends reached it, so each ack's view lacks `blue`. Every one of those sends was
    /// crossed by that replica, trimmed from `earlier_sends` or not: each ack keeps
    /// `blue` in `previous`, and the other side's next replica, without it, is a removal
    /// here. Taken whole at the ack of a trimmed send, the view hid that removal.
    #[test]
    fn an_ack_of_a_trimmed_send_keeps_what_crossed_it() {
        let theirs = json!({"labels": ["sync", "red", "blue"]});
        let view = json!({"labels": ["sync", "red"]});
        // (sends before the crossing replica, sends after it): none acknowledged yet
        let table = [(1, 0), (1, 1), (4, 1), (5, 1), (6, 1), (9, 0), (9, 3)];
        for (crossed, later) in table {
            let mut t = twin();
            t.record_apply(applied(json!({"labels": ["sync"]}), 1), 1);
            for _ in 0..crossed {
                t.record_send(json!({"labels": ["sync", "red"]}), &Item::default(), 2);
            }
            t.record_apply(
                Applied {
                    view: theirs.clone(),
                    own: theirs.clone(),
                    ..applied(theirs.clone(), 2)
                },
                3,
            );
            for i in 0..later {
                let replica = json!({"labels": ["sync", "red", "blue"], "summary": i});
                t.record_send(replica, &Item::default(), 4);
            }
            for version in 1..=crossed {
                let mut a = ack(version, None);
                a.remote_view = Some(view.clone());
                a.remote_out_version = 2;
                t.record_ack(&a, 5);
                assert_eq!(
                    t.previous,
                    Some(theirs.clone()),
                    "{crossed} sends crossed, {later} after: the ack of v{version}"
                );
            }
        }
    }

    #[test]
    fn the_first_apply_names_the_other_sides_record_before_it_writes() {
        // (remote_twin before, replica's source_twin) -> remote_twin after
        let table = [
            (None, "r1", Some("r1")),
            // Known already: a newer record is taken only when its apply is recorded.
            (Some("r0"), "r1", Some("r0")),
            (Some("r1"), "r1", Some("r1")),
            // An older sender names no record.
            (None, "", None),
        ];
        for (before, source, after) in table {
            let mut t = twin();
            t.remote_twin = before.map(str::to_string);
            t.learn_remote_twin(source);
            assert_eq!(t.remote_twin.as_deref(), after, "{before:?} {source:?}");
        }
    }

    #[test]
    fn an_apply_records_the_pair_and_gives_the_lease_back() {
        let mut t = twin();
        t.take_lease(1, &Value::Null, 1_000, 30_000);
        t.record_apply(
            Applied {
                view: json!({"summary": "x"}),
                own: json!({"summary": "x"}),
                baseline_version: 4,
                base_item: Item::default(),
                previous: json!({"summary": "theirs"}),
                version: 5,
                applied_in: None,
                built_on: None,
                source_twin: "r9".into(),
                source_key: "B-1".into(),
                source_url: "https://b/1".into(),
                local_url: "https://a/1".into(),
            },
            2_000,
        );
        assert_eq!(t.status, TwinStatus::Synced);
        assert_eq!((t.in_version, t.baseline_version), (5, 4));
        assert_eq!(t.remote_twin.as_deref(), Some("r9"));
        assert_eq!(t.lease_wait(2_000), None);
        assert_eq!(t.applying_until_ms, 0);
    }

    #[test]
    fn sends_a_new_record_of_the_other_side_never_saw_count_as_unsent() {
        let with_comment = |id: &str| Item {
            comments: vec![crate::item::Comment {
                id: id.into(),
                ..crate::item::Comment::default()
            }],
            ..Item::default()
        };
        // (our record of theirs, our in, replica's record, it applied, our out, acked)
        // -> unseen
        let table = [
            // Seed 145 (V5, 300 steps): relinked there; our v1 went to the record it
            // replaced, unlinked there, which dropped it.
            (Some("r1"), 1, "r2", Some(0), 1, 0, true),
            // The same record: ours is on its way, or crossed it.
            (Some("r1"), 1, "r1", Some(0), 1, 0, false),
            // The new record had applied it, or its ack came.
            (Some("r1"), 1, "r2", Some(1), 1, 0, false),
            (Some("r1"), 1, "r2", Some(0), 1, 1, false),
            // Seed 693 (V5, 300 steps): heard from no record; the one known is what
            // this replica's lease named, or none.
            (Some("r2"), 0, "r2", Some(0), 1, 0, true),
            (None, 0, "r2", Some(0), 1, 0, true),
            // Heard from none, but it applied one of ours: the record they reached.
            (Some("r2"), 0, "r2", Some(1), 2, 0, false),
            // Older senders say neither.
            (Some("r1"), 1, "", Some(0), 1, 0, false),
            (Some("r1"), 1, "r2", None, 1, 0, false),
        ];
        for (known, inv, source, applied_in, out, acked, unseen) in table {
            let mut t = twin();
            t.remote_twin = known.map(str::to_string);
            t.in_version = inv;
            t.out_version = out;
            t.acked_version = acked;
            assert_eq!(
                t.sends_reaching(source, applied_in) == SendsCounted::Acknowledged,
                unseen,
                "{known:?} {inv} {source} {applied_in:?} {out} {acked}"
            );
        }
        let mut t = twin();
        t.base_item = Some(with_comment("base"));
        t.sent_item = Some(with_comment("sent"));
        t.out_version = 1;
        let ids = |s: std::collections::BTreeSet<String>| s.into_iter().collect::<Vec<_>>();
        assert_eq!(ids(t.comments_sent(SendsCounted::All)), ["base", "sent"]);
        assert_eq!(ids(t.comments_sent(SendsCounted::Acknowledged)), ["base"]);
        // Acknowledged, the send counts either way.
        t.acked_version = 1;
        assert_eq!(
            ids(t.comments_sent(SendsCounted::Acknowledged)),
            ["base", "sent"]
        );
    }
}
