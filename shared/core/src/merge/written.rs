//! What an earlier apply's write left on the item, taken into the merge's base.

use super::same_set;
use crate::item::Item;
use serde_json::Value;

/// `before` (a merge base, or the remote's previous replica as the rules make it) with
/// each field the item `now` shows at the value an unrecorded write would have left
/// (`written`, in the item's vocabulary) taken from that write: the item holds sync's
/// value there, not a person's edit, so the field counts as agreed at it. A field `now`
/// shows at another value stays as `before` has it. Comments and files are merged
/// elsewhere.
pub fn shown_as_written(before: &Item, now: &Item, written: &Item) -> Item {
    let mut out = before.clone();
    macro_rules! take {
        ($field:ident) => {
            if now.$field == written.$field {
                out.$field = written.$field.clone();
            }
        };
    }
    take!(summary);
    take!(description);
    take!(status);
    take!(priority);
    take!(assignee);
    take!(reporter);
    if same_set(&now.labels, &written.labels) {
        out.labels = written.labels.clone();
    }
    // A field the write cleared, which `before` still holds, counts too.
    let keys: std::collections::BTreeSet<&String> = [before, now, written]
        .iter()
        .flat_map(|i| i.custom_fields.keys())
        .collect();
    for key in keys {
        let (shown, wrote) = (custom(now, key), custom(written, key));
        if shown != wrote {
            continue;
        }
        match wrote {
            Some(value) => out.custom_fields.insert(key.clone(), value.clone()),
            None => out.custom_fields.remove(key),
        };
    }
    out
}

/// A custom field's value; a null one is no value, as in the merge.
fn custom<'a>(item: &'a Item, key: &str) -> Option<&'a Value> {
    item.custom_fields.get(key).filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Named;
    use serde_json::json;

    fn item(summary: &str, status: &str, labels: &[&str], severity: Option<i64>) -> Item {
        Item {
            summary: summary.into(),
            status: Some(Named::new(status)),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            custom_fields: severity
                .map(|s| [("severity".to_string(), json!(s))].into())
                .unwrap_or_default(),
            ..Item::default()
        }
    }

    #[test]
    fn fields_the_item_shows_at_the_write_count_as_agreed_there() {
        let base = item("base", "Open", &["a"], Some(1));
        // (the item now, the unrecorded write) -> the base the merge uses.
        let cases = [
            // The write happened (seed 43344): the item shows it everywhere.
            (
                item("base", "In Progress", &["a"], Some(1)),
                item("base", "In Progress", &["a"], Some(1)),
                item("base", "In Progress", &["a"], Some(1)),
            ),
            // It did not: a field the item shows otherwise keeps the base.
            (
                item("base", "Open", &["a"], Some(1)),
                item("other", "In Progress", &["a"], Some(2)),
                item("base", "Open", &["a"], Some(1)),
            ),
            // A person edited one field after the write: that one stays a change.
            (
                item("person", "In Progress", &["b", "a"], None),
                item("write", "In Progress", &["a", "b"], None),
                item("base", "In Progress", &["a", "b"], None),
            ),
        ];
        for (now, written, want) in cases {
            assert_eq!(shown_as_written(&base, &now, &written), want, "{now:?}");
        }
    }
}
