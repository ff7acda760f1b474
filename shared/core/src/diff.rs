//! Field-by-field differences between two replicas, for the Item Sync Monitor's replica
//! history and its pair view. Replicas are JSON objects whose fields the rules chose; a
//! list of objects with an `id` (comments, attachments) is compared element by element,
//! so one new comment shows as one added line, not as a changed list.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// What happened to one field between two replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffKind {
    Added,
    Removed,
    Changed,
}

/// One field (`summary`, or `comments[c-1]` for an element of a list) that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDiff {
    pub field: String,
    pub change: DiffKind,
    pub before: Value,
    pub after: Value,
}

/// The fields that differ from `before` to `after`, in field order. A missing field and a
/// `null` one are the same: rules leave out what they do not share.
pub fn replica_diff(before: &Value, after: &Value) -> Vec<FieldDiff> {
    let empty = serde_json::Map::new();
    let a = before.as_object().unwrap_or(&empty);
    let b = after.as_object().unwrap_or(&empty);
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let old = a.get(name).unwrap_or(&Value::Null);
        let new = b.get(name).unwrap_or(&Value::Null);
        match (keyed(old), keyed(new)) {
            (Some(old), Some(new)) => list_diff(name, &old, &new, &mut out),
            _ => push(name.clone(), old, new, &mut out),
        }
    }
    out
}

/// The elements of a list whose every element is an object with a string or number `id`.
fn keyed(v: &Value) -> Option<Vec<(String, &Value)>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|e| match e.get("id") {
                Some(Value::String(s)) => Some((s.clone(), e)),
                Some(Value::Number(n)) => Some((n.to_string(), e)),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn list_diff(
    name: &str,
    old: &[(String, &Value)],
    new: &[(String, &Value)],
    out: &mut Vec<FieldDiff>,
) {
    let find = |list: &[(String, &Value)], id: &str| {
        list.iter()
            .find(|(k, _)| k == id)
            .map(|(_, v)| (*v).clone())
            .unwrap_or(Value::Null)
    };
    let mut ids: Vec<&String> = old.iter().map(|(k, _)| k).collect();
    ids.extend(
        new.iter()
            .map(|(k, _)| k)
            .filter(|k| !old.iter().any(|(o, _)| o == *k)),
    );
    for id in ids {
        push(format!("{name}[{id}]"), &find(old, id), &find(new, id), out);
    }
}

fn push(field: String, old: &Value, new: &Value, out: &mut Vec<FieldDiff>) {
    let change = match (old.is_null(), new.is_null()) {
        (true, true) => return,
        (true, false) => DiffKind::Added,
        (false, true) => DiffKind::Removed,
        (false, false) if old == new => return,
        (false, false) => DiffKind::Changed,
    };
    out.push(FieldDiff {
        field,
        change,
        before: old.clone(),
        after: new.clone(),
    });
}

/// Whether `replica` tells the other side nothing `baseline` did not: the two are equal
/// but for the `remoteId` links on list elements (comments, attachments). The twin learns
/// those links from the ack, after the replica went out, so the next replica of the same
/// item carries them while the baseline does not; the other side made those links itself.
pub fn same_content(baseline: &Value, replica: &Value) -> bool {
    baseline == replica || without_links(baseline) == without_links(replica)
}

fn without_links(replica: &Value) -> Value {
    let mut out = replica.clone();
    if let Some(fields) = out.as_object_mut() {
        for list in fields.values_mut().filter_map(Value::as_array_mut) {
            for element in list.iter_mut().filter_map(Value::as_object_mut) {
                element.remove("remoteId");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_content_ignores_only_the_links_an_ack_brings() {
        let c = |remote: Value| json!({"id": "7", "body": "hi", "remoteId": remote});
        let cases = [
            (
                "equal",
                json!({"summary": "a"}),
                json!({"summary": "a"}),
                true,
            ),
            (
                "a field changed",
                json!({"summary": "a"}),
                json!({"summary": "b"}),
                false,
            ),
            (
                "a link learned",
                json!({"comments": [c(Value::Null)]}),
                json!({"comments": [c(json!("12"))]}),
                true,
            ),
            (
                "a link learned, absent before",
                json!({"comments": [{"id": "7", "body": "hi"}]}),
                json!({"comments": [c(json!("12"))]}),
                true,
            ),
            (
                "a comment edited",
                json!({"comments": [c(Value::Null)]}),
                json!({"comments": [{"id": "7", "body": "bye", "remoteId": "12"}]}),
                false,
            ),
            (
                "a comment added",
                json!({"comments": []}),
                json!({"comments": [c(json!("12"))]}),
                false,
            ),
            (
                "a top-level remoteId is content",
                json!({"remoteId": "1"}),
                json!({"remoteId": "2"}),
                false,
            ),
        ];
        for (name, baseline, replica, same) in cases {
            assert_eq!(same_content(&baseline, &replica), same, "{name}");
        }
    }

    #[test]
    fn replica_diff_table() {
        let c1 = json!({"id": "c1", "body": "hello"});
        let c1b = json!({"id": "c1", "body": "hello, edited"});
        let c2 = json!({"id": "c2", "body": "second"});
        type Case = (&'static str, Value, Value, Vec<(&'static str, DiffKind)>);
        let cases: Vec<Case> = vec![
            (
                "same replica",
                json!({"summary": "a"}),
                json!({"summary": "a"}),
                vec![],
            ),
            (
                "summary changed",
                json!({"summary": "a", "labels": ["x"]}),
                json!({"summary": "b", "labels": ["x"]}),
                vec![("summary", DiffKind::Changed)],
            ),
            (
                "field added and removed",
                json!({"priority": {"name": "High"}}),
                json!({"status": {"name": "Done"}}),
                vec![("priority", DiffKind::Removed), ("status", DiffKind::Added)],
            ),
            (
                "null is absent",
                json!({"assignee": null}),
                json!({}),
                vec![],
            ),
            (
                "one comment added",
                json!({"comments": [c1.clone()]}),
                json!({"comments": [c1.clone(), c2.clone()]}),
                vec![("comments[c2]", DiffKind::Added)],
            ),
            (
                "one comment edited, one removed",
                json!({"comments": [c1.clone(), c2.clone()]}),
                json!({"comments": [c1b.clone()]}),
                vec![
                    ("comments[c1]", DiffKind::Changed),
                    ("comments[c2]", DiffKind::Removed),
                ],
            ),
            (
                "first comments",
                json!({}),
                json!({"comments": [c1.clone()]}),
                vec![("comments[c1]", DiffKind::Added)],
            ),
            (
                "a list without ids is one field",
                json!({"labels": ["a"]}),
                json!({"labels": ["a", "b"]}),
                vec![("labels", DiffKind::Changed)],
            ),
            ("not objects at all", json!("x"), json!(3), vec![]),
        ];
        for (name, before, after, want) in cases {
            let got: Vec<(String, DiffKind)> = replica_diff(&before, &after)
                .into_iter()
                .map(|d| (d.field, d.change))
                .collect();
            let want: Vec<(String, DiffKind)> =
                want.into_iter().map(|(f, c)| (f.to_string(), c)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn a_diff_carries_both_values() {
        let d = replica_diff(&json!({"summary": "a"}), &json!({"summary": "b"}));
        assert_eq!(d[0].before, json!("a"));
        assert_eq!(d[0].after, json!("b"));
    }
}
