//! Bulk Connect by a field: an item here and an item on the other side that carry the same
//! value in one field (a summary, a custom field such as an external id) are the pair.

use crate::item::Item;
use crate::trigger::field_values;
use serde::{Deserialize, Serialize};

/// Which field to match on, and this side's item's value in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchOn {
    pub field: String,
    pub value: String,
}

/// Whether `field` can pair items: one value per item (labels, people and status are
/// shared by many items, so they cannot).
pub fn check_field(field: &str) -> Result<(), String> {
    let custom = field
        .strip_prefix("cf.")
        .is_some_and(|name| !name.trim().is_empty());
    if custom || matches!(field, "summary" | "key") {
        Ok(())
    } else {
        Err(format!(
            "cannot match on {field:?}: use summary, key or cf.NAME (a custom field)"
        ))
    }
}

/// The item's value in `field`, trimmed; `None` when it has none.
pub fn value_of(item: &Item, field: &str) -> Option<MatchOn> {
    let value = field_values(item, field).into_iter().next()?;
    let value = value.trim();
    (!value.is_empty()).then(|| MatchOn {
        field: field.to_string(),
        value: value.to_string(),
    })
}

/// The trigger-language query that finds candidates in `project` (the filter compares
/// without case and trims nothing, so [`is_match`] decides among them).
pub fn query(project: &str, on: &MatchOn) -> String {
    format!(
        "project = {} AND {} = {}",
        quote(project),
        on.field,
        quote(&on.value)
    )
}

/// Whether `item` carries exactly the value asked for.
pub fn is_match(item: &Item, on: &MatchOn) -> bool {
    value_of(item, &on.field).is_some_and(|v| v.value == on.value)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::Filter;

    #[test]
    fn fields_table() {
        let cases = [
            ("summary", true),
            ("key", true),
            ("cf.External ID", true),
            ("cf.", false),
            ("labels", false),
            ("status", false),
            ("assignee", false),
        ];
        for (field, ok) in cases {
            assert_eq!(check_field(field).is_ok(), ok, "{field}");
        }
    }

    #[test]
    fn the_query_finds_the_item_and_only_an_exact_value_matches() {
        let item = |summary: &str| Item {
            project: "OPS".into(),
            summary: summary.into(),
            ..Item::default()
        };
        let tricky = r#"Refund "stuck" at C:\payments"#;
        let on = value_of(&item(&format!("  {tricky} ")), "summary").unwrap();
        assert_eq!(on.value, tricky);
        let filter = Filter::parse(&query("OPS", &on)).unwrap();
        assert!(filter.matches(&item(tricky)));
        assert!(is_match(&item(tricky), &on));
        // The filter ignores case; the pair does not.
        assert!(filter.matches(&item(&tricky.to_uppercase())));
        assert!(!is_match(&item(&tricky.to_uppercase()), &on));
        assert!(value_of(&item("   "), "summary").is_none());
    }
}
