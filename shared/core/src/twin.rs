//! Twins: a local item and its remote counterpart joined by a connection.

use crate::item::Item;
use crate::removal::Enrollment;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "message", rename_all = "snake_case")]
pub enum TwinStatus {
    Syncing,
    Synced,
    Error(String),
    Unlinked,
}

impl TwinStatus {
    pub fn label(&self) -> &str {
        match self {
            TwinStatus::Syncing => "syncing",
            TwinStatus::Synced => "synced",
            TwinStatus::Error(_) => "error",
            TwinStatus::Unlinked => "unlinked",
        }
    }
}

/// A local comment and the comment it is synced with on the other side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentLink {
    pub local_id: String,
    pub remote_id: String,
}

/// How many unacknowledged replicas before the last one a twin remembers the item of.
/// The oldest is always among them: a peer that stops acknowledging (paused,
/// unreachable) built its replicas in flight on a send it applied before it stopped,
/// and forgetting that send merged them against no base (simulation seed 1332 of V5).
pub const EARLIER_SENDS_KEPT: usize = 4;

/// A replica sent and not acknowledged yet, with the local item it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlierSend {
    pub version: u64,
    pub item: Item,
    /// `in_version` at that send.
    pub in_version: u64,
    /// What the replicas applied after this send changed in `previous`
    /// (see [`Twin::sent_crossed`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub crossed: BTreeMap<String, Value>,
    /// The merge fields this send changed from the state it was built on
    /// (`Twin::sent_moved` when it was the last send, with those of sends trimmed after
    /// it); `None`: not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<String>>,
    /// Those of `changed` the send before this one carried the same way
    /// (`Twin::sent_repeated` when it was the last send; empty once that send is trimmed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeated: Vec<String>,
}

/// The view of an ack that could not be taken as the other side's previous replica: it
/// was built on a replica of the other side's not applied here (lost in a crash before
/// it was sent, or still on its way; `Twin::record_ack`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewNotTaken {
    pub view: Value,
    /// Our send the ack answered.
    pub acked: u64,
    /// The other side's last replica when it built the view.
    pub remote_out_version: u64,
    /// What the sends this ack answered moved (and those of an earlier ack not taken
    /// since the last apply): the other side's replicas up to `remote_out_version`,
    /// still to come here, were built before it applied them, and cross them as they
    /// cross unacknowledged sends (`Twin::moved_by_unseen_sends`; simulation seed 27570
    /// of V6 at 300 steps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answered: Vec<SentMoves>,
    /// The view of an earlier ack that this one replaced while the replica it waited for
    /// was still on its way (the oldest such): taken when that replica is applied, and
    /// this view waits on for its own (simulation seed 48991 of V6 at 300 steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier: Option<Box<ViewNotTaken>>,
}

/// What one of our sends moved, kept past its ack for [`ViewNotTaken::answered`]: its
/// version, [`EarlierSend::changed`] and [`EarlierSend::repeated`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMoves {
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeated: Vec<String>,
}

/// The replica of an apply that failed as retryable, kept until an apply is recorded: a
/// lost answer may have left the item as its write made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyAttempt {
    pub version: u64,
    /// The sender's twin record the replica came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_twin: String,
    pub replica: Value,
}

/// This node's record of one twin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Twin {
    pub id: String,
    pub connection_id: String,
    /// The item on this side; `None` while a create is reserved but not done.
    pub local_key: Option<String>,
    pub local_url: Option<String>,
    /// The item on the other side, once known (from a replica or an ack).
    pub remote_key: Option<String>,
    pub remote_url: Option<String>,
    pub status: TwinStatus,
    /// Last replica version this node sent.
    pub out_version: u64,
    /// Last of our versions the other side acknowledged.
    pub acked_version: u64,
    /// Last replica version of the other side applied here.
    pub in_version: u64,
    /// The other side's twin record those versions count on. A newer one (its store was
    /// wiped, or the pair relinked there) starts counting again.
    #[serde(default)]
    pub remote_twin: Option<String>,
    /// The replica (in our outgoing vocabulary) the other side is believed to have;
    /// an outgoing replica equal to it is an echo or a no-op and is not sent.
    pub baseline: Option<Value>,
    /// The local item's version the baseline was made from: a change event for exactly
    /// this version is our own write (or one already sent) and needs no read.
    #[serde(default)]
    pub baseline_version: u64,
    /// The other side's replica as last known (the scripts' `previous`).
    pub previous: Option<Value>,
    /// The local item as both sides last agreed on it: the merge base.
    pub base_item: Option<Item>,
    /// The local item as the last apply left it, its version included (the write's
    /// whole answer, or the read after it). Where the tracker takes a precondition
    /// (`Preconditions`), the next apply plans on it and writes on condition
    /// that the item is still at that version, reading the item only when the write
    /// is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_item: Option<Item>,
    /// The local item as it was when the last replica was sent; it becomes the merge
    /// base when the other side acknowledges that replica.
    #[serde(default)]
    pub sent_item: Option<Item>,
    /// `in_version` at that send: if a replica was applied since, the apply's base is newer.
    #[serde(default)]
    pub sent_in_version: u64,
    /// The merge fields that last send changed from the base it was built on; `None`
    /// when there was no base (a first send) or the record is older than this field, and
    /// then every field counts as changed. Only a changed field can come back as our own
    /// echo: an unchanged one equal to the send may be the other side's edit (simulation
    /// seed 151 of generator V5). Names, not the base item, keep the twin record small.
    /// Empty once the ack of that send is taken as the other side's previous replica:
    /// `previous` then says what it made of each field (seed 2632 of V5). Likewise
    /// narrowed to the fields a replica built on that send showed at the send's value,
    /// when it showed one of its own (`Twin::answered_by_replica`, seed 55066 of V6),
    /// and without the fields an apply took the other side's value over ours in
    /// (`Twin::supersede_moves`, seed 1929 of V6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_changed: Option<Vec<String>>,
    /// The merge fields the last send changed from the state it was built on: its base,
    /// or, before the first ack gave one, the send before it; for a first send, every
    /// field it sets (`None` in records older than that).
    /// Unlike `sent_changed` it stays until the send is acknowledged: a replica of the
    /// other side that crosses the send and changes one of them changes a field both
    /// sides moved (`Twin::moved_by_unseen_sends`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_moved: Option<Vec<String>>,
    /// Those of `sent_moved` the send before the last one carried the same way: a replica
    /// built on that send lacks none of them (simulation seed 22273 of V6 at 300 steps;
    /// `Twin::moved_by_unseen_sends`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent_repeated: Vec<String>,
    /// The members of `previous` (the other side's replica) that the replicas applied
    /// since the last send changed, and that the item still holds as they left them, each
    /// with its value before the first of them. Such a replica crossed that send: the
    /// other side built it before applying ours, so the ack of ours carries a view made
    /// without it. Where that view still shows the value from before, it says nothing of
    /// the crossing change, and the ack keeps the replica's value (simulation seeds 822
    /// of V3 and 1020 of V4); the ack of the last send keeps it whatever the view shows,
    /// since the acker's next replica carries its answer (seed 1326 of V5). A member the
    /// item holds a value of its own in (the merge kept ours, or it changed here since)
    /// is left out: there the view is the other side's answer to ours, its echo of our
    /// own value included (seed 4216 of V5).
    /// Empty when nothing was applied since the send, or the record is older than this
    /// field (then the whole view is taken, as before).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sent_crossed: BTreeMap<String, Value>,
    /// Replicas sent before the last one and not acknowledged yet, oldest first (at most
    /// [`EARLIER_SENDS_KEPT`]; past that the oldest stays and the ones after it go): an
    /// ack for one of them makes its item the merge base, so a replica the other side
    /// sent after applying it is merged against what it saw.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_sends: Vec<EarlierSend>,
    /// The latest ack's view, where it could not be taken; dropped by the next apply or
    /// a view taken (one kept beside an earlier view waits on past the apply of that
    /// view's replica, [`ViewNotTaken::earlier`]). A field it shows at our acked send's
    /// value, which a later replica built on that send still has, is that send coming
    /// back, not the other side's change (`Twin::view_held_for`,
    /// `MergeContext::held_at_ack`; simulation seed 1351 of V6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_not_taken: Option<ViewNotTaken>,
    pub comment_links: Vec<CommentLink>,
    /// How the twin came under sync: a move out of every trigger unlinks only what a
    /// trigger brought in.
    #[serde(default)]
    pub enrolled: Enrollment,
    /// Idempotency key of the create that reserved this twin.
    pub reservation: Option<String>,
    /// The other node's Relink request this record was made for, written with the
    /// record's insert: the request delivered again after a crash before its answer finds
    /// the record it made, even one an operator here unlinked since (simulation seed 31916
    /// of V6 at 300 steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_for_relink: Option<String>,
    /// While an incoming replica is being written to the local item, the outgoing side
    /// waits: the tracker's echo of that write must meet the new baseline, not the old.
    #[serde(default)]
    pub applying_until_ms: i64,
    /// The apply that took the lease failed and will be retried: the next incoming attempt
    /// may take the lease at once, while the outgoing side still waits until
    /// `applying_until_ms`, so a half-written item is never sent back as a change.
    #[serde(default)]
    pub lease_released: bool,
    /// The version of the first replica an apply took this twin's lease for (0: none
    /// yet). Before any apply is recorded, an item found by its origin marker was created
    /// by that replica's attempt, if by any: a later replica (one a pause held back may
    /// come first) must not take the item as its own creation (simulation seeds 1217 of
    /// V1 and 1573 of V3).
    #[serde(default)]
    pub first_apply_version: u64,
    /// That first replica, stored with its lease before anything is written, while the
    /// twin links no item and no apply is recorded: an item found by its origin marker
    /// was created from it, and every replica merges against what it created, not only
    /// that one. A pause can hand an older or a newer replica in before that one's retry,
    /// and merged against no base it overwrote a person's edit of the new item (simulation
    /// seed 1738 of V5 at 300 steps). Dropped when an apply is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_apply_replica: Option<Value>,
    /// The replicas whose applies failed as retryable (the write may have happened, its
    /// answer lost) since the last apply was recorded, oldest first
    /// (at most [`crate::twin_lease::ATTEMPTS_KEPT`]). One whose write happened with its
    /// answer lost, overtaken by a newer replica (a pause put its retry behind it), left
    /// the item as it wrote it: the newer replica's merge takes what the item shows of
    /// that write as sync's, not as a person's edit (simulation seed 43344 of V6 at 300
    /// steps). Dropped when an apply is recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apply_attempts: Vec<ApplyAttempt>,
    /// Every apply of this twin so far failed before its tracker could create an item:
    /// the first had no item to look for by origin marker, and the tracker refused each
    /// create whole (a 429, or our own rate budget before the request left). Its retry
    /// creates without looking either, so a create held back by a rate limit costs no
    /// search of the budget it waits for. Each lease clears it, so an apply that crashes
    /// after its create leaves the next one looking.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created_nothing: bool,
    /// The queue a message about this twin was dead-lettered from, while the twin's Error
    /// is that dead letter: processing the message once redriven clears it (and the
    /// Error), and so does any newer send, apply or ack, whose status says more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<String>,
    /// The latest routine steps of its changes (`crate::timeline`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_steps: Vec<crate::timeline::TwinStep>,
    /// Bumped by every write; stores use it for conditional updates.
    pub revision: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// Which of a twin's two item keys a lookup names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySide {
    /// The item's key in this node's tracker.
    Local,
    /// The key of its pair in the other node's tracker.
    Remote,
}

/// What a twin record says of a Relink request of the other node's ([`Twin::made_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelinkMade {
    /// The record was not made for it.
    NotForIt,
    /// It made the record, which still links the pair: the request is delivered again.
    Linked,
    /// It made the record, and an operator here unlinked it since: a later request
    /// decides the pair, so this one links nothing now.
    UnlinkedSince,
}

impl Twin {
    /// What this record says of the other node's Relink request `ask_id`.
    pub fn made_for(&self, ask_id: &str) -> RelinkMade {
        match (
            self.made_for_relink.as_deref() == Some(ask_id),
            &self.status,
        ) {
            (false, _) => RelinkMade::NotForIt,
            (true, TwinStatus::Unlinked) => RelinkMade::UnlinkedSince,
            (true, _) => RelinkMade::Linked,
        }
    }

    pub fn new(id: String, connection_id: String, now_ms: i64) -> Self {
        Self {
            id,
            connection_id,
            local_key: None,
            local_url: None,
            remote_key: None,
            remote_url: None,
            status: TwinStatus::Syncing,
            out_version: 0,
            acked_version: 0,
            in_version: 0,
            remote_twin: None,
            baseline: None,
            baseline_version: 0,
            previous: None,
            base_item: None,
            local_item: None,
            sent_item: None,
            sent_in_version: 0,
            sent_changed: None,
            sent_moved: None,
            sent_repeated: Vec::new(),
            sent_crossed: BTreeMap::new(),
            earlier_sends: Vec::new(),
            view_not_taken: None,
            comment_links: Vec::new(),
            enrolled: Enrollment::Peer,
            reservation: None,
            made_for_relink: None,
            applying_until_ms: 0,
            lease_released: false,
            first_apply_version: 0,
            first_apply_replica: None,
            apply_attempts: Vec::new(),
            created_nothing: false,
            dead_letter: None,
            recent_steps: Vec::new(),
            revision: 0,
            created_ms: now_ms,
            updated_ms: now_ms,
        }
    }

    /// Whether this record is the twin of `key` on `side` in `connection_id`: a record a
    /// message names by id stands for a lookup by key only while it still holds the key.
    pub fn holds_key(&self, connection_id: &str, side: KeySide, key: &str) -> bool {
        let held = match side {
            KeySide::Local => &self.local_key,
            KeySide::Remote => &self.remote_key,
        };
        self.connection_id == connection_id && held.as_deref() == Some(key)
    }

    /// The other side's record this twin exchanged replicas with, when it is older than
    /// `pair_record`, the record the other side names as the pair's in its answer to our
    /// Relink: that side replaced it before answering, so what this twin counted from it
    /// (baseline, previous, versions) belongs to the old pair. Record ids are
    /// time-ordered, so a smaller id is the older record.
    pub fn exchanged_with_older(&self, pair_record: &str) -> Option<&str> {
        self.remote_twin
            .as_deref()
            .filter(|known| !pair_record.is_empty() && *known < pair_record)
    }

    /// The item's summary as last shared: our replica's, else the other side's.
    pub fn summary(&self) -> Option<&str> {
        [&self.baseline, &self.previous]
            .into_iter()
            .flatten()
            .find_map(|r| r.get("summary").and_then(|s| s.as_str()))
    }

    /// What the monitor's text search looks in besides the keys: the summary and the
    /// error, lower-cased so every store can match without regard to case.
    pub fn search_text(&self) -> String {
        let error = match &self.status {
            TwinStatus::Error(why) => why.as_str(),
            _ => "",
        };
        format!("{}\n{}", self.summary().unwrap_or_default(), error).to_lowercase()
    }

    pub fn remote_comment_for(&self, local_id: &str) -> Option<&str> {
        self.comment_links
            .iter()
            .find(|l| l.local_id == local_id)
            .map(|l| l.remote_id.as_str())
    }

    pub fn local_comment_for(&self, remote_id: &str) -> Option<&str> {
        self.comment_links
            .iter()
            .find(|l| l.remote_id == remote_id)
            .map(|l| l.local_id.as_str())
    }

    /// Records a comment link once.
    pub fn link_comment(&mut self, local_id: &str, remote_id: &str) {
        if !self
            .comment_links
            .iter()
            .any(|l| l.local_id == local_id && l.remote_id == remote_id)
        {
            self.comment_links.push(CommentLink {
                local_id: local_id.to_string(),
                remote_id: remote_id.to_string(),
            });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncEventKind {
    Outgoing,
    Suppressed,
    Held,
    Incoming,
    Ack,
    Nack,
    Conflict,
    Error,
    Operation,
    ConnectionStatus,
    /// A message gave up retrying and went to its dead-letter queue.
    DeadLettered,
    /// An operator moved dead-lettered messages back to their queue.
    Redriven,
    /// A draft in shadow mode would have sent something else.
    Shadow,
    /// An item or comment was removed on one side, and what the removal policy did.
    Removed,
}

/// One line of a twin's (or connection's) history in the Item Sync Monitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEvent {
    pub connection_id: String,
    pub twin_id: Option<String>,
    pub at_ms: i64,
    pub kind: SyncEventKind,
    pub detail: String,
}

impl SyncEventKind {
    /// The routine steps of a change (a replica sent, found unchanged, applied,
    /// acknowledged). The twin's timeline keeps them; a connection's feed leaves them out,
    /// so stores write each routine event once, under its twin.
    pub const ROUTINE: [SyncEventKind; 4] = [
        SyncEventKind::Outgoing,
        SyncEventKind::Suppressed,
        SyncEventKind::Incoming,
        SyncEventKind::Ack,
    ];
}

impl SyncEvent {
    /// Whether a connection's feed lists this event: everything except a twin's routine
    /// steps (see [`SyncEventKind::ROUTINE`]).
    pub fn in_connection_feed(&self) -> bool {
        self.twin_id.is_none() || !SyncEventKind::ROUTINE.contains(&self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulation seed 31916 of V6 at 300 steps: a record made for a Relink request, then
    /// unlinked by an operator here, tells the request delivered again to link nothing.
    #[test]
    fn a_record_says_what_it_was_made_for() {
        // (made for, status) -> what it says of request "r1"
        let table = [
            (None, TwinStatus::Synced, RelinkMade::NotForIt),
            (Some("r0"), TwinStatus::Unlinked, RelinkMade::NotForIt),
            (Some("r1"), TwinStatus::Synced, RelinkMade::Linked),
            (Some("r1"), TwinStatus::Syncing, RelinkMade::Linked),
            (Some("r1"), TwinStatus::Unlinked, RelinkMade::UnlinkedSince),
        ];
        for (made_for, status, want) in table {
            let mut t = Twin::new("t".into(), "c".into(), 0);
            t.made_for_relink = made_for.map(str::to_string);
            t.status = status.clone();
            assert_eq!(t.made_for("r1"), want, "{made_for:?} {status:?}");
        }
    }

    #[test]
    fn holds_key_table() {
        let mut twin = Twin::new("t".into(), "c".into(), 0);
        twin.local_key = Some("L-1".into());
        twin.remote_key = Some("R-1".into());
        // (connection, side, key, holds)
        let cases = [
            ("c", KeySide::Local, "L-1", true),
            ("c", KeySide::Remote, "R-1", true),
            ("c", KeySide::Local, "R-1", false),
            ("c", KeySide::Remote, "L-1", false),
            ("other", KeySide::Local, "L-1", false),
            ("c", KeySide::Local, "L-2", false),
        ];
        for (connection, side, key, want) in cases {
            assert_eq!(
                twin.holds_key(connection, side, key),
                want,
                "{connection} {side:?} {key}"
            );
        }
        let unkeyed = Twin::new("u".into(), "c".into(), 0);
        assert!(!unkeyed.holds_key("c", KeySide::Remote, ""));
    }

    #[test]
    fn exchanged_with_older_table() {
        // (the record the twin knows, the record the answer names, the old one)
        let cases = [
            (None, "0192-b", None),
            (Some("0192-a"), "0192-b", Some("0192-a")),
            (Some("0192-b"), "0192-b", None),
            (Some("0192-c"), "0192-b", None),
            (Some("0192-a"), "", None),
        ];
        for (known, named, want) in cases {
            let mut twin = Twin::new("t".into(), "c".into(), 0);
            twin.remote_twin = known.map(str::to_string);
            assert_eq!(twin.exchanged_with_older(named), want, "{known:?} {named}");
        }
    }
}
