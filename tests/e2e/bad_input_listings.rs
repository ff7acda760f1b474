//! Odd answers to the calls that list and create items, against each connector's client:
//! a poll's listing (`search_updated`), the search for an origin marker
//! (`find_by_origin`), and a create. An answer that is no listing must never read as
//! "nothing changed" (the poll's cursor would move past the changes it missed) or "not
//! there" (a second twin would be created); a listed or created item without a usable id
//! must never be read under an empty or zero key. Each is refused with a clear, not
//! retryable `Rejected`; the documented answers, and ones with members added, are read.
//! The item answers of the same vendors are in `bad_input_answers*.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::bad_input::deep_member;
use crate::bad_input_answers::edited;
use serde_json::{Value, json};
use std::sync::Mutex;
use twinsync_core::Item;
use twinsync_ports::{PortError, PortResult, Tracker};

/// The origin marker the searches look for and the creates write.
pub(crate) const ORIGIN: &str = "n1:c1:DEMO-7";

/// What a call must come to: the items with these keys, or `Rejected` saying this.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Want {
    Keys(&'static [&'static str]),
    Rejected(&'static str),
}

/// The call a table is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    Search,
    Find,
    Create,
}

pub(crate) type Case = (String, Vec<u8>, Want);

async fn keys_of(tracker: &dyn Tracker, call: Call) -> PortResult<Vec<String>> {
    match call {
        Call::Search => Ok(tracker
            .search_updated("", 0, None)
            .await?
            .items
            .into_iter()
            .map(|i| i.key)
            .collect()),
        Call::Find => Ok(tracker
            .find_by_origin("", ORIGIN)
            .await?
            .into_iter()
            .map(|i| i.key)
            .collect()),
        Call::Create => {
            let item = Item {
                summary: "Printer on fire".into(),
                description: "Smoke from tray 2".into(),
                ..Item::default()
            };
            Ok(vec![tracker.create_item("", &item, ORIGIN).await?.key])
        }
    }
}

/// Makes `call` once per case, `answer` holding the case's body; what does not come out
/// as wanted.
pub(crate) async fn check(
    tracker: &dyn Tracker,
    call: Call,
    answer: &Mutex<Vec<u8>>,
    cases: Vec<Case>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (name, body, want) in cases {
        *answer.lock().unwrap() = body;
        let got = keys_of(tracker, call).await;
        match (&got, want) {
            (Ok(keys), Want::Keys(wanted)) if keys.iter().eq(wanted.iter()) => {}
            (Err(e @ PortError::Rejected(m)), Want::Rejected(says)) if m.contains(says) => {
                assert!(!e.is_retryable(), "{call:?} {name}");
            }
            _ => wrong.push(format!("{call:?} {name}: {got:?}, wanted {want:?}")),
        }
    }
    wrong
}

fn case(name: &str, body: Vec<u8>, want: Want) -> Case {
    (name.to_string(), body, want)
}

/// Answers that are no listing at all, for a listing at `member` of `good` (empty when
/// the answer is the list itself).
pub(crate) fn not_a_listing(good: &Value, member: &'static str) -> Vec<Case> {
    let rejected = Want::Rejected("");
    let mut cases = vec![
        case("not JSON", b"<html>gateway</html>".to_vec(), rejected),
        case("empty", Vec::new(), rejected),
        case("null", b"null".to_vec(), rejected),
        case(
            "10,000 nested arrays",
            deep_member(r#""id":12"#, 10_000),
            Want::Rejected("recursion limit"),
        ),
    ];
    if member.is_empty() {
        cases.push(case(
            "an error object",
            br#"{"message": "Not Found"}"#.to_vec(),
            rejected,
        ));
        return cases;
    }
    let set = |name: &str, to: Value| case(name, edited(good, |v| v[member] = to), rejected);
    cases.extend([
        case("an array", b"[]".to_vec(), rejected),
        case("empty object", b"{}".to_vec(), rejected),
        case(
            "no listing member",
            edited(good, |v| {
                v.as_object_mut().unwrap().remove(member);
            }),
            rejected,
        ),
        set("listing null", Value::Null),
        set("listing a string", json!("none")),
        set("listing one entry, not a list", good[member][0].clone()),
    ]);
    cases
}

/// The documented listing, the same with members added, and with no entries.
pub(crate) fn listings(
    good: &Value,
    member: &'static str,
    keys: &'static [&'static str],
) -> Vec<Case> {
    vec![
        case(
            "documented",
            serde_json::to_vec(good).unwrap(),
            Want::Keys(keys),
        ),
        case(
            "extra members",
            edited(good, |v| {
                entry_list(v, member)[0]["x-future"] = json!({"a": [1, 2]});
                if let Some(o) = v.as_object_mut() {
                    o.insert("x-future".into(), json!(true));
                }
            }),
            Want::Keys(keys),
        ),
        case(
            "no entries",
            edited(good, |v| *entry_list(v, member) = json!([])),
            Want::Keys(&[]),
        ),
    ]
}

/// The list at `member` of a listing (the answer itself when `member` is empty).
fn entry_list<'a>(v: &'a mut Value, member: &str) -> &'a mut Value {
    if member.is_empty() { v } else { &mut v[member] }
}

/// The entry `edit`s work on: the first of a listing at `at`, or the object at `at` (a
/// create's answer); `at` empty is the answer itself.
fn entry_mut<'a>(v: &'a mut Value, at: &str) -> &'a mut Value {
    let v = if at.is_empty() { v } else { &mut v[at] };
    if v.is_array() { &mut v[0] } else { v }
}

/// The entry at `at` (as `entry_mut`) with its id `id` missing, null, of another type,
/// empty or zero, or no object at all: each refused.
pub(crate) fn without_an_id(good: &Value, at: &'static str, id: &'static str) -> Vec<Case> {
    let mut probe = good.clone();
    let text = entry_mut(&mut probe, at)[id].is_string();
    let (other_type, empty) = if text {
        (json!(7), json!(""))
    } else {
        (json!("5"), json!(0))
    };
    let edit = |name: &str, f: &dyn Fn(&mut Value)| {
        case(
            name,
            edited(good, |v| f(entry_mut(v, at))),
            Want::Rejected(""),
        )
    };
    vec![
        edit("id missing", &|e| {
            e.as_object_mut().unwrap().remove(id);
        }),
        edit("id null", &|e| e[id] = Value::Null),
        edit("id of another type", &|e| e[id] = other_type.clone()),
        edit("id empty or zero", &|e| e[id] = empty.clone()),
        edit("entry not an object", &|e| *e = json!(5)),
    ]
}

/// A create's answer: the documented one, with members added, and with no usable id, or
/// none at all.
pub(crate) fn created(
    good: &Value,
    at: &'static str,
    id: &'static str,
    key: &'static [&'static str],
) -> Vec<Case> {
    let rejected = Want::Rejected("");
    let mut cases = vec![
        case(
            "documented",
            serde_json::to_vec(good).unwrap(),
            Want::Keys(key),
        ),
        case(
            "extra members",
            edited(good, |v| v["x-future"] = json!({"a": [1, 2]})),
            Want::Keys(key),
        ),
        case("an array", b"[]".to_vec(), rejected),
        case("empty object", b"{}".to_vec(), rejected),
        case("not JSON", b"<html>gateway</html>".to_vec(), rejected),
        case("empty", Vec::new(), rejected),
        case(
            "10,000 nested arrays",
            deep_member(r#""id":12"#, 10_000),
            Want::Rejected("recursion limit"),
        ),
    ];
    cases.extend(without_an_id(good, at, id));
    cases
}
