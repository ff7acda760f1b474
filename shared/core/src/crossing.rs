//! What a replica of the other side's, applied here after one of our sends (it crossed
//! that send: the other side built it before applying ours), changed, so that the ack of
//! that send, whose view was built without it, is taken member by member
//! ([`Twin::record_ack`]; simulation seeds 822 of V3, 1020 and 495 of V4, 4216 of V5).
//! Pure, like [`crate::twin_state`].

use crate::twin::Twin;
use serde_json::Value;
use std::collections::BTreeMap;

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
    /// replica to compare with, nothing is noted (and an ack's view is taken whole, as
    /// before).
    pub(crate) fn note_crossing(&mut self, replica: &Value, view: &Value, own: &Value) {
        if self.out_version == 0 {
            return;
        }
        let held_apart = differing_members(own, view);
        self.forget_crossing(&held_apart);
        let Some(before) = self.previous.as_ref().and_then(Value::as_object) else {
            return;
        };
        let empty = serde_json::Map::new();
        let after = replica.as_object().unwrap_or(&empty);
        let changed: Vec<(String, Value)> = before
            .keys()
            .chain(after.keys().filter(|k| !before.contains_key(k.as_str())))
            .filter(|k| before.get(k.as_str()) != after.get(k.as_str()))
            .filter(|k| !held_apart.contains(*k))
            .map(|k| {
                let was = before.get(k.as_str()).cloned().unwrap_or(Value::Null);
                (k.clone(), was)
            })
            .collect();
        for (key, was) in changed {
            for crossed in self.crossed_by_send() {
                crossed.entry(key.clone()).or_insert_with(|| was.clone());
            }
        }
    }

    /// Forgets, for every send remembered, what crossing replicas changed in `members`:
    /// the item no longer holds their values there.
    pub(crate) fn forget_crossing(&mut self, members: &[String]) {
        for crossed in self.crossed_by_send() {
            crossed.retain(|key, _| !members.contains(key));
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

    /// What the replicas applied since our send `version` changed in `previous`; `None`
    /// when that send is no longer remembered.
    pub(crate) fn crossed_since(&self, version: u64) -> Option<&BTreeMap<String, Value>> {
        if version == self.out_version {
            return Some(&self.sent_crossed);
        }
        self.earlier_sends
            .iter()
            .find(|e| e.version == version)
            .map(|e| &e.crossed)
    }
}

/// An ack's view as the other side's previous replica: the view, except members a
/// crossing replica changed (`crossed`, with their values before it) where the view
/// still shows the value from before; those keep the value `previous` has from that
/// replica.
pub(crate) fn view_over_crossing(
    view: &Value,
    previous: Option<&Value>,
    crossed: Option<&BTreeMap<String, Value>>,
) -> Value {
    let mut out = view.clone();
    let (Some(previous), Some(crossed)) = (previous, crossed) else {
        return out;
    };
    if let Some(fields) = out.as_object_mut() {
        for (key, before) in crossed {
            if !same_member(view.get(key), before) {
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
