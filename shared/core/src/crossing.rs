//! What a replica of the other side's, applied here after one of our sends (it crossed
//! that send: the other side built it before applying ours), changed, so that the ack of
//! that send, whose view was built without it, is taken member by member
//! ([`Twin::record_ack`]; simulation seeds 822 of V3, 1020 and 495 of V4, 4216 of V5;
//! labels name by name since 1173 of V1; a value new in the view since 1326 of V5).
//! The other way round too: the view of an ack that could not be taken, for the
//! replicas built after it ([`Twin::view_held_for`]); what our sends a replica crossed
//! moved is in `sent_moves`.
//! Pure, like [`crate::twin_state`].

use crate::twin::Twin;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A member in which two replicas of the same side differ: all of it, or, for a set of
/// names (labels), only the names one of them has and the other lacks. The merge takes
/// labels name by name (`merge_labels`), so what a crossing replica did to one name is
/// noted, kept and forgotten apart from the others: our item may hold a name of its own
/// (a label our send added) beside a name it holds as the replica left it (simulation
/// seed 1173 of V1).
pub(crate) struct Apart {
    pub(crate) key: String,
    /// `None`: the whole member.
    pub(crate) names: Option<BTreeSet<String>>,
}

/// What [`Twin::note_crossing`] compares a replica with, and so which members it notes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Compared {
    /// The other side's previous replica: every member that differs, with its value there.
    Previous,
    /// Nothing (the first replica of a relinked pair, crossing our first sends): only the
    /// lists of names, as added.
    NamesOnly,
    /// Nothing, but the replica was built after the other side applied one of our sends:
    /// its lists of names as moved from that send's (as added, where the send is not
    /// known), and every other member our item took from it, with the replica's own
    /// value standing for the unknown one from before.
    OnOurSend,
}

/// Which of our sends an ack answers, for [`view_over_crossing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AckedSend {
    /// Our last send: nothing of ours went out after the replicas that crossed it, so
    /// the values our item holds from them reach the acker through nothing we send.
    Last,
    /// An earlier one: a later send of ours may have carried those values on, and the
    /// acker takes them from it as ours.
    Earlier,
}

impl Twin {
    /// Notes, for our last send and each earlier one remembered, what a replica applied
    /// now changes in `previous` and the item took: each member's value before the first
    /// replica applied since that send changed it. An ack's view built without such a
    /// replica is taken for those members only where it shows something new
    /// ([`Twin::record_ack`]). A member where the item holds a value of its own (`own`
    /// differs from `view` there: the merge kept ours, or a person set it during the
    /// write) is noted for no send, and what was noted for it is forgotten: the view then
    /// shows the other side's answer to ours, its echo included, which the replica's
    /// value would hide (simulation seed 4216 of V5). With nothing sent, or no previous
    /// replica to compare with after an apply, nothing is noted (and an ack's view is
    /// taken whole, as before); the first replica applied is compared with an empty one,
    /// for its labels, and, where it was built on one of our sends (`applied_in`), its
    /// labels with those of that send (`built_on`, our replica of it, where known) and
    /// its other members with its own values ([`Compared::OnOurSend`]).
    pub(crate) fn note_crossing(
        &mut self,
        replica: &Value,
        view: &Value,
        own: &Value,
        applied_in: Option<u64>,
        built_on: Option<&Value>,
    ) {
        if self.out_version == 0 {
            return;
        }
        let held_apart = members_apart(own, view);
        // The replica is `previous` from now on: a name held apart takes its place there.
        self.forget_crossing(&held_apart, Some(replica));
        let empty = serde_json::Map::new();
        // The first replica of the other side, crossing our first sends (a relinked pair):
        // the merge took it against an empty item, so it added every label it has. Those
        // names are noted as added; the scalar members the policy decided alike on both
        // nodes are not (simulation seed 910 of V6: a label our first send added and a
        // person removed here during the write came back with no name noted, the ack of
        // our send took the view whole, and our next replica's removal looked like no
        // change there).
        // A first replica built after the other side applied one of ours crossed our
        // later sends as any other does, and its scalar members count too (simulation
        // seed 25626 of V6: the assignee it set, cleared there by a person before the
        // ack of our last send, was taken from that ack's view as the other side's
        // previous value; its next replica's clear then looked like no change here).
        let (before, compared) = match self.previous.as_ref() {
            Some(previous) => match previous.as_object() {
                Some(before) => (before, Compared::Previous),
                None => return,
            },
            None if self.in_version == 0 && applied_in.is_some_and(|n| n > 0) => {
                (&empty, Compared::OnOurSend)
            }
            None if self.in_version == 0 => (&empty, Compared::NamesOnly),
            None => return,
        };
        let after = replica.as_object().unwrap_or(&empty);
        let is_names = |k: &str| matches!(after.get(k), Some(Value::Array(_)));
        // A first replica built on our send repeats that send's names: they are ours
        // coming back, not its additions. Noted as added, a name a person here removed
        // later, which the other side took, stayed in `previous` over the ack's view, and
        // their next replica without it removed it here again after a person had set it
        // back (simulation seeds 46184 and 57023 of V6 at 300 steps).
        let sent = built_on.and_then(Value::as_object);
        let moved_from_sent =
            |k: &str| sent.is_none_or(|sent| names_of(sent.get(k)) != names_of(after.get(k)));
        let changed: Vec<(String, Value)> = before
            .keys()
            .chain(after.keys().filter(|k| !before.contains_key(k.as_str())))
            .filter(|k| match compared {
                Compared::Previous => before.get(k.as_str()) != after.get(k.as_str()),
                Compared::NamesOnly => is_names(k),
                Compared::OnOurSend => !is_names(k) || moved_from_sent(k),
            })
            .filter_map(|k| {
                let was = match compared {
                    Compared::OnOurSend if !is_names(k) => after.get(k.as_str()).cloned(),
                    Compared::OnOurSend => sent.and_then(|sent| sent.get(k.as_str())).cloned(),
                    _ => before.get(k.as_str()).cloned(),
                }
                .unwrap_or(Value::Null);
                match held_apart.iter().find(|a| &a.key == k) {
                    None => Some((k.clone(), was)),
                    Some(Apart { names: None, .. }) => None,
                    // Names held apart count as unchanged; the others are noted.
                    Some(Apart {
                        names: Some(names), ..
                    }) => {
                        let was = with_names_as(&was, names, after.get(k.as_str()))?;
                        let changed = names_of(after.get(k.as_str())) != names_of(Some(&was));
                        changed.then(|| (k.clone(), was))
                    }
                }
            })
            .collect();
        for (key, was) in changed {
            for crossed in self.crossed_by_send() {
                crossed.entry(key.clone()).or_insert_with(|| was.clone());
            }
        }
    }

    /// Forgets, for every send remembered, what crossing replicas changed in the members
    /// `apart`: the item no longer holds their values there. For a set of names only the
    /// names apart are forgotten: each takes the place it has in `anchor` (what stands
    /// for the other side's replica from now on), so it no longer counts as changed.
    pub(crate) fn forget_crossing(&mut self, apart: &[Apart], anchor: Option<&Value>) {
        for crossed in self.crossed_by_send() {
            for member in apart {
                let Some(was) = crossed.get(&member.key) else {
                    continue;
                };
                let narrowed = match (&member.names, anchor) {
                    (Some(names), Some(anchor)) => {
                        with_names_as(was, names, anchor.get(&member.key))
                    }
                    _ => None,
                };
                match narrowed {
                    Some(was) => crossed.insert(member.key.clone(), was),
                    None => crossed.remove(&member.key),
                };
            }
        }
    }

    /// Moves the notes of names a crossing replica added or removed onto a new
    /// `previous`, an ack's view taken in place of `old`: a note holds the names from
    /// before the replica, and which ones the replica moved is read against `previous`
    /// ([`view_over_crossing`]). Left as they were, every name the view brought would
    /// count as the replica's too (simulation seed 32661 of V6 at 300 steps: a label the
    /// ack of our third send showed, and the ack of our fourth no longer did, stayed in
    /// `previous` as one the first crossing replica had added, which it never had; their
    /// next replica's label then looked like no change here).
    pub(crate) fn rebase_crossing(&mut self, old: Option<&Value>, new: &Value) {
        let Some(old) = old else {
            return;
        };
        for crossed in self.crossed_by_send() {
            for (key, before) in crossed.iter_mut() {
                let (then, now) = (old.get(key), new.get(key));
                if !any_names([Some(&*before), then, now]) {
                    continue;
                }
                let (Some(was), Some(then), Some(now)) =
                    (names_of(Some(before)), names_of(then), names_of(now))
                else {
                    continue;
                };
                let moved: BTreeSet<&str> = was.symmetric_difference(&then).copied().collect();
                let rebased: Vec<Value> = now
                    .symmetric_difference(&moved)
                    .map(|name| Value::String(name.to_string()))
                    .collect();
                *before = Value::Array(rebased);
            }
        }
    }

    /// Forgets what crossing replicas changed, for every send remembered.
    pub(crate) fn forget_all_crossing(&mut self) {
        for crossed in self.crossed_by_send() {
            crossed.clear();
        }
    }

    /// The notes of our last send and of each earlier one remembered.
    fn crossed_by_send(&mut self) -> impl Iterator<Item = &mut BTreeMap<String, Value>> {
        std::iter::once(&mut self.sent_crossed)
            .chain(self.earlier_sends.iter_mut().map(|e| &mut e.crossed))
    }

    /// The view of an ack not taken (`view_not_taken`) that the replica `version`, whose
    /// sender had applied `applied_in` of ours, was built after, on the send the ack
    /// answered: what the sender held then, for [`crate::merge::MergeContext::held_at_ack`].
    pub fn view_held_for(&self, version: u64, applied_in: Option<u64>) -> Option<&Value> {
        let held = self.view_not_taken.as_ref()?;
        let after = version > held.remote_out_version && applied_in >= Some(held.acked);
        after.then_some(&held.view)
    }

    /// What the replicas applied since our send `version` changed in `previous`. A send
    /// trimmed from `earlier_sends` before its ack has its notes with the first send kept
    /// after it (`record_send` hands them on); `None` for a send acknowledged already,
    /// whose notes went with it.
    pub(crate) fn crossed_since(&self, version: u64) -> Option<&BTreeMap<String, Value>> {
        if version == self.out_version {
            return Some(&self.sent_crossed);
        }
        let kept = self.earlier_sends.iter().find(|e| e.version >= version)?;
        (kept.version == version || version > self.acked_version).then_some(&kept.crossed)
    }
}

/// An ack's view as the other side's previous replica: the view, except members a
/// crossing replica changed (`crossed`, with their values before it) where the view
/// still shows the value from before; those keep the value `previous` has from that
/// replica. A set of names (labels) goes name by name: a name the crossing replica added
/// or removed, which the view shows as before, keeps its place in `previous`, while the
/// view's other names are taken (simulation seed 1173 of V1: the view showed the label our
/// send added, and lacked the one the crossing replica added, which a person on the other
/// side had removed since; taken whole, the view hid that removal). The ack of our last
/// send keeps the replica's value also where the view shows a value new to both.
pub(crate) fn view_over_crossing(
    view: &Value,
    previous: Option<&Value>,
    crossed: Option<&BTreeMap<String, Value>>,
    acked: AckedSend,
) -> Value {
    let mut out = view.clone();
    let (Some(previous), Some(crossed)) = (previous, crossed) else {
        return out;
    };
    if let Some(fields) = out.as_object_mut() {
        for (key, before) in crossed {
            if let Some(keep) = names_kept(view.get(key), before, previous.get(key)) {
                let view_names = view.get(key).unwrap_or(&Value::Null);
                if let Some(names) = with_names_as(view_names, &keep, previous.get(key))
                    && !keep.is_empty()
                {
                    fields.insert(key.clone(), names);
                }
                continue;
            }
            // A value new in the view (neither the one from before nor the replica's) is
            // what the acker holds after the replica: ours, taken, or its person's since.
            // Its next replica carries it, which must count as its change over the older
            // value our item holds from the replica; taken into `previous`, it looked like
            // no change, and our item sent the acker's own older value back over its
            // person's edit (simulation seed 1326 of V5 at 300 steps). After a later send
            // of ours, which carried the replica's value on, the acker takes that value
            // from it as ours, and the view is taken as before (seed 495 of V4 has that
            // order: with the replica's value kept there, each side would take the
            // other's, and the pair would swap the value).
            let kept = match acked {
                AckedSend::Last => true,
                AckedSend::Earlier => same_member(view.get(key), before),
            };
            if !kept {
                continue;
            }
            match previous.get(key) {
                Some(value) => {
                    fields.insert(key.clone(), value.clone());
                }
                None => {
                    fields.remove(key);
                }
            }
        }
    }
    out
}

/// The names a crossing replica added or removed (`before` to `previous`) that the view
/// shows as before: they keep their place in `previous`. `None` when the member is not a
/// list of names.
fn names_kept(
    view: Option<&Value>,
    before: &Value,
    previous: Option<&Value>,
) -> Option<BTreeSet<String>> {
    if !any_names([view, Some(before), previous]) {
        return None;
    }
    let (seen, was, now) = (
        names_of(view)?,
        names_of(Some(before))?,
        names_of(previous)?,
    );
    Some(
        was.symmetric_difference(&now)
            .filter(|name| seen.contains(*name) == was.contains(*name))
            .map(|name| name.to_string())
            .collect(),
    )
}

/// The members in which two replicas differ ([`differing_members`]), a set of names with
/// the names only one of them has.
pub(crate) fn members_apart(a: &Value, b: &Value) -> Vec<Apart> {
    differing_members(a, b)
        .into_iter()
        .map(|key| {
            let names = match (a.get(&key), b.get(&key)) {
                (x, y)
                    if matches!(x, Some(Value::Array(_))) || matches!(y, Some(Value::Array(_))) =>
                {
                    names_of(x)
                        .zip(names_of(y))
                        .map(|(x, y)| x.symmetric_difference(&y).map(|n| n.to_string()).collect())
                }
                _ => None,
            };
            Apart { key, names }
        })
        .collect()
}

/// A member's names: a missing or null member has none; `None` when it is not a list of
/// names.
/// Whether any of the members is a list (of names): scalars have no names to move.
fn any_names(members: [Option<&Value>; 3]) -> bool {
    members.iter().any(|v| matches!(v, Some(Value::Array(_))))
}

fn names_of(member: Option<&Value>) -> Option<BTreeSet<&str>> {
    match member {
        None | Some(Value::Null) => Some(BTreeSet::new()),
        Some(Value::Array(items)) => items.iter().map(Value::as_str).collect(),
        Some(_) => None,
    }
}

/// `value`, a list of names, with each of `names` in it exactly where `like` has it (a
/// name added goes last); `None` when either is not a list of names.
fn with_names_as(value: &Value, names: &BTreeSet<String>, like: Option<&Value>) -> Option<Value> {
    let like = names_of(like)?;
    names_of(Some(value))?;
    let mut out: Vec<Value> = value.as_array().cloned().unwrap_or_default();
    out.retain(|v| {
        v.as_str()
            .is_none_or(|n| !names.contains(n) || like.contains(n))
    });
    for name in names.iter().filter(|n| like.contains(n.as_str())) {
        if !out.iter().any(|v| v.as_str() == Some(name.as_str())) {
            out.push(Value::String(name.clone()));
        }
    }
    Some(Value::Array(out))
}

/// The members in which two replicas of the same side differ: a missing member is null,
/// a list of names (labels) is a set, and the `remoteId` links an ack brings are no
/// difference (as in [`crate::diff::same_content`]).
pub(crate) fn differing_members(a: &Value, b: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let a = a.as_object().unwrap_or(&empty);
    let b = b.as_object().unwrap_or(&empty);
    // `same_content` compares whole replicas: each member goes alone into one.
    let alone = |v: &Value| Value::Object(serde_json::Map::from_iter([("m".into(), v.clone())]));
    a.keys()
        .chain(b.keys().filter(|k| !a.contains_key(k.as_str())))
        .filter(|k| {
            let x = a.get(k.as_str()).unwrap_or(&Value::Null);
            let y = b.get(k.as_str()).unwrap_or(&Value::Null);
            !same_member(Some(x), y) && !crate::diff::same_content(&alone(x), &alone(y))
        })
        .cloned()
        .collect()
}

/// Whether a replica's member has a value: a missing member is null, and a list of
/// names (labels) is a set, as the merge compares labels.
fn same_member(member: Option<&Value>, value: &Value) -> bool {
    fn names(v: &Value) -> Option<Vec<&str>> {
        let mut names = v
            .as_array()?
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()?;
        names.sort_unstable();
        names.dedup();
        Some(names)
    }
    let Some(member) = member else {
        return value.is_null();
    };
    member == value || matches!((names(member), names(value)), (Some(a), Some(b)) if a == b)
}
