//! An ack: what the other side answered to one of our replicas, and its view of the item
//! taken as the other side's previous replica, held, or left.

use crate::crossing::{AckedSend, view_over_crossing};
use crate::item::Item;
use crate::merge::changed_fields;
use crate::message::AckMessage;
use crate::twin::{Twin, TwinStatus, ViewNotTaken};
use serde_json::Value;
use std::collections::BTreeMap;

impl Twin {
    /// Takes an ack's view of our send `acked` as the other side's previous replica
    /// (`crossed`: what replicas applied here since that send changed, [`view_over_crossing`]).
    pub(super) fn take_view(
        &mut self,
        view: &Value,
        view_here: Option<&Item>,
        acked: u64,
        crossed: Option<&BTreeMap<String, Value>>,
    ) {
        let last = acked == self.out_version;
        let kind = match last {
            true => AckedSend::Last,
            false => AckedSend::Earlier,
        };
        let taken = view_over_crossing(view, self.previous.as_ref(), crossed, kind);
        let old = self.previous.take();
        self.rebase_crossing(old.as_ref(), &taken);
        self.previous = Some(taken);
        if last {
            // `previous` now says what the acker made of our last send, field by
            // field: no value of it can come back as our echo any more. A value of
            // the send that the acker did not take (it kept its own) and that shows
            // up in its later replica is the acker's own edit, which `previous`
            // shows as a change; taken for our echo, it was kept out here, and our
            // stale value went back over it (simulation seed 2632 of V5: a person
            // set the status during the acker's write, back to the value we had sent).
            // Where the view shows our send's value, though, the acker took ours, and
            // its later replica carrying that value is still our echo: counted as its
            // change, it went over a person's newer edit here, which `previous` did not
            // show (it keeps a crossing replica's value there, seed 1326), so our item
            // never sent that edit (simulation seed 35052 of V6 at 300 steps).
            let taken_from_us = match (view_here, &self.sent_item) {
                (Some(here), Some(sent)) => echoes_taken(self.sent_changed.as_deref(), sent, here),
                _ => Vec::new(),
            };
            self.sent_changed = Some(taken_from_us);
        }
        self.view_not_taken = None;
    }

    /// Takes a view held for the replica just applied (`Twin::record_apply`).
    pub(super) fn take_held(&mut self, held: &ViewNotTaken) {
        let crossed = self.crossed_since(held.acked).cloned();
        // Not mapped to our terms here, so no echo of that send is kept.
        self.take_view(&held.view, None, held.acked, crossed.as_ref());
    }

    /// Records the other side's answer to one of our replicas, without its view in our
    /// terms (see [`Twin::record_ack_viewed`]).
    pub fn record_ack(&mut self, ack: &AckMessage, now_ms: i64) {
        self.record_ack_viewed(ack, None, now_ms);
    }

    /// Records the other side's answer to one of our replicas. `view_here` is the ack's
    /// view as our incoming rules make it: where it shows our last send's value, the
    /// acker took ours, and that value in its later replicas is our echo.
    pub fn record_ack_viewed(&mut self, ack: &AckMessage, view_here: Option<&Item>, now_ms: i64) {
        self.updated_ms = now_ms;
        self.dead_letter = None;
        if let Some(error) = &ack.error {
            self.status = TwinStatus::Error(format!("remote: {error}"));
            return;
        }
        if let Some(key) = &ack.target_key {
            self.remote_key = Some(key.clone());
        }
        if self.remote_twin.is_none() {
            self.remote_twin = ack.acker_twin.clone();
        }
        if ack.target_url.is_some() {
            self.remote_url = ack.target_url.clone();
        }
        // An ack of an older replica than one already acknowledged (its message was held
        // up by a crash, or delivered again) carries a view from before the newer one:
        // taken, it would set `previous` back, and the acker's next replica, still
        // carrying what the newer view showed, would count as a change (simulation seed
        // 1018 of V1, where it undid a person's newer summary).
        let older_than_acked = ack.applied_version < self.acked_version;
        // Looked up before this ack counts: a send trimmed unacknowledged has its notes
        // with the send kept after it (`crossed_since`).
        let crossed = self.crossed_since(ack.applied_version).cloned();
        self.acked_version = self.acked_version.max(ack.applied_version);
        for link in &ack.comment_links {
            // The acker's local comment is our remote one, and the other way round.
            self.link_comment(&link.remote_id, &link.local_id);
        }
        // The acker's view is what it has after our replica, on top of every replica it
        // had sent when it built the view. Only when we have applied exactly those is it
        // what we hold of it: with one of them still missing here (recorded by the acker
        // but lost in a crash before it was sent, or still on its way), a later replica
        // carrying the same values would look like no change and never be applied
        // (simulation seed 1958 of generator V4).
        // Even so, a replica of the acker's applied here after our send crossed it (the
        // acker built it before applying ours), and the view, a merge with our replica,
        // which was built without that replica, may not show its change: where the view
        // shows a member as it was before the change, `previous` keeps the replica's
        // value. Otherwise the acker's next replica, carrying a person's later edit back
        // to the old value, looks like no change here, and the pair stays apart
        // (simulation seeds 822 of V3 and 1020 of V4). Only where our item still holds
        // the replica's value, though: where it holds its own, a view showing the value
        // from before may be the acker's echo of our send, which then carried that value
        // as a change, and the replica's value would make the echo look like an edit
        // over ours (simulation seed 4216 of V5; `note_crossing`). For our last send the
        // replica's value stays also where the view shows a new one, the acker's answer
        // its next replica carries (simulation seed 1326 of V5; `view_over_crossing`).
        if let Some(view) = &ack.remote_view
            && self.in_version == ack.remote_out_version
            && !older_than_acked
        {
            self.take_view(view, view_here, ack.applied_version, crossed.as_ref());
        } else if let Some(view) = &ack.remote_view
            && self.in_version == ack.remote_out_version
            && older_than_acked
            && self.previous.is_none()
        {
            // The ack of an earlier send, overtaken by a later one's (a batch lost and
            // sent again) whose view could not be taken: with no previous replica known,
            // its view is what the acker's first replica, built on that send, is to be
            // measured against. Without it every field of that replica counts as
            // changed, and one our later send set that the replica never had is cleared
            // (simulation seed 22056 of V6 at 300 steps).
            self.previous = Some(view.clone());
        } else if let Some(view) = &ack.remote_view
            && self.in_version < ack.remote_out_version
            && !older_than_acked
        {
            // The acker's replicas up to `remote_out_version`, not applied here yet, were
            // built before it applied the sends this ack answers: when they come, those
            // sends are as unseen by them as unacknowledged ones, and a field one of them
            // moved that such a replica changes was moved on both sides. Trimmed below with
            // the sends, their moves were lost, the replica's change was taken for the
            // acker's alone, while the acker had weighed it against ours as a conflict,
            // and the pair swapped a summary (simulation seed 27570 of V6 at 300 steps).
            let answered = self.moves_answered(ack.applied_version);
            // A view held for an earlier replica, still to come, stays for it: that
            // replica's apply makes it `previous`, and the replica after it is measured
            // against what the acker held then. Replaced, the replica after it was measured
            // against the acker's replica from before our send, which the acker had taken
            // since, and its person's removal of that send's label looked like no change
            // (simulation seed 48991 of V6 at 300 steps).
            let earlier = self
                .view_not_taken
                .take()
                .and_then(|held| held.waiting_between(self.in_version, ack.remote_out_version));
            self.view_not_taken = Some(ViewNotTaken {
                view: view.clone(),
                acked: ack.applied_version,
                remote_out_version: ack.remote_out_version,
                answered,
                earlier,
            });
        }
        if ack.applied_version == self.out_version
            && self.in_version == self.sent_in_version
            && let Some(sent) = &self.sent_item
        {
            // Our latest replica is applied and nothing came back in between: what we
            // sent is now the state both sides agree on.
            self.base_item = Some(sent.clone());
        } else if let Some(earlier) = self.earlier_send_up_to(ack.applied_version) {
            // An older replica is applied, and a replica the other side sends next was
            // built on it: merging that against an older base (or none, for a new twin)
            // would undo what changed here since (found by the simulation, seed 267).
            // A send trimmed unacknowledged leaves the one kept before it, the latest
            // state both sides are known to have shared (`earlier_send_up_to`).
            self.base_item = Some(earlier.item.clone());
        }
        self.earlier_sends
            .retain(|e| e.version > ack.applied_version);
        if self.acked_version >= self.out_version {
            self.status = TwinStatus::Synced;
        }
    }

    /// Notes a replica just applied here (`replica_here`, in our terms) whose sender had
    /// applied our last send when it built it (`applied_in`): `previous` now says what
    /// the sender made of that send, as an ack's view taken does (`take_view`). A value
    /// of the send the replica did not show (the sender kept or set its own) cannot come
    /// back as our echo any more: kept as one, a person's edit there back to our send's
    /// value was taken for ours, and our older value went back over it (simulation seed
    /// 55066 of V6 at 300 steps). Where the replica shows our value, the sender took it.
    pub fn answered_by_replica(&mut self, replica_here: &Item, applied_in: Option<u64>) {
        let built_on_last_send = applied_in.is_some_and(|n| n > 0 && n >= self.out_version);
        let Some(sent) = self.sent_item.as_ref().filter(|_| built_on_last_send) else {
            return;
        };
        let moved = moved_fields(self.sent_changed.as_deref(), sent);
        let moved_count = moved.len();
        let taken = shown_as_sent(moved, sent, replica_here);
        // Where the replica took every field of ours the record stays as it is: the list
        // is written only when it says something, so the twin record stays small (one
        // write unit on DynamoDB holds about 1 KB).
        if taken.len() < moved_count {
            self.sent_changed = Some(taken);
        }
    }
}

impl ViewNotTaken {
    /// This view, or the earlier one it keeps, where it waits for a replica after
    /// `in_version` (the last applied here) and before `remote_out_version`; the earlier
    /// one first, as its replica comes first.
    fn waiting_between(mut self, in_version: u64, remote_out_version: u64) -> Option<Box<Self>> {
        let waits = |v: &ViewNotTaken| {
            v.remote_out_version > in_version && v.remote_out_version < remote_out_version
        };
        let earlier = self.earlier.take().map(|e| *e);
        [earlier, Some(self)]
            .into_iter()
            .flatten()
            .find(waits)
            .map(Box::new)
    }
}

/// The fields our send changed (`changed`; `None`: all it carried) that the acker's view,
/// in our terms, shows at the send's value: the acker took ours there. Labels are left
/// out: they merge name by name, and an echo of the whole set kept this way hid a name a
/// person there removed again after the view (simulation seed 41176 of V6 at 300 steps,
/// found by the sweep of this rule).
pub(crate) fn echoes_taken(
    changed: Option<&[String]>,
    sent: &Item,
    view_here: &Item,
) -> Vec<String> {
    shown_as_sent(moved_fields(changed, sent), sent, view_here)
}

/// The fields but labels that our send changed (`changed`; `None`: all it carried).
fn moved_fields(changed: Option<&[String]>, sent: &Item) -> Vec<String> {
    let mut moved = match changed {
        Some(changed) => changed.to_vec(),
        None => changed_fields(&Item::default(), sent),
    };
    moved.retain(|field| field != "labels");
    moved
}

/// Those of `fields` that `item` holds at our send's value.
fn shown_as_sent(mut fields: Vec<String>, sent: &Item, item: &Item) -> Vec<String> {
    let differs = changed_fields(item, sent);
    fields.retain(|field| !differs.contains(field));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Named;
    use serde_json::json;

    fn item(summary: &str, priority: &str, labels: &[&str]) -> Item {
        Item {
            summary: summary.into(),
            priority: Some(Named::new(priority)),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            ..Item::default()
        }
    }

    #[test]
    fn the_echoes_an_ack_keeps_are_the_values_the_acker_took_from_us() {
        let sent = item("ours", "2", &["a", "b"]);
        // (fields the send changed, the view in our terms) -> the echoes kept.
        type Case<'a> = (Option<&'a [&'a str]>, Item, &'a [&'a str]);
        let table: [Case; 6] = [
            // Seed 35052: the acker took our priority.
            (Some(&["priority"]), item("x", "2", &[]), &["priority"]),
            // Seed 2632: it kept its own, which may come back later as a person's.
            (Some(&["priority"]), item("ours", "3", &["a", "b"]), &[]),
            (
                Some(&["summary", "priority"]),
                item("ours", "3", &[]),
                &["summary"],
            ),
            // No base: every field the send carried counts, as it does for the merge;
            // labels never (seed 41176).
            (None, item("ours", "3", &["b", "a"]), &["summary"]),
            (Some(&[]), sent.clone(), &[]),
            (Some(&["labels"]), item("", "", &["b", "a"]), &[]),
        ];
        for (changed, view_here, want) in table {
            let changed: Option<Vec<String>> =
                changed.map(|c| c.iter().map(|f| f.to_string()).collect());
            let got = echoes_taken(changed.as_deref(), &sent, &view_here);
            assert_eq!(got, want, "{changed:?} {view_here:?}");
        }
    }

    #[test]
    fn an_ack_of_our_last_send_keeps_the_echo_only_where_the_view_took_ours() {
        let sent = item("ours", "2", &[]);
        let base = item("ours", "1", &[]);
        let ack = AckMessage {
            connection_id: "c1".into(),
            from_node: "b".into(),
            source_key: "A-1".into(),
            target_key: Some("B-1".into()),
            target_url: None,
            applied_version: 1,
            source_twin: "t1".into(),
            comment_links: Vec::new(),
            remote_view: Some(json!({"summary": "ours", "priority": "2"})),
            remote_out_version: 0,
            error: None,
            acker_twin: None,
            trace_id: String::new(),
        };
        // (the view in our terms) -> `sent_changed` after the ack.
        let took_ours = item("ours", "2", &[]);
        let kept_its_own = item("ours", "3", &[]);
        let table: [(Option<&Item>, &[&str]); 3] = [
            (Some(&took_ours), &["priority"]),
            (Some(&kept_its_own), &[]),
            (None, &[]),
        ];
        for (view_here, want) in table {
            let mut t = Twin::new("t1".into(), "c1".into(), 1_000);
            t.base_item = Some(base.clone());
            t.record_send(json!({}), &sent, 2_000);
            assert_eq!(
                t.sent_changed.as_deref(),
                Some(&["priority".to_string()][..])
            );
            t.record_ack_viewed(&ack, view_here, 2_100);
            let want: Vec<String> = want.iter().map(|f| f.to_string()).collect();
            assert_eq!(t.sent_changed, Some(want), "{view_here:?}");
        }
    }

    #[test]
    fn a_replica_built_on_our_last_send_keeps_the_echo_only_where_it_took_ours() {
        let sent = item("ours", "2", &[]);
        // (the replica's `applied_in`, its fields in our terms, our first send or not)
        // -> `sent_changed` after it; `None` where it stays as the send left it.
        type Case<'a> = (Option<u64>, Item, bool, Option<&'a [&'a str]>);
        let table: [Case; 7] = [
            // Seed 55066: it showed its own priority, so ours can no longer echo back.
            (Some(1), item("ours", "3", &[]), false, Some(&[])),
            (Some(1), item("ours", "2", &[]), false, Some(&["priority"])),
            // A first send carried every field it set: the summary was taken, not the
            // priority.
            (Some(1), item("ours", "3", &[]), true, Some(&["summary"])),
            // It took all of ours: nothing to say, and the record stays small.
            (Some(1), item("ours", "2", &[]), true, None),
            // Built before our send reached it: the send may still come back.
            (Some(0), item("ours", "3", &[]), false, None),
            (None, item("ours", "3", &[]), false, None),
            // Crossing first replicas: neither side had seen the other's.
            (Some(0), item("ours", "3", &[]), true, None),
        ];
        for (applied_in, replica_here, first_send, want) in table {
            let mut t = Twin::new("t1".into(), "c1".into(), 1_000);
            if !first_send {
                t.base_item = Some(item("ours", "1", &[]));
            }
            t.record_send(json!({}), &sent, 2_000);
            let before = t.sent_changed.clone();
            t.answered_by_replica(&replica_here, applied_in);
            let want = match want {
                Some(w) => Some(w.iter().map(|f| f.to_string()).collect()),
                None => before,
            };
            assert_eq!(t.sent_changed, want, "{applied_in:?} {replica_here:?}");
        }
    }
}
