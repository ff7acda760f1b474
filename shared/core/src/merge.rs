//! The per-field 3-way merge of an incoming change with the local item.
//!
//! Three versions of each field meet here, all in the local item's vocabulary:
//! `base` (what both sides last agreed on), `local` (the item now) and `remote`
//! (what the incoming rules make of the new replica). `remote_prev` is what the same
//! rules make of the previous replica, so a field the remote did not touch is seen as
//! unchanged even if the rules map it. A field changed on one side only takes that
//! side's value; changed on both sides to different values, the connection's policy
//! for the field decides and a conflict is reported.

use crate::connection::{ConflictPolicy, ConflictSettings};
use crate::item::Item;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod labels;
mod written;
use labels::merge_labels;
pub use written::shown_as_written;

/// Everything the merge needs besides the items.
#[derive(Debug, Clone)]
pub struct MergeContext<'a> {
    pub settings: &'a ConflictSettings,
    /// This node's id, for side-of-truth policies.
    pub local_node: &'a str,
    pub remote_node: &'a str,
    /// When the remote item changed, for newest-wins.
    pub remote_updated_ms: i64,
    /// The local item as this side last sent it, if it has sent one.
    pub sent: Option<&'a Item>,
    /// Whether the remote had applied that send when it built its replica.
    pub sent_seen: SentSeen,
    /// The fields that send changed from its base (`Twin::sent_changed`); `None`: all.
    pub sent_changed: Option<&'a [String]>,
    /// The fields our sends the remote built this replica without moved
    /// (`Twin::moved_by_unseen_sends`): where the replica changes one, both sides did.
    pub unseen_moved: &'a [String],
    /// What the other side held, in our vocabulary, when it acknowledged the send of
    /// ours this replica was built on, where that ack's view could not be taken
    /// (`Twin::view_held_for`).
    pub held_at_ack: Option<&'a Item>,
    /// Whether a replica of the other side was applied here since our last send.
    pub since_sent: SinceSent,
}

/// What changed our item since our last send, as far as the twin knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinceSent {
    /// A replica of the other side was applied: a value that differs from the send
    /// may be one taken from the other side (simulation seed 224 of V3).
    Applied,
    /// Nothing was applied: a value that differs from the send is a person's edit.
    NothingApplied,
}

/// Whether the remote had applied our last send when it built the replica being merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentSeen {
    /// The replica does not say (an older sender), or we sent nothing.
    Unknown,
    /// Not yet: the remote still applies it.
    Unseen,
    /// Yes: a remote value equal to what we sent is our own change coming back, not a
    /// change of the remote's.
    Seen,
}

/// A field both sides changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub field: String,
    pub local: Value,
    pub remote: Value,
    /// "local" or "remote".
    pub winner: String,
    pub policy: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MergeOutcome {
    pub merged: Item,
    pub conflicts: Vec<Conflict>,
    /// Fields where the merged item keeps a local value the remote does not have;
    /// when not empty the local side must send its own replica back.
    pub local_kept: Vec<String>,
    /// Fields the remote will hold as our last send carried them, not as its replica
    /// says: the replica, built before it applied that send, left them alone, while our
    /// item has left the send's value since (simulation seeds 2974 and 20227 of V6). Or
    /// the replica changed them to our item's value while the send moved them elsewhere,
    /// and a person here set that value since (seed 22367 of V6 at 300 steps).
    pub sent_held: Vec<String>,
    /// Fields where our item took the remote's value over a different one of ours while
    /// a send of ours the remote had not applied moved them: that send's value lost here
    /// and, weighed there against the remote's own, loses there too, so its move is no
    /// longer ours to meet later replicas with ([`crate::Twin::supersede_moves`]).
    pub superseded: Vec<String>,
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

enum Pick {
    Local,
    Remote,
}

struct Merger<'a> {
    ctx: &'a MergeContext<'a>,
    local_updated_ms: i64,
    conflicts: Vec<Conflict>,
    local_kept: Vec<String>,
    sent_held: Vec<String>,
    superseded: Vec<String>,
}

impl Merger<'_> {
    /// Whether the remote's value of `field` is our last send coming back: the remote
    /// had applied it and holds the same (simulation seed 822), and that send changed
    /// the field. A value our send only carried along may be the remote's own edit back
    /// to it, which must be taken (simulation seed 151).
    fn echoes(&self, field: &str, same: impl Fn(&Item) -> bool) -> bool {
        self.ctx.sent_seen == SentSeen::Seen
            && self.ctx.sent.is_some_and(same)
            && self
                .ctx
                .sent_changed
                .is_none_or(|changed| changed.iter().any(|f| f == field))
    }

    /// Whether the remote's value of a field is the one it held when it acknowledged our
    /// send, and that send's value (`base_same`: the base is that send): our send coming
    /// back, where the ack's view could not be taken as its previous replica and
    /// `previous` is older than our send (simulation seed 1351 of V6: a replica lost in
    /// a crash kept every later view out, and our own summary came back as the other
    /// side's change over a person's newer one). A view showing its own value instead
    /// (it kept it) says nothing: the same value later may be a person's (seed 2632).
    fn held_since_ack(&self, base_same: bool, same: impl Fn(&Item) -> bool) -> bool {
        base_same && self.ctx.held_at_ack.is_some_and(same)
    }

    /// Whether the remote's value of a field differs from the one it held when it
    /// acknowledged our send, where that ack's view could not be taken: the view is newer
    /// than `previous`, so a replica built after it that differs from it carries the
    /// remote's own edit, even where it is back at `previous`'s value (simulation seed
    /// 34989 of V6 at 300 steps: the remote took our Low, a person there set Medium
    /// again, and its replica, the same as `previous` from before our send, looked like
    /// no change here, so the pair stayed apart).
    fn moved_since_ack(&self, same: impl Fn(&Item) -> bool) -> bool {
        self.ctx.held_at_ack.is_some_and(|held| !same(held))
    }

    /// Whether one of our sends the remote had not applied moved `field` (the caller
    /// asks only where our item still holds what we last sent: a value it took from the
    /// other side since is not ours, simulation seed 224 of V3).
    fn moved_unseen(&self, field: &str) -> bool {
        self.ctx.sent_seen == SentSeen::Unseen && self.ctx.unseen_moved.iter().any(|f| f == field)
    }

    /// Whether our item moved `field` since the base through a send the remote had not
    /// applied: our item still holds that send's value, or a person set it again since,
    /// nothing of the other side's applied meanwhile. A person who set the base's value
    /// back after the send changed the field too: taken for no change, the crossing
    /// replica's older value overwrote the person's (simulation seed 3453 of V5, once
    /// the apply planned on its last write and read only when that write was refused).
    fn moved_since_unseen_send(&self, field: &str, local_unsent: bool) -> bool {
        self.moved_unseen(field)
            && (!local_unsent || self.ctx.since_sent == SinceSent::NothingApplied)
    }

    /// Whether our item's value of a field that left our last send's value is ours, not
    /// one taken from the other side: nothing of theirs was applied since the send, or
    /// the base still holds the send's value (`base_sent`), which a value taken from
    /// them would have moved (simulation seeds 20227 and 21533 of V6; otherwise it may be
    /// theirs, seed 224 of V3).
    fn ours_since_send(&self, base_sent: bool) -> bool {
        base_sent || self.ctx.since_sent == SinceSent::NothingApplied
    }

    /// Whether the replica left `field` alone while an unseen send of ours moved it: the
    /// remote holds the send's value once it applies it. Where our item has left that
    /// value since (a person here), ours goes out again (seed 2974 of V6); where it still
    /// holds it, nothing needs to, and sending it again as kept made it a second change
    /// that met the remote's later edit as a conflict, decided each node its own way
    /// (seed 22273 of V6 at 300 steps).
    fn sent_held(&self, field: &str, remote: bool, base_sent: bool) -> bool {
        !remote && self.moved_unseen(field) && self.ours_since_send(base_sent)
    }

    /// Whether a tie between the two nodes goes to this one: to the node whose id sorts
    /// first, so that both nodes pick the same side.
    fn tie_is_ours(&self) -> bool {
        self.ctx.local_node < self.ctx.remote_node
    }

    /// Whether the remote's change of `field` meets our item by chance: one of our sends
    /// it has not applied moved the field, and our item has left that send's value since,
    /// by a person here (see `Changed::sent_over_agreement`).
    fn sent_over_agreement(&self, field: &str, remote: bool, unsent: bool, base: bool) -> bool {
        remote && unsent && self.moved_unseen(field) && self.ours_since_send(base)
    }

    /// Decides one field. `local_changed` and `remote_changed` are relative to the base;
    /// `local_unsent` says the local value differs from the one this side last sent.
    fn decide(&mut self, field: &str, local: Value, remote: Value, changed: Changed) -> Pick {
        let Changed {
            local: local_changed,
            remote: remote_changed,
            local_unsent,
            sent_held,
            sent_over_agreement,
        } = changed;
        // Where the remote agrees now but still applies an older send of ours, nothing
        // goes again: both sides doing so with crossing replicas flip a field forever
        // (simulation seed 1020 found that loop in a first version). Unless that send
        // moved the field and our item has left its value since: the remote then holds
        // the send's value once it applies it, and agrees with us by chance only
        // (simulation seed 2974 of V6: a person here cleared the assignee our send had
        // set, back to the remote's value).
        // Nor where the remote changed the field to our item's value while one of our
        // sends it has not applied moved it elsewhere, and a person here set the remote's
        // value since: the remote weighs that send against its own value, and where the
        // send wins there it holds the send's value, so ours goes back (simulation seed
        // 22367 of V6 at 300 steps: taken for agreement, the other side took our send's
        // severity, and the items stayed apart for good).
        if sent_held {
            self.sent_held.push(field.to_string());
        } else if local == remote {
            if sent_over_agreement {
                self.sent_held.push(field.to_string());
                self.local_kept.push(field.to_string());
            }
            return Pick::Remote;
        }
        let pick = match (local_changed, remote_changed) {
            (_, false) => Pick::Local,
            (false, true) => Pick::Remote,
            (true, true) => {
                let policy = self.ctx.settings.for_field(field);
                let remote_wins = match policy {
                    ConflictPolicy::RemoteWins => true,
                    ConflictPolicy::LocalWins => false,
                    // Both nodes must pick the same winner, so a tie goes to the node
                    // whose id sorts first.
                    ConflictPolicy::NewestWins => {
                        match self.ctx.remote_updated_ms.cmp(&self.local_updated_ms) {
                            std::cmp::Ordering::Greater => true,
                            std::cmp::Ordering::Less => false,
                            std::cmp::Ordering::Equal => !self.tie_is_ours(),
                        }
                    }
                    ConflictPolicy::SideOfTruth(node) => node != self.ctx.local_node,
                };
                self.conflicts.push(Conflict {
                    field: field.to_string(),
                    local,
                    remote,
                    winner: if remote_wins { "remote" } else { "local" }.into(),
                    policy: to_value(policy).to_string(),
                });
                if remote_wins {
                    Pick::Remote
                } else {
                    Pick::Local
                }
            }
        };
        // Only news goes back: a field neither side changed since they agreed differs
        // because the rules cannot carry it both ways (Redmine's Rejected comes back from
        // GitHub as Closed), and sending it again would make the other side answer the
        // same way forever. A value this side never sent is news even so: the base can
        // be older than what the other side applied (its ack came after an apply here),
        // and the other side then holds our earlier value (simulation seed 970).
        if matches!(pick, Pick::Local) && (local_changed || local_unsent) {
            self.local_kept.push(field.to_string());
        }
        if matches!(pick, Pick::Remote) && self.moved_unseen(field) {
            self.superseded.push(field.to_string());
        }
        pick
    }
}

/// How one field moved on each side.
#[derive(Clone, Copy)]
struct Changed {
    local: bool,
    remote: bool,
    local_unsent: bool,
    /// The remote left the field alone and one of our sends it has not applied moved
    /// it: the remote holds that send's value once it applies it (`Merger::sent_held`).
    sent_held: bool,
    /// The remote changed the field, one of our sends it has not applied moved it, and
    /// our item left that send's value since, nothing of the other side's applied
    /// meanwhile or the base still at that value: where our item now agrees with the
    /// remote, it does so by chance.
    sent_over_agreement: bool,
}

macro_rules! merge_field {
    ($m:expr, $out:expr, $base:expr, $local:expr, $remote:expr, $prev:expr, $field:ident, $name:expr) => {{
        let remote = ($prev.is_none_or(|p: &Item| p.$field != $remote.$field)
            || $m.moved_since_ack(|h| h.$field == $remote.$field))
            && !$m.echoes($name, |s| s.$field == $remote.$field)
            && !$m.held_since_ack(
                $base.is_some_and(|b: &Item| b.$field == $remote.$field),
                |h| h.$field == $remote.$field,
            );
        let local_unsent = $m.ctx.sent.is_some_and(|s| s.$field != $local.$field);
        let base_sent = $base
            .zip($m.ctx.sent)
            .is_some_and(|(b, s): (&Item, &Item)| b.$field == s.$field);
        let changed = Changed {
            local: $base.is_some_and(|b: &Item| b.$field != $local.$field)
                || (remote && $m.moved_since_unseen_send($name, local_unsent)),
            remote,
            local_unsent,
            sent_held: $m.sent_held($name, remote, base_sent),
            sent_over_agreement: $m.sent_over_agreement($name, remote, local_unsent, base_sent),
        };
        if let Pick::Remote = $m.decide(
            $name,
            to_value(&$local.$field),
            to_value(&$remote.$field),
            changed,
        ) {
            $out.$field = $remote.$field.clone();
        }
    }};
}

/// Merges `remote` into `local`. With no base and no previous replica (first sync), the
/// remote side wins every field it sets. Comments and attachments come from `remote`, where the helpers already
/// merged them with the local ones.
pub fn merge_items(
    ctx: &MergeContext<'_>,
    base: Option<&Item>,
    local: &Item,
    remote: &Item,
    remote_prev: Option<&Item>,
) -> MergeOutcome {
    // A twin that lost its base (a crash between an apply and the twin's write) still
    // holds the remote's previous replica, which this side applied: it stands in for the
    // base, so local edits since then count as changes and go back (seeds 42, 274).
    let base = base.or(remote_prev);
    let mut m = Merger {
        ctx,
        local_updated_ms: local.updated_ms,
        conflicts: Vec::new(),
        local_kept: Vec::new(),
        sent_held: Vec::new(),
        superseded: Vec::new(),
    };
    let mut out = local.clone();
    merge_field!(m, out, base, local, remote, remote_prev, summary, "summary");
    merge_field!(
        m,
        out,
        base,
        local,
        remote,
        remote_prev,
        description,
        "description"
    );
    merge_field!(m, out, base, local, remote, remote_prev, status, "status");
    merge_field!(
        m,
        out,
        base,
        local,
        remote,
        remote_prev,
        priority,
        "priority"
    );
    merge_field!(
        m,
        out,
        base,
        local,
        remote,
        remote_prev,
        assignee,
        "assignee"
    );
    merge_field!(
        m,
        out,
        base,
        local,
        remote,
        remote_prev,
        reporter,
        "reporter"
    );
    out.labels = merge_labels(&mut m, base, local, remote, remote_prev);
    // A field neither item holds any more still counts where the base or our last send
    // held it: a person here who cleared the value our unseen send carried must see it
    // go out again (simulation seed 3368 of V6 at 300 steps).
    let keys: std::collections::BTreeSet<&String> = [Some(local), Some(remote), base, ctx.sent]
        .into_iter()
        .flatten()
        .flat_map(|i| i.custom_fields.keys())
        .collect();
    for key in keys {
        let get = |i: &Item| i.custom_fields.get(key).cloned().unwrap_or(Value::Null);
        let name = format!("customFields.{key}");
        let remote_changed = (remote_prev.is_none_or(|p| get(p) != get(remote))
            || m.moved_since_ack(|h| get(h) == get(remote)))
            && !m.echoes(&name, |s| get(s) == get(remote))
            && !m.held_since_ack(base.is_some_and(|b| get(b) == get(remote)), |h| {
                get(h) == get(remote)
            });
        let local_unsent = ctx.sent.is_some_and(|s| get(s) != get(local));
        let base_sent = base.zip(ctx.sent).is_some_and(|(b, s)| get(b) == get(s));
        let changed = Changed {
            local: base.is_some_and(|b| get(b) != get(local))
                || (remote_changed && m.moved_since_unseen_send(&name, local_unsent)),
            remote: remote_changed,
            local_unsent,
            sent_held: m.sent_held(&name, remote_changed, base_sent),
            sent_over_agreement: m.sent_over_agreement(
                &name,
                remote_changed,
                local_unsent,
                base_sent,
            ),
        };
        if let Pick::Remote = m.decide(&name, get(local), get(remote), changed) {
            match get(remote) {
                Value::Null => out.custom_fields.remove(key),
                v => out.custom_fields.insert(key.clone(), v),
            };
        }
    }
    out.comments = remote.comments.clone();
    out.attachments = remote.attachments.clone();
    MergeOutcome {
        merged: out,
        conflicts: m.conflicts,
        local_kept: m.local_kept,
        sent_held: m.sent_held,
        superseded: m.superseded,
    }
}

/// The merge fields (named as in [`Conflict::field`]) whose value differs from `base` to
/// `item`; labels compare as sets. Comments and files are merged elsewhere.
pub fn changed_fields(base: &Item, item: &Item) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            out.push(name.to_string());
        }
    };
    check("summary", base.summary != item.summary);
    check("description", base.description != item.description);
    check("status", base.status != item.status);
    check("priority", base.priority != item.priority);
    check("assignee", base.assignee != item.assignee);
    check("reporter", base.reporter != item.reporter);
    check("labels", !same_set(&base.labels, &item.labels));
    let keys: std::collections::BTreeSet<&String> = base
        .custom_fields
        .keys()
        .chain(item.custom_fields.keys())
        .collect();
    for key in keys {
        let differs = base.custom_fields.get(key).unwrap_or(&Value::Null)
            != item.custom_fields.get(key).unwrap_or(&Value::Null);
        check(&format!("customFields.{key}"), differs);
    }
    out
}

/// Whether two label lists hold the same labels, in any order.
fn same_set(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Named;
    use serde_json::json;

    fn item(summary: &str, status: &str, priority: &str, labels: &[&str], updated: i64) -> Item {
        Item {
            key: "K-1".into(),
            summary: summary.into(),
            status: Some(Named::new(status)),
            priority: Some(Named::new(priority)),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            updated_ms: updated,
            ..Item::default()
        }
    }

    struct Case {
        name: &'static str,
        base: Option<Item>,
        local: Item,
        remote: Item,
        prev: Option<Item>,
        /// The local item as last sent.
        sent: Option<Item>,
        sent_seen: SentSeen,
        /// The fields the send changed from its base; `None`: all.
        sent_changed: Option<Vec<String>>,
        policy: ConflictPolicy,
        want: Item,
        conflicts: usize,
        local_kept: &'static [&'static str],
    }

    #[test]
    fn merge_table() {
        let b = item("S1", "Open", "Low", &["a"], 10);
        let cases = vec![
            Case {
                name: "first sync takes the remote",
                base: None,
                local: Item::default(),
                remote: item("S1", "Open", "Low", &["a"], 10),
                prev: None,
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::LocalWins,
                want: item("S1", "Open", "Low", &["a"], 0),
                conflicts: 0,
                local_kept: &[],
            },
            Case {
                name: "remote-only change is taken",
                base: Some(b.clone()),
                local: b.clone(),
                remote: item("S2", "Open", "Low", &["a"], 20),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::LocalWins,
                want: item("S2", "Open", "Low", &["a"], 10),
                conflicts: 0,
                local_kept: &[],
            },
            Case {
                name: "local-only change is kept and reported",
                base: Some(b.clone()),
                local: item("S1", "Done", "Low", &["a"], 30),
                remote: item("S1", "Open", "High", &["a"], 20),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Done", "High", &["a"], 30),
                conflicts: 0,
                local_kept: &["status"],
            },
            Case {
                name: "both changed, remote wins",
                base: Some(b.clone()),
                local: item("L", "Open", "Low", &["a"], 30),
                remote: item("R", "Open", "Low", &["a"], 20),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("R", "Open", "Low", &["a"], 30),
                conflicts: 1,
                local_kept: &[],
            },
            Case {
                name: "both changed, local wins",
                base: Some(b.clone()),
                local: item("L", "Open", "Low", &["a"], 30),
                remote: item("R", "Open", "Low", &["a"], 20),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::LocalWins,
                want: item("L", "Open", "Low", &["a"], 30),
                conflicts: 1,
                local_kept: &["summary"],
            },
            Case {
                name: "both changed, newest wins (local newer)",
                base: Some(b.clone()),
                local: item("L", "Open", "Low", &["a"], 30),
                remote: item("R", "Open", "Low", &["a"], 20),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::NewestWins,
                want: item("L", "Open", "Low", &["a"], 30),
                conflicts: 1,
                local_kept: &["summary"],
            },
            Case {
                name: "both changed, newest wins (remote newer)",
                base: Some(b.clone()),
                local: item("L", "Open", "Low", &["a"], 30),
                remote: item("R", "Open", "Low", &["a"], 40),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::NewestWins,
                want: item("R", "Open", "Low", &["a"], 30),
                conflicts: 1,
                local_kept: &[],
            },
            Case {
                name: "both changed, side of truth is the remote node",
                base: Some(b.clone()),
                local: item("L", "Open", "Low", &["a"], 30),
                remote: item("R", "Open", "Low", &["a"], 20),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::SideOfTruth("node-b".into()),
                want: item("R", "Open", "Low", &["a"], 30),
                conflicts: 1,
                local_kept: &[],
            },
            Case {
                name: "both changed, side of truth is this node",
                base: Some(b.clone()),
                local: item("L", "Open", "Low", &["a"], 30),
                remote: item("R", "Open", "Low", &["a"], 20),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::SideOfTruth("node-a".into()),
                want: item("L", "Open", "Low", &["a"], 30),
                conflicts: 1,
                local_kept: &["summary"],
            },
            Case {
                name: "both changed to the same value is no conflict",
                base: Some(b.clone()),
                local: item("X", "Open", "Low", &["a"], 30),
                remote: item("X", "Open", "Low", &["a"], 20),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::LocalWins,
                want: item("X", "Open", "Low", &["a"], 30),
                conflicts: 0,
                local_kept: &[],
            },
            Case {
                name: "labels merge as sets",
                base: Some(b.clone()),
                local: item("S1", "Open", "Low", &["a", "local"], 30),
                remote: item("S1", "Open", "Low", &["remote"], 20),
                prev: Some(b.clone()),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Open", "Low", &["local", "remote"], 30),
                conflicts: 0,
                local_kept: &["labels"],
            },
            Case {
                // Redmine's Rejected reaches GitHub as closed and comes back as Closed;
                // GitHub cannot hold Redmine's labels-less state and keeps `sync`.
                name: "a value the rules cannot carry both ways is kept, not sent back",
                base: Some(item("S1", "Rejected", "Low", &["a", "sync"], 10)),
                local: item("S1", "Rejected", "Low", &["a", "sync"], 10),
                remote: item("S1", "Closed", "Low", &["a"], 20),
                prev: Some(item("S1", "Closed", "Low", &["a"], 15)),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Rejected", "Low", &["a", "sync"], 10),
                conflicts: 0,
                local_kept: &[],
            },
            Case {
                // A crash between the create and the twin's write leaves no base; the
                // label a person added locally meanwhile must survive (seed 42).
                name: "no base: the remote's label delta applies to the local labels",
                base: None,
                local: item("S1", "Open", "Low", &["red", "sync"], 30),
                remote: item("S1", "Open", "Low", &["sync"], 20),
                prev: Some(item("S1", "Open", "Low", &["sync"], 15)),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Open", "Low", &["red", "sync"], 30),
                conflicts: 0,
                local_kept: &["labels"],
            },
            Case {
                name: "no base: a label the remote removed goes, local additions stay",
                base: None,
                local: item("S1", "Open", "Low", &["local", "old"], 30),
                remote: item("S1", "Open", "Low", &["new"], 20),
                prev: Some(item("S1", "Open", "Low", &["old"], 15)),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Open", "Low", &["local", "new"], 30),
                conflicts: 0,
                local_kept: &["labels"],
            },
            Case {
                // The remote re-sends a label we removed after we sent it: both sides
                // must end with the same set, so our removal goes back (seed 274).
                name: "labels: a removal the remote has not seen goes back",
                base: Some(item("S1", "Open", "Low", &["blue", "sync"], 10)),
                local: item("S1", "Open", "Low", &["blue", "sync"], 30),
                remote: item("S1", "Open", "Low", &["blue", "red", "sync"], 20),
                prev: Some(item("S1", "Open", "Low", &["red", "sync"], 15)),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Open", "Low", &["blue", "sync"], 30),
                conflicts: 0,
                local_kept: &["labels"],
            },
            Case {
                // Seed 970: the other side applied our Open, we changed to Done since, and
                // the base (older than that apply) still says Done.
                name: "a value never sent goes back though the base has it",
                base: Some(item("S1", "Done", "Low", &["sync"], 10)),
                local: item("S1", "Done", "Low", &["sync"], 30),
                remote: item("S1", "Open", "Low", &["sync"], 20),
                prev: Some(item("S1", "Open", "Low", &["sync"], 15)),
                sent: Some(item("S1", "Open", "Low", &["sync"], 12)),
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Done", "Low", &["sync"], 30),
                conflicts: 0,
                local_kept: &["status"],
            },
            Case {
                // Seed 1020: sending it again from both sides looped.
                name: "agreement with the remote sends nothing, even before it saw our send",
                base: Some(item("S1", "Open", "Low", &["blue", "escalate"], 10)),
                local: item("S1", "Open", "Low", &["blue", "escalate"], 30),
                remote: item("S1", "Open", "Low", &["blue", "escalate"], 20),
                prev: None,
                sent: Some(item("S1", "Closed", "Low", &["escalate"], 12)),
                sent_seen: SentSeen::Unseen,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Open", "Low", &["blue", "escalate"], 30),
                conflicts: 0,
                local_kept: &[],
            },
            Case {
                // Seed 822: our last send removed "blue", the remote applied it and its
                // next replica echoes that; a person here has added "blue" back since.
                name: "our own send coming back is no change of the remote's",
                base: Some(item("S1", "Closed", "Low", &["escalate"], 10)),
                local: item("S1", "Open", "Low", &["blue", "escalate"], 30),
                remote: item("S1", "Closed", "Low", &["escalate"], 20),
                prev: Some(item("S1", "Open", "Low", &["blue", "escalate"], 15)),
                sent: Some(item("S1", "Closed", "Low", &["escalate"], 12)),
                sent_seen: SentSeen::Seen,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Open", "Low", &["blue", "escalate"], 30),
                conflicts: 0,
                local_kept: &["status", "labels"],
            },
            Case {
                // Seed 151: our send carried the labels unchanged, we took the remote's
                // "red" since, and a person there removed it again.
                name: "a value our send did not change is the remote's edit, not an echo",
                base: Some(item("S1", "Open", "Low", &["escalate", "red"], 10)),
                local: item("S1", "Open", "Low", &["escalate", "red"], 30),
                remote: item("S1", "Open", "Low", &["escalate"], 20),
                prev: Some(item("S1", "Open", "Low", &["escalate", "red"], 15)),
                sent: Some(item("S1", "Open", "Low", &["escalate"], 12)),
                sent_seen: SentSeen::Seen,
                sent_changed: Some(vec!["summary".into()]),
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Open", "Low", &["escalate"], 30),
                conflicts: 0,
                local_kept: &[],
            },
            Case {
                name: "the same value after a send that changed the field is an echo",
                base: Some(item("S1", "Open", "Low", &["escalate", "red"], 10)),
                local: item("S1", "Open", "Low", &["escalate", "red"], 30),
                remote: item("S1", "Open", "Low", &["escalate"], 20),
                prev: Some(item("S1", "Open", "Low", &["escalate", "red"], 15)),
                sent: Some(item("S1", "Open", "Low", &["escalate"], 12)),
                sent_seen: SentSeen::Seen,
                sent_changed: Some(vec!["labels".into()]),
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Open", "Low", &["escalate", "red"], 30),
                conflicts: 0,
                local_kept: &["labels"],
            },
            Case {
                name: "the same replica before the remote saw our send is its change",
                base: Some(item("S1", "Closed", "Low", &["escalate"], 10)),
                local: item("S1", "Open", "Low", &["blue", "escalate"], 30),
                remote: item("S1", "Closed", "Low", &["escalate"], 20),
                prev: Some(item("S1", "Open", "Low", &["blue", "escalate"], 15)),
                sent: Some(item("S1", "Closed", "Low", &["escalate"], 12)),
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Closed", "Low", &["escalate"], 30),
                conflicts: 1,
                local_kept: &[],
            },
            Case {
                // What we sent comes back otherwise (the rules cannot carry it): no news.
                name: "a value sent and come back changed by the rules is not sent again",
                base: Some(item("S1", "Rejected", "Low", &["sync"], 10)),
                local: item("S1", "Rejected", "Low", &["sync"], 30),
                remote: item("S1", "Closed", "Low", &["sync"], 20),
                prev: Some(item("S1", "Closed", "Low", &["sync"], 15)),
                sent: Some(item("S1", "Rejected", "Low", &["sync"], 12)),
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Rejected", "Low", &["sync"], 30),
                conflicts: 0,
                local_kept: &[],
            },
            Case {
                name: "no base: a local edit the remote did not touch is kept and goes back",
                base: None,
                local: item("S1", "Done", "Low", &["sync"], 30),
                remote: item("S1", "Open", "High", &["sync"], 20),
                prev: Some(item("S1", "Open", "Low", &["sync"], 15)),
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::RemoteWins,
                want: item("S1", "Done", "High", &["sync"], 30),
                conflicts: 0,
                local_kept: &["status"],
            },
            Case {
                name: "no previous replica: remote counts as changed, local as base",
                base: Some(b.clone()),
                local: b.clone(),
                remote: item("S1", "Done", "Low", &["a"], 20),
                prev: None,
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                policy: ConflictPolicy::LocalWins,
                want: item("S1", "Done", "Low", &["a"], 10),
                conflicts: 0,
                local_kept: &[],
            },
        ];
        for c in cases {
            let settings = ConflictSettings {
                default: c.policy.clone(),
                fields: Default::default(),
            };
            let ctx = MergeContext {
                settings: &settings,
                local_node: "node-a",
                remote_node: "node-b",
                remote_updated_ms: c.remote.updated_ms,
                sent: c.sent.as_ref(),
                sent_seen: c.sent_seen,
                sent_changed: c.sent_changed.as_deref(),
                unseen_moved: &[],
                held_at_ack: None,
                since_sent: SinceSent::Applied,
            };
            let out = merge_items(&ctx, c.base.as_ref(), &c.local, &c.remote, c.prev.as_ref());
            assert_eq!(out.merged.summary, c.want.summary, "{}", c.name);
            assert_eq!(out.merged.status, c.want.status, "{}", c.name);
            assert_eq!(out.merged.priority, c.want.priority, "{}", c.name);
            let mut got_labels = out.merged.labels.clone();
            got_labels.sort();
            assert_eq!(got_labels, c.want.labels, "{}", c.name);
            assert_eq!(
                out.conflicts.len(),
                c.conflicts,
                "{}: {:?}",
                c.name,
                out.conflicts
            );
            assert_eq!(out.local_kept, c.local_kept, "{}", c.name);
        }
    }

    #[test]
    fn newest_wins_ties_pick_the_same_winner_on_both_nodes() {
        let b = item("S1", "Open", "Low", &[], 10);
        let settings = ConflictSettings::default();
        let on = |local_node, remote_node, local: &Item, remote: &Item| {
            let ctx = MergeContext {
                settings: &settings,
                local_node,
                remote_node,
                remote_updated_ms: remote.updated_ms,
                sent: None,
                sent_seen: SentSeen::Unknown,
                sent_changed: None,
                unseen_moved: &[],
                held_at_ack: None,
                since_sent: SinceSent::Applied,
            };
            merge_items(&ctx, Some(&b), local, remote, Some(&b))
                .merged
                .summary
        };
        let at_a = item("A", "Open", "Low", &[], 50);
        let at_b = item("B", "Open", "Low", &[], 50);
        assert_eq!(on("node-a", "node-b", &at_a, &at_b), "A");
        assert_eq!(on("node-b", "node-a", &at_b, &at_a), "A");
    }

    /// Crossing first replicas (both sides relinked, each sent before it applied the
    /// other's) are merged against an empty base and an empty previous replica on both
    /// nodes. Each node must come to the same item: a field one side left empty takes the
    /// other's value on both, a field both set differently goes to the policy's winner on
    /// both. With no previous replica instead of the empty one, the node whose assignee
    /// was empty took the other's while the other node's conflict gave it the empty one,
    /// and the pair swapped values for good (simulation seed 1718).
    #[test]
    fn crossing_first_replicas_merge_alike_on_both_nodes() {
        let empty = Item::default();
        let settings = ConflictSettings::default();
        let cy = crate::item::User {
            email: "cy@example.com".into(),
            display_name: "cy".into(),
        };
        // A set the assignee and a summary and sent first; B cleared its assignee and
        // changed its summary later, and sent after.
        let at_a = Item {
            assignee: Some(cy.clone()),
            ..item("from a", "Open", "Low", &["x"], 100)
        };
        let at_b = Item {
            assignee: None,
            ..item("from b", "Open", "Low", &["x"], 200)
        };
        let on = |local_node, remote_node, local: &Item, remote: &Item| {
            let ctx = MergeContext {
                settings: &settings,
                local_node,
                remote_node,
                remote_updated_ms: remote.updated_ms,
                sent: Some(local),
                sent_seen: SentSeen::Unseen,
                sent_changed: None,
                unseen_moved: &[],
                held_at_ack: None,
                since_sent: SinceSent::Applied,
            };
            merge_items(&ctx, Some(&empty), local, remote, Some(&empty))
        };
        let (on_a, on_b) = (
            on("node-a", "node-b", &at_a, &at_b),
            on("node-b", "node-a", &at_b, &at_a),
        );
        assert_eq!(on_a.merged.assignee, Some(cy.clone()));
        assert_eq!(on_b.merged.assignee, Some(cy));
        // A keeps its assignee and sends it; B takes it.
        assert_eq!(on_a.local_kept, ["assignee"]);
        // Both set the summary: newest wins, B's, on both nodes.
        assert_eq!(on_a.merged.summary, "from b");
        assert_eq!(on_b.merged.summary, "from b");
        assert_eq!(on_b.local_kept, ["summary"]);
        assert_eq!((on_a.conflicts.len(), on_b.conflicts.len()), (1, 1));
    }

    #[test]
    fn changed_fields_names_what_differs_from_the_base() {
        let base = Item {
            custom_fields: [("team".to_string(), Value::from("red"))].into(),
            ..item("S1", "Open", "Low", &["a", "b"], 10)
        };
        let cases: Vec<(&str, Item, &[&str])> = vec![
            ("the same item", base.clone(), &[]),
            (
                "labels in another order are the same set",
                Item {
                    labels: vec!["b".into(), "a".into()],
                    ..base.clone()
                },
                &[],
            ),
            (
                "a summary and a status",
                Item {
                    summary: "S2".into(),
                    status: Some(Named::new("Done")),
                    ..base.clone()
                },
                &["summary", "status"],
            ),
            (
                "a label removed and a custom field cleared, another set",
                Item {
                    labels: vec!["a".into()],
                    custom_fields: [("size".to_string(), Value::from(3))].into(),
                    ..base.clone()
                },
                &["labels", "customFields.size", "customFields.team"],
            ),
        ];
        for (name, changed, want) in cases {
            assert_eq!(changed_fields(&base, &changed), want, "{name}");
        }
    }

    #[test]
    fn per_field_policy_overrides_the_default() {
        let b = item("S1", "Open", "Low", &[], 10);
        let settings = ConflictSettings {
            default: ConflictPolicy::RemoteWins,
            fields: [("status".to_string(), ConflictPolicy::LocalWins)].into(),
        };
        let ctx = MergeContext {
            settings: &settings,
            local_node: "a",
            remote_node: "b",
            remote_updated_ms: 0,
            sent: None,
            sent_seen: SentSeen::Unknown,
            sent_changed: None,
            unseen_moved: &[],
            held_at_ack: None,
            since_sent: SinceSent::Applied,
        };
        let local = item("L", "Done", "Low", &[], 30);
        let remote = item("R", "Closed", "Low", &[], 20);
        let out = merge_items(&ctx, Some(&b), &local, &remote, Some(&b));
        assert_eq!(out.merged.summary, "R");
        assert_eq!(out.merged.status_name(), Some("Done"));
        assert_eq!(out.conflicts.len(), 2);
    }

    /// Simulation seed 3453 of V5: our sends took the status to Doing and back to To Do;
    /// the other side's replica, built before it applied them, sets Doing. Our item is at
    /// the base value, but the field moved on both sides: a conflict, which the newer
    /// item wins on both nodes, not the other side's change alone (it applies our To Do
    /// meanwhile, and the pair swapped the status).
    #[test]
    fn a_field_our_unseen_sends_moved_and_back_is_a_conflict() {
        let base = item("S1", "To Do", "Low", &[], 10);
        let settings = ConflictSettings::default();
        let merge = |local: &Item, remote: &Item, sent: &Item, unseen_moved: &[String]| {
            let ctx = MergeContext {
                settings: &settings,
                local_node: "node-b",
                remote_node: "node-a",
                remote_updated_ms: remote.updated_ms,
                sent: Some(sent),
                sent_seen: SentSeen::Unseen,
                sent_changed: Some(&[]),
                unseen_moved,
                held_at_ack: None,
                since_sent: SinceSent::Applied,
            };
            merge_items(&ctx, Some(&base), local, remote, Some(&base))
        };
        let moved = ["status".to_string()];
        // Seed 224 of V3: our item took the other side's value since our last send.
        let rows = [
            // (our item's time, the replica's time, moved by our unseen sends, our last
            // send's status, status kept, conflicts, our moves superseded: their value
            // taken over ours, simulation seed 29792 of V6 at 300 steps)
            (30, 20, &moved[..], "To Do", "To Do", 1, false),
            (30, 40, &moved[..], "To Do", "Doing", 1, true),
            (30, 20, &[][..], "To Do", "Doing", 0, false),
            (30, 20, &moved[..], "Done", "Doing", 0, true),
        ];
        for (local_ms, remote_ms, unseen_moved, sent, want, conflicts, superseded) in rows {
            let local = item("S1", "To Do", "Low", &[], local_ms);
            let remote = item("S1", "Doing", "Low", &[], remote_ms);
            let sent = item("S1", sent, "Low", &[], local_ms);
            let out = merge(&local, &remote, &sent, unseen_moved);
            assert_eq!(
                out.merged.status_name(),
                Some(want),
                "{local_ms} {remote_ms} {unseen_moved:?}"
            );
            assert_eq!(out.conflicts.len(), conflicts);
            assert_eq!(
                out.local_kept.contains(&"status".to_string()),
                want == "To Do",
                "a kept value goes back"
            );
            assert_eq!(
                out.superseded.contains(&"status".to_string()),
                superseded,
                "{local_ms} {remote_ms} {unseen_moved:?}"
            );
        }
    }

    /// Simulation seed 1351 of V6: our send v3 set the summary (the base), the other
    /// side applied it and acknowledged it with a view we could not take (a replica of
    /// its was lost in a crash), and a person here set a newer summary. Its next replica,
    /// built on v3, still has v3's summary; `previous` is older than v3. Where the ack's
    /// view showed v3's value, it is our send coming back and ours stays; where it showed
    /// the other side's own value, or there is none, it is a conflict as before. Labels
    /// and custom fields go the same way.
    #[test]
    fn a_value_held_since_the_ack_of_our_send_is_that_send_coming_back() {
        let settings = ConflictSettings::default();
        let with = |summary: &str, labels: &[&str], severity: &str| {
            let mut i = item(summary, "To Do", "Low", labels, 10);
            i.custom_fields
                .insert("severity".into(), Value::from(severity));
            i
        };
        let base = with("S16", &["a", "b"], "2");
        let prev = with("S1", &["a"], "1");
        let remote = Item {
            updated_ms: 30,
            ..with("S16", &["a", "b"], "2")
        };
        let local = Item {
            updated_ms: 20,
            ..with("S90", &["a"], "3")
        };
        // (what, the ack's view in our vocabulary, want summary, labels, severity, conflicts)
        type Row = (
            &'static str,
            Option<Item>,
            &'static str,
            &'static [&'static str],
            &'static str,
            usize,
        );
        let rows: [Row; 3] = [
            (
                "the view showed our send",
                Some(with("S16", &["a", "b"], "2")),
                "S90",
                &["a"],
                "3",
                0,
            ),
            ("no view held", None, "S16", &["a", "b"], "2", 2),
            (
                "the view showed its own",
                Some(with("S5", &["c"], "1")),
                "S16",
                &["a", "b"],
                "2",
                2,
            ),
        ];
        for (what, held, summary, labels, severity, conflicts) in rows {
            let ctx = held_ctx(&settings, &remote, &local, held.as_ref());
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&prev));
            assert_eq!(out.merged.summary, summary, "{what}");
            assert_eq!(out.merged.labels, labels, "{what}");
            assert_eq!(
                out.merged.custom_fields.get("severity"),
                Some(&Value::from(severity)),
                "{what}"
            );
            assert_eq!(
                out.conflicts.len(),
                conflicts,
                "{what}: {:?}",
                out.conflicts
            );
        }
    }

    /// Simulation seed 34989 of V6 at 300 steps: the remote took our priority (Low) and
    /// acknowledged the send with a view we could not take (its earlier replica was still
    /// on its way); a person there set Medium again, the value of `previous` from before
    /// our send. Its next replica, built after the ack, carries Medium: a change since the
    /// view, which nothing here moved, so it is taken. Labels and custom fields go the
    /// same way; without a view held, Medium looks like no change, as before.
    #[test]
    fn a_value_moved_since_the_ack_not_taken_is_the_remotes_change() {
        let settings = ConflictSettings::default();
        let with = |priority: &str, labels: &[&str], severity: &str| {
            let mut i = item("S1", "To Do", priority, labels, 10);
            i.custom_fields
                .insert("severity".into(), Value::from(severity));
            i
        };
        let base = with("Low", &["a"], "1");
        let local = with("Low", &["a"], "1");
        let prev = with("Medium", &["a", "b"], "2");
        let remote = Item {
            updated_ms: 30,
            ..with("Medium", &["a", "b"], "2")
        };
        // (what, the ack's view in our vocabulary, want priority, labels, severity)
        type Row = (
            &'static str,
            Option<Item>,
            &'static str,
            &'static [&'static str],
            &'static str,
        );
        let rows: [Row; 3] = [
            (
                "the view showed our send",
                Some(with("Low", &["a"], "1")),
                "Medium",
                &["a", "b"],
                "2",
            ),
            ("no view held", None, "Low", &["a"], "1"),
            (
                "the view showed the replica's values",
                Some(with("Medium", &["a", "b"], "2")),
                "Low",
                &["a"],
                "1",
            ),
        ];
        for (what, held, priority, labels, severity) in rows {
            let ctx = held_ctx(&settings, &remote, &local, held.as_ref());
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&prev));
            let got = out.merged.priority.as_ref().map(|p| p.name.as_str());
            assert_eq!(got, Some(priority), "{what}");
            assert_eq!(out.merged.labels, labels, "{what}");
            assert_eq!(
                out.merged.custom_fields.get("severity"),
                Some(&Value::from(severity)),
                "{what}"
            );
            assert!(out.conflicts.is_empty(), "{what}: {:?}", out.conflicts);
        }
    }

    /// Labels against the view of an ack not taken: a name the replica moved since that
    /// view or since `previous` is the remote's change. Seed 34989's shape: "b" was in
    /// `previous`, gone from the view, and is back. Seed 22389: "b" came in the view from
    /// a replica still missing here, which `previous` lacks; measured from the view alone
    /// it was lost.
    #[test]
    fn labels_moved_since_a_view_not_taken_or_previous_are_the_remotes() {
        let settings = ConflictSettings::default();
        let labels = |names: &[&str]| item("S1", "To Do", "Low", names, 10);
        // (what, previous, the view, the replica, want)
        type Row = (
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
            &'static [&'static str],
        );
        let rows: [Row; 4] = [
            (
                "back since the view",
                &["a", "b"],
                &["a"],
                &["a", "b"],
                &["a", "b"],
            ),
            (
                "in the view from a replica missing here",
                &["a"],
                &["a", "b"],
                &["a", "b", "r"],
                &["a", "b", "r"],
            ),
            ("gone since the view", &["a"], &["a", "b"], &["a"], &["a"]),
            (
                "the view is the replica's",
                &["a", "b"],
                &["a"],
                &["a"],
                &["a"],
            ),
        ];
        for (what, prev, held, remote, want) in rows {
            let (base, local) = (labels(&["a"]), labels(&["a"]));
            let (prev, held, remote) = (labels(prev), labels(held), labels(remote));
            let ctx = held_ctx(&settings, &remote, &local, Some(&held));
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&prev));
            assert_eq!(out.merged.labels, want, "{what}");
        }
    }

    /// Simulation seed 2974 of V6: our send set the summary to S2 (the base holds it),
    /// the remote's replica, built before it applied that send, still has S1, and a
    /// person here set S1 again. The two agree by chance: the remote will hold S2 once
    /// it applies our send, so ours goes back and the remote is said to hold S2. So too
    /// where the replica changed it to S1, with the base still at S2 after the replicas
    /// applied since our send (seed 21533 of V6; `Changed::sent_over_agreement`).
    #[test]
    fn a_value_our_unseen_send_moved_and_we_left_goes_back_though_the_replica_agrees() {
        let settings = ConflictSettings::default();
        let moved = ["summary".to_string()];
        let (applied, nothing) = (SinceSent::Applied, SinceSent::NothingApplied);
        // (what, base, prev, moved by unseen sends, since the send) -> held (sent back)
        type Row<'a> = (
            &'static str,
            &'static str,
            &'static str,
            &'a [String],
            SinceSent,
            bool,
        );
        let rows: [Row; 7] = [
            ("seed 2974", "S2", "S1", &moved, applied, true),
            (
                "the base is not our send's (seed 224 of V3)",
                "S1",
                "S1",
                &moved,
                applied,
                false,
            ),
            (
                "a person set the base's value back, nothing applied since (seed 20227 of V6)",
                "S1",
                "S1",
                &moved,
                nothing,
                true,
            ),
            ("no unseen send moved it", "S2", "S1", &[], applied, false),
            (
                "no unseen send moved it, nothing applied",
                "S1",
                "S1",
                &[],
                nothing,
                false,
            ),
            (
                "the replica changed it, the base not our send's (seed 1020 of V4)",
                "S0",
                "S0",
                &moved,
                applied,
                false,
            ),
            (
                "the replica changed it, the base our send's (seed 21533 of V6)",
                "S2",
                "S0",
                &moved,
                applied,
                true,
            ),
        ];
        for (what, base, prev, unseen_moved, since_sent, held) in rows {
            let (base, prev) = (
                item(base, "To Do", "Low", &[], 1),
                item(prev, "To Do", "Low", &[], 1),
            );
            let sent = item("S2", "To Do", "Low", &[], 2);
            let local = item("S1", "To Do", "Low", &[], 3);
            let remote = item("S1", "To Do", "Low", &[], 4);
            let ctx = unseen_send_ctx(
                &settings,
                ("node-a", "node-b"),
                &remote,
                &sent,
                unseen_moved,
                since_sent,
            );
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&prev));
            assert_eq!(out.merged.summary, "S1", "{what}");
            assert_eq!(
                out.sent_held.contains(&"summary".to_string()),
                held,
                "{what}"
            );
            assert_eq!(
                out.local_kept.contains(&"summary".to_string()),
                held,
                "{what}"
            );
            assert!(out.conflicts.is_empty(), "{what}");
        }
    }

    /// Simulation seed 22273 of V6 at 300 steps: our unseen send moved the summary (and
    /// the labels) and our item still holds what it carried, while the remote's replica,
    /// built before it applied that send, left them alone. The remote holds our values
    /// once it applies the send, so they are said to be held there, and go out again only
    /// where our item has left them since (seed 2974; seed 2553 of V5 for labels). Sent
    /// again as kept, they made a second change of ours that met the remote's later edit
    /// as a conflict.
    #[test]
    fn a_value_our_unseen_send_moved_is_held_there_when_the_replica_left_it() {
        let settings = ConflictSettings::default();
        let moved = ["labels".to_string(), "summary".to_string()];
        // (what, our item's summary and labels, moved by unseen sends, since the send)
        // -> held there
        type Row<'a> = (
            &'static str,
            (&'static str, &'static [&'static str]),
            &'a [String],
            SinceSent,
            bool,
        );
        let rows: [Row; 4] = [
            (
                "still our send's values",
                ("S2", &["red", "sync"]),
                &moved,
                SinceSent::NothingApplied,
                true,
            ),
            (
                "left since, by a person here",
                ("S3", &["sync"]),
                &moved,
                SinceSent::NothingApplied,
                true,
            ),
            (
                "no unseen send moved them",
                ("S2", &["red", "sync"]),
                &[],
                SinceSent::NothingApplied,
                false,
            ),
            (
                "a replica applied since, the base not our send's",
                ("S2", &["red", "sync"]),
                &moved,
                SinceSent::Applied,
                false,
            ),
        ];
        for (what, (summary, labels), unseen_moved, since_sent, held) in rows {
            let base = item("S1", "To Do", "Low", &["sync"], 1);
            let sent = item("S2", "To Do", "Low", &["red", "sync"], 2);
            let local = item(summary, "To Do", "Low", labels, 3);
            let remote = item("S1", "To Do", "Low", &["sync"], 4);
            let ctx = unseen_send_ctx(
                &settings,
                ("node-a", "node-b"),
                &remote,
                &sent,
                unseen_moved,
                since_sent,
            );
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&base));
            assert_eq!(
                (out.merged.summary.as_str(), out.merged.labels.as_slice()),
                (summary, local.labels.as_slice()),
                "{what}"
            );
            let want: &[&str] = match held {
                true => &["summary", "labels"],
                false => &[],
            };
            assert_eq!(out.sent_held, want, "{what}");
            assert!(out.conflicts.is_empty(), "{what}");
        }
    }

    /// Simulation seed 20550 of V6 at 300 steps: our unseen send removed "blue", a person
    /// here added it again during the write of the remote's replica, which (built before
    /// it applied our send) added "red" and still had "blue". The two agree by chance:
    /// the remote drops "blue" once it applies our send, so our labels go back.
    #[test]
    fn labels_that_agree_by_chance_over_our_unseen_send_go_back() {
        let settings = ConflictSettings::default();
        let moved = ["labels".to_string()];
        // (what, our item's labels, moved by unseen sends) -> held there, sent back
        type Row<'a> = (
            &'static str,
            &'static [&'static str],
            &'a [String],
            bool,
            bool,
        );
        let rows: [Row; 3] = [
            (
                "seed 20550",
                &["escalate", "red", "blue"],
                &moved,
                true,
                true,
            ),
            (
                "our item still has the send's labels: they differ, and go back as before",
                &["escalate", "red"],
                &moved,
                false,
                true,
            ),
            (
                "no unseen send moved them: agreement",
                &["escalate", "red", "blue"],
                &[],
                false,
                false,
            ),
        ];
        for (what, labels, unseen_moved, held, kept) in rows {
            let base = item("S", "To Do", "Low", &["escalate", "blue"], 1);
            let sent = item("S", "To Do", "Low", &["escalate", "red"], 2);
            let local = item("S", "To Do", "Low", labels, 3);
            let remote = item("S", "To Do", "Low", &["escalate", "blue", "red"], 4);
            let ctx = unseen_send_ctx(
                &settings,
                ("node-a", "node-b"),
                &remote,
                &sent,
                unseen_moved,
                SinceSent::NothingApplied,
            );
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&base));
            let want: &[&str] = match held {
                true => &["labels"],
                false => &[],
            };
            assert_eq!(out.sent_held, want, "{what}");
            assert_eq!(
                out.local_kept.contains(&"labels".to_string()),
                kept,
                "{what}"
            );
        }
    }

    /// Simulation seed 3453 of V5: our send moved the status from Open to In Progress,
    /// a person here set Open again, and the other side's replica, built before it
    /// applied our send, moved it to In Progress too. With nothing of the other side's
    /// applied since the send, the person's Open is a change of ours, not the base
    /// value left alone: both sides changed the field, and the policy decides (newest
    /// wins here: the person's edit is newer). With a replica applied since, the value
    /// may be one taken from it, and stays no change of ours (seed 224 of V3).
    #[test]
    fn a_value_set_back_after_an_unseen_send_is_a_change_unless_a_replica_came_between() {
        let settings = ConflictSettings::default();
        let moved = ["status".to_string()];
        // (what, since the send, moved by unseen sends) -> (merged status, conflicts)
        type Row<'a> = (&'static str, SinceSent, &'a [String], &'static str, usize);
        let rows: [Row; 3] = [
            ("seed 3453", SinceSent::NothingApplied, &moved, "Open", 1),
            (
                "a replica applied since (seed 224 of V3)",
                SinceSent::Applied,
                &moved,
                "In Progress",
                0,
            ),
            (
                "no unseen send moved it",
                SinceSent::NothingApplied,
                &[],
                "In Progress",
                0,
            ),
        ];
        for (what, since_sent, unseen_moved, status, conflicts) in rows {
            let base = item("S", "Open", "Low", &[], 1);
            let sent = item("S", "In Progress", "Low", &[], 2);
            let local = item("S", "Open", "Low", &[], 5);
            let remote = item("S", "In Progress", "Low", &[], 3);
            let prev = item("S", "Open", "Low", &[], 1);
            let nodes = ("node-a", "node-b");
            let ctx = unseen_send_ctx(&settings, nodes, &remote, &sent, unseen_moved, since_sent);
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&prev));
            assert_eq!(out.merged.status_name(), Some(status), "{what}");
            assert_eq!(
                out.conflicts.len(),
                conflicts,
                "{what}: {:?}",
                out.conflicts
            );
        }
    }

    /// The context of a replica built after its sender acknowledged our send `sent` with
    /// the view `held`, not taken here; B is ours, A theirs.
    fn held_ctx<'a>(
        settings: &'a ConflictSettings,
        remote: &Item,
        sent: &'a Item,
        held: Option<&'a Item>,
    ) -> MergeContext<'a> {
        let nodes = ("node-b", "node-a");
        MergeContext {
            held_at_ack: held,
            ..unseen_send_ctx(settings, nodes, remote, sent, &[], SinceSent::Applied)
        }
    }

    /// The context of a replica built before its sender applied our send `sent`; `nodes`
    /// is (ours, theirs).
    fn unseen_send_ctx<'a>(
        settings: &'a ConflictSettings,
        nodes: (&'a str, &'a str),
        remote: &Item,
        sent: &'a Item,
        unseen_moved: &'a [String],
        since_sent: SinceSent,
    ) -> MergeContext<'a> {
        MergeContext {
            settings,
            local_node: nodes.0,
            remote_node: nodes.1,
            remote_updated_ms: remote.updated_ms,
            sent: Some(sent),
            sent_seen: SentSeen::Unseen,
            sent_changed: None,
            unseen_moved,
            held_at_ack: None,
            since_sent,
        }
    }

    /// Simulation seed 22367 of V6 at 300 steps: our send set the severity to 1 (and the
    /// summary to S1), the other side's replica, built before it applied that send, sets
    /// 3 (S3), and a person here set 3 (S3) during the apply. The two agree by chance:
    /// the other side weighs our send against its 3 and may take our 1, so ours goes back
    /// and the other side is said to hold the send's value. With a replica applied since
    /// the send, our value may be one taken from it (seed 224 of V3), unless the base
    /// still holds the send's value (seed 21533: a person set the status during the
    /// apply of the replica before, and the replicas since left it alone).
    #[test]
    fn a_value_the_replica_set_over_our_unseen_send_and_we_set_again_goes_back() {
        let settings = ConflictSettings::default();
        let with = |summary: &str, severity: Option<&str>, updated: i64| {
            let mut i = item(summary, "To Do", "Low", &[], updated);
            if let Some(severity) = severity {
                i.custom_fields
                    .insert("severity".into(), Value::from(severity));
            }
            i
        };
        let moved = ["customFields.severity".to_string(), "summary".to_string()];
        // (what, the previous replica's values, our last send's, since the send, moved
        // by unseen sends, the base holds the send's values) -> held and sent back
        type Row<'a> = (
            &'static str,
            (&'static str, Option<&'static str>),
            (&'static str, Option<&'static str>),
            SinceSent,
            &'a [String],
            bool,
            bool,
        );
        let rows: [Row; 6] = [
            (
                "seed 22367",
                ("S0", None),
                ("S1", Some("1")),
                SinceSent::NothingApplied,
                &moved,
                false,
                true,
            ),
            (
                "a replica applied since the send (seed 224 of V3)",
                ("S0", None),
                ("S1", Some("1")),
                SinceSent::Applied,
                &moved,
                false,
                false,
            ),
            (
                "a replica applied since, the base still at the send's values (seed 21533)",
                ("S0", None),
                ("S1", Some("1")),
                SinceSent::Applied,
                &moved,
                true,
                true,
            ),
            (
                "no unseen send moved it",
                ("S0", None),
                ("S1", Some("1")),
                SinceSent::NothingApplied,
                &[],
                false,
                false,
            ),
            (
                "the replica left it alone: held as in seed 20227",
                ("S3", Some("3")),
                ("S1", Some("1")),
                SinceSent::NothingApplied,
                &moved,
                false,
                true,
            ),
            (
                "our send carried our value",
                ("S0", None),
                ("S3", Some("3")),
                SinceSent::NothingApplied,
                &moved,
                false,
                false,
            ),
        ];
        for (what, prev, sent, since_sent, unseen_moved, base_sent, held) in rows {
            let base = match base_sent {
                true => with(sent.0, sent.1, 1),
                false => with("S0", None, 1),
            };
            let prev = with(prev.0, prev.1, 1);
            let sent = with(sent.0, sent.1, 2);
            let local = with("S3", Some("3"), 5);
            let remote = with("S3", Some("3"), 3);
            let nodes = ("node-b", "node-a");
            let ctx = unseen_send_ctx(&settings, nodes, &remote, &sent, unseen_moved, since_sent);
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&prev));
            assert_eq!(out.merged, local, "{what}");
            let want: &[&str] = match held {
                true => &["summary", "customFields.severity"],
                false => &[],
            };
            assert_eq!(out.sent_held, want, "{what}");
            assert_eq!(out.local_kept, want, "{what}");
            assert!(out.conflicts.is_empty(), "{what}: {:?}", out.conflicts);
        }
    }

    /// Simulation seed 3368 of V6 at 300 steps: our unseen send set a severity, a person
    /// here cleared it during the write of their replica, which never had one. Neither
    /// item holds the field, yet the remote holds our send's value once it applies it,
    /// so the cleared value goes out again. Before, only the fields the two items held
    /// were merged, and the severity stayed on the other side.
    #[test]
    fn a_custom_field_neither_item_holds_still_counts_where_our_send_held_it() {
        let settings = ConflictSettings::default();
        let moved = ["customFields.severity".to_string()];
        let with = |severity: Option<i64>| {
            let mut i = item("S", "To Do", "Low", &[], 1);
            if let Some(v) = severity {
                i.custom_fields.insert("severity".into(), json!(v));
            }
            i
        };
        // (what, base's severity, our last send's, unseen sends moved it) -> goes out
        type Row<'a> = (&'static str, Option<i64>, Option<i64>, &'a [String], bool);
        let rows: [Row; 3] = [
            (
                "our unseen send set it, a person cleared it",
                None,
                Some(2),
                &moved,
                true,
            ),
            ("no unseen send moved it", None, Some(2), &[], false),
            (
                "the base and our send had it, both sides cleared it",
                Some(2),
                Some(2),
                &[],
                false,
            ),
        ];
        for (what, base, sent, unseen_moved, goes_out) in rows {
            let (base, sent, local, remote) = (with(base), with(sent), with(None), with(None));
            let ctx = unseen_send_ctx(
                &settings,
                ("node-a", "node-b"),
                &remote,
                &sent,
                unseen_moved,
                SinceSent::NothingApplied,
            );
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&base));
            assert!(out.merged.custom_fields.is_empty(), "{what}");
            let want: &[&str] = match goes_out {
                true => &["customFields.severity"],
                false => &[],
            };
            assert_eq!(out.sent_held, want, "{what}");
            assert_eq!(out.local_kept, want, "{what}");
        }
    }

    /// Simulation seed 22971 of V6 at 300 steps: our unseen sends added "red" and then
    /// removed it; their replica, built before it applied them, added "red" too. The set
    /// merge takes "red" in here, while there our later send takes it out again. Only
    /// the node whose id sorts first sends its labels again: both doing so flipped them
    /// between the two for good.
    #[test]
    fn crossed_labels_go_again_from_the_node_that_sorts_first() {
        let settings = ConflictSettings::default();
        let moved = ["labels".to_string()];
        // (what, local node, remote node, unseen sends moved the labels) -> go again
        let rows: [(&str, &str, &str, &[String], bool); 3] = [
            ("we sort first", "node-a", "node-b", &moved, true),
            ("they sort first", "node-b", "node-a", &moved, false),
            ("no unseen send moved them", "node-a", "node-b", &[], false),
        ];
        for (what, local_node, remote_node, unseen_moved, again) in rows {
            let base = item("S", "To Do", "Low", &["sync"], 1);
            let local = item("S", "To Do", "Low", &["sync"], 3);
            let remote = item("S", "To Do", "Low", &["sync", "red"], 4);
            let nodes = (local_node, remote_node);
            let since = SinceSent::NothingApplied;
            let ctx = unseen_send_ctx(&settings, nodes, &remote, &local, unseen_moved, since);
            let out = merge_items(&ctx, Some(&base), &local, &remote, Some(&base));
            assert_eq!(out.merged.labels, ["sync", "red"], "{what}");
            let want: &[&str] = match again {
                true => &["labels"],
                false => &[],
            };
            assert_eq!(out.sent_held, want, "{what}");
            assert_eq!(out.local_kept, want, "{what}");
        }
    }
}
