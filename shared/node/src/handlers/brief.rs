//! One-line summaries of an item or a replica for debug logs: the merge fields only, so
//! a replay of a simulation seed shows what each handler saw and decided.

use serde::Serialize;
use serde_json::Value;
use std::fmt::Write;

/// The merge fields of a replica (or of anything that serialises as one), in one line.
pub fn brief<T: Serialize>(item: &T) -> String {
    match serde_json::to_value(item) {
        Ok(value) => brief_value(&value),
        Err(e) => format!("<{e}>"),
    }
}

fn brief_value(value: &Value) -> String {
    let mut out = String::new();
    for (field, short) in [
        ("summary", "s"),
        ("description", "d"),
        ("status", "st"),
        ("priority", "p"),
        ("assignee", "a"),
        ("labels", "l"),
        ("customFields", "cf"),
    ] {
        let shown = match value.get(field) {
            None => continue,
            Some(Value::Object(o)) if field == "customFields" => {
                Value::Object(o.clone()).to_string()
            }
            Some(Value::Object(o)) => o
                .get("name")
                .or_else(|| o.get("email"))
                .map(Value::to_string)
                .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
            Some(v) => v.to_string(),
        };
        let _ = write!(out, "{short}={shown} ");
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_brief_names_the_merge_fields_only() {
        let replica = json!({"summary": "a", "status": {"name": "Done"}, "assignee": {"email": "x@y"}, "labels": ["b"], "comments": []});
        assert_eq!(brief(&replica), r#"s="a" st="Done" a="x@y" l=["b"]"#);
        let custom = json!({"summary": "a", "customFields": {"severity": 3}});
        assert_eq!(brief(&custom), r#"s="a" cf={"severity":3}"#);
    }
}
