//! Reading a tracker's listings and create answers strictly. A listing that is not one
//! (`{}`, `[]` where an object was due, a member of another type) must never read as
//! "nothing changed" or "not there": a poll would move its cursor past the changes it
//! missed, and a search for an origin marker would let a second twin be created. An
//! entry or a created item without a usable id is refused the same way, never read under
//! an empty or zero key.

use serde_json::Value;
use twinsync_ports::PortError;

/// How a vendor writes its ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A positive integer (GitHub's number, Azure DevOps', Zendesk's and Redmine's ids).
    Number,
    /// A non-empty string (Jira's key, ServiceNow's number, Salesforce's Id).
    Text,
}

/// The entries of a listing: `answer[member]`, or the answer itself when `member` is
/// empty. Anything but an array there is refused.
pub fn listing<'a>(
    vendor: &str,
    answer: &'a Value,
    member: &str,
) -> Result<&'a [Value], PortError> {
    let list = if member.is_empty() {
        Some(answer)
    } else {
        answer.as_object().and_then(|o| o.get(member))
    };
    match list.and_then(Value::as_array) {
        Some(entries) => Ok(entries),
        None if member.is_empty() => Err(rejected(vendor, "the answer is not a listing")),
        None => Err(rejected(
            vendor,
            &format!("no {member:?} listing in the answer"),
        )),
    }
}

/// The entries of a listing (as [`listing`]), each with a usable id at `id` (as
/// [`id_in`]): one without refuses the whole listing.
pub fn entries<'a>(
    vendor: &str,
    answer: &'a Value,
    member: &str,
    id: &str,
    kind: IdKind,
) -> Result<&'a [Value], PortError> {
    let list = listing(vendor, answer, member)?;
    for entry in list {
        id_in(vendor, entry, id, kind)?;
    }
    Ok(list)
}

/// The id `entry[member]` names, as text; refused when missing, of another type, empty
/// or zero.
pub fn id_in(vendor: &str, entry: &Value, member: &str, kind: IdKind) -> Result<String, PortError> {
    let id = match (kind, entry.get(member)) {
        (IdKind::Number, Some(Value::Number(n))) => {
            n.as_u64().filter(|n| *n > 0).map(|n| n.to_string())
        }
        (IdKind::Text, Some(Value::String(s))) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    };
    id.ok_or_else(|| {
        let got = entry.get(member).map_or("none".to_string(), short);
        rejected(vendor, &format!("no usable {member:?} (got {got})"))
    })
}

fn rejected(vendor: &str, why: &str) -> PortError {
    PortError::Rejected(format!("unexpected answer from {vendor}: {why}"))
}

/// A value for an error message, cut short: it came from the network.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listings_are_arrays_where_the_vendor_puts_them() {
        let cases: Vec<(Value, &str, Option<usize>)> = vec![
            (json!({"issues": [1, 2]}), "issues", Some(2)),
            (json!({"issues": []}), "issues", Some(0)),
            (json!([1]), "", Some(1)),
            (json!([]), "", Some(0)),
            (json!({}), "issues", None),
            (json!([]), "issues", None),
            (json!({"issues": {"a": 1}}), "issues", None),
            (json!({"issues": null}), "issues", None),
            (json!({"issues": "none"}), "issues", None),
            (json!({"message": "x"}), "", None),
            (Value::Null, "", None),
        ];
        for (answer, member, want) in cases {
            let got = listing("T", &answer, member).map(<[Value]>::len).ok();
            assert_eq!(got, want, "{answer} at {member:?}");
        }
    }

    #[test]
    fn ids_are_positive_numbers_or_non_empty_text() {
        let cases: Vec<(Value, IdKind, Option<&str>)> = vec![
            (json!({"id": 12}), IdKind::Number, Some("12")),
            (json!({"id": 0}), IdKind::Number, None),
            (json!({"id": -3}), IdKind::Number, None),
            (json!({"id": 1.5}), IdKind::Number, None),
            (json!({"id": "12"}), IdKind::Number, None),
            (json!({"id": null}), IdKind::Number, None),
            (json!({}), IdKind::Number, None),
            (json!({"id": "DEMO-1"}), IdKind::Text, Some("DEMO-1")),
            (json!({"id": ""}), IdKind::Text, None),
            (json!({"id": "  "}), IdKind::Text, None),
            (json!({"id": 7}), IdKind::Text, None),
            (json!({"id": ["DEMO-1"]}), IdKind::Text, None),
            (json!(5), IdKind::Text, None),
        ];
        for (entry, kind, want) in cases {
            let got = id_in("T", &entry, "id", kind);
            assert_eq!(got.as_deref().ok(), want, "{entry}");
            if let Err(e) = got {
                assert!(!e.is_retryable(), "{entry}");
                assert!(e.to_string().contains("\"id\""), "{e}");
            }
        }
    }

    #[test]
    fn a_long_odd_id_is_cut_short_in_the_error() {
        let entry = json!({"id": "x".repeat(10_000)});
        let e = id_in("T", &entry, "id", IdKind::Number).unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
    }
}
