//! What our sends moved, for the replicas of the other side built without them: the
//! fields each unacknowledged send changed ([`Twin::moved_by_unseen_sends`]), kept past an
//! ack whose view waits ([`Twin::moves_answered`]), and forgotten where an apply took the
//! other side's value over ours ([`Twin::supersede_moves`]). Pure, like
//! [`crate::twin_state`].

use crate::item::Item;
use crate::merge::changed_fields;
use crate::twin::{SentMoves, Twin};

impl Twin {
    /// The merge fields our unacknowledged sends after `applied_in` (the last of ours
    /// the replica's sender had applied) changed, each from the base it was built on:
    /// the sender built its replica without them and applies them after it. A field one
    /// of them moved and the replica changes was changed on both sides even where our
    /// item is back at the base value (simulation seed 3453 of V5: our sends took a
    /// status to Doing and back to To Do while the other side's replica set Doing; taken
    /// as the other side's change alone, we applied its Doing while it applied our To Do,
    /// and the pair swapped the status).
    /// An acknowledged send counts as seen only by the sender's replicas built after it
    /// applied it: one built before (its version, `replica`, up to the `remote_out_version` of an
    /// ack not taken, which waits for it) lacks the sends that ack answered too
    /// ([`crate::twin::ViewNotTaken::answered`]; simulation seed 27570 of V6 at 300 steps:
    /// the ack of our last send overtook their replica, built on our first, and the
    /// summary our second had moved, which the replica changed, was taken for their
    /// change alone, while they had weighed it against ours as a conflict).
    pub fn moved_by_unseen_sends(&self, applied_in: Option<u64>, replica: u64) -> Vec<String> {
        let Some(seen) = applied_in else {
            return Vec::new();
        };
        let built_before_ack = self
            .view_not_taken
            .as_ref()
            .filter(|held| replica <= held.remote_out_version);
        let after = match built_before_ack {
            Some(_) => seen,
            None => seen.max(self.acked_version),
        };
        // A send's repeats of the send before it are no move where the sender built on
        // that send or has not applied it either (its own moves count then); where it
        // applied it only after building (acknowledged since), they still are.
        let moved = |version: u64, changed: &[String], repeated: &[String]| -> Vec<String> {
            let before_counted = version == seen + 1 || version > after + 1;
            changed
                .iter()
                .filter(|f| !(before_counted && repeated.contains(f)))
                .cloned()
                .collect()
        };
        let last = (self.out_version > after)
            .then(|| {
                self.sent_moved
                    .as_ref()
                    .map(|c| moved(self.out_version, c, &self.sent_repeated))
            })
            .flatten();
        let answered = built_before_ack
            .into_iter()
            .flat_map(|held| held.answered.iter())
            .filter(|s| s.version > seen)
            .filter_map(|s| s.changed.as_ref().map(|c| moved(s.version, c, &s.repeated)));
        let mut all: Vec<String> = self
            .earlier_sends
            .iter()
            .filter(|e| e.version > after)
            .filter_map(|e| e.changed.as_ref().map(|c| moved(e.version, c, &e.repeated)))
            .chain(answered)
            .chain(last)
            .flatten()
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// Forgets that our unacknowledged sends moved `fields`: an apply took the other
    /// side's value over ours there (`MergeOutcome::superseded`). The other side weighs
    /// those sends against its own value and keeps it, as we did, so a later replica of
    /// theirs built without them changes what both sides now hold, not something of ours
    /// (simulation seed 29792 of V6 at 300 steps: a description our sends moved lost here
    /// to theirs; their next edit of it met those sends as a conflict, decided by our item
    /// time, which sync's own writes had moved on, and the pair ended at their older
    /// value, which neither person had left).
    pub fn supersede_moves(&mut self, fields: &[String]) {
        if fields.is_empty() {
            return;
        }
        let answered = self
            .view_not_taken
            .iter_mut()
            .flat_map(|held| held.answered.iter_mut().map(|s| &mut s.changed));
        let moves = std::iter::once(&mut self.sent_moved)
            .chain(self.earlier_sends.iter_mut().map(|e| &mut e.changed))
            .chain(answered);
        for changed in moves.flatten() {
            changed.retain(|f| !fields.contains(f));
        }
        // Nor can our last send's value come back as our echo there: the other side keeps
        // its own against it, so that value in a later replica of theirs is a person's
        // edit there. Taken for our echo, it was kept out here and the other side's older
        // value went back over it (simulation seed 1929 of V6 at 300 steps). A send with
        // no base echoes every field it carried, as `take_view` reads it.
        if let Some(sent) = self.sent_item.as_ref() {
            let echoes = self
                .sent_changed
                .get_or_insert_with(|| changed_fields(&Item::default(), sent));
            echoes.retain(|f| !fields.contains(f));
        }
    }

    /// What the sends an ack of `applied_version` answers moved, with those of an earlier
    /// ack not taken since the last apply (in `view_not_taken`, which this ack's view
    /// replaces): kept for the replicas that ack's view waits for
    /// ([`crate::twin::ViewNotTaken::answered`]).
    pub(crate) fn moves_answered(&self, applied_version: u64) -> Vec<SentMoves> {
        let mut answered = self
            .view_not_taken
            .as_ref()
            .map(|held| held.answered.clone())
            .unwrap_or_default();
        answered.extend(
            self.earlier_sends
                .iter()
                .filter(|e| e.version <= applied_version)
                .map(|e| SentMoves {
                    version: e.version,
                    changed: e.changed.clone(),
                    repeated: e.repeated.clone(),
                }),
        );
        if applied_version == self.out_version {
            answered.push(SentMoves {
                version: self.out_version,
                changed: self.sent_moved.clone(),
                repeated: self.sent_repeated.clone(),
            });
        }
        answered
    }
}
