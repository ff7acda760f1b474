//! Records as the Table API answers them: only `sysparm_fields` (dot-walked ones
//! included), and each value as `sysparm_display_value` asks: `false` the stored value
//! (UTC date-times, codes, sys_ids), `true` what a person sees (labels, names), `all`
//! both; reference fields carry a `link` unless `sysparm_exclude_reference_link=true`.

use super::query::value;
use super::state::{Data, REFERENCES, Record};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// How a listing or a record read is asked to render.
pub(super) struct View {
    pub(super) fields: Option<Vec<String>>,
    /// `false`, `true` or `all`.
    pub(super) display: String,
    pub(super) exclude_links: bool,
}

impl View {
    pub(super) fn from_params(params: &HashMap<String, String>) -> View {
        View {
            fields: params
                .get("sysparm_fields")
                .filter(|f| !f.trim().is_empty())
                .map(|f| f.split(',').map(|s| s.trim().to_string()).collect()),
            display: params
                .get("sysparm_display_value")
                .map(|d| d.to_lowercase())
                .unwrap_or_else(|| "false".into()),
            exclude_links: params
                .get("sysparm_exclude_reference_link")
                .is_some_and(|v| v == "true"),
        }
    }
}

/// What a person sees for `field` = `v` of a record of `table`.
fn display(data: &Data, table: &str, field: &str, v: &str) -> String {
    if let Some((_, target)) = REFERENCES.iter().find(|(f, _)| *f == field) {
        return data
            .find(target, v)
            .and_then(|r| r.get("name").cloned())
            .unwrap_or_default();
    }
    data.table("sys_choice")
        .iter()
        .find(|c| {
            [table, "task"].contains(&c.get("name").map(String::as_str).unwrap_or(""))
                && c.get("element").map(String::as_str) == Some(field)
                && c.get("value").map(String::as_str) == Some(v)
        })
        .and_then(|c| c.get("label").cloned())
        .unwrap_or_else(|| v.to_string())
}

/// One record of `table` as the API renders it under `view`.
pub(super) fn record(base: &str, data: &Data, table: &str, r: &Record, view: &View) -> Value {
    let names: Vec<String> = match &view.fields {
        Some(f) => f.clone(),
        None => r.keys().cloned().collect(),
    };
    let mut out = Map::new();
    for name in names {
        let v = value(data, r, &name);
        let reference = REFERENCES
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, t)| *t)
            .filter(|_| !v.is_empty());
        let shown = || display(data, table, &name, &v);
        let rendered = match (view.display.as_str(), reference) {
            ("true", None) => json!(shown()),
            ("all", None) => json!({ "display_value": shown(), "value": v }),
            (_, None) => json!(v),
            (mode, Some(target)) => {
                let link = format!("{base}/api/now/table/{target}/{v}");
                let mut o = Map::new();
                match mode {
                    "true" => {
                        o.insert("display_value".into(), json!(shown()));
                    }
                    "all" => {
                        o.insert("display_value".into(), json!(shown()));
                        o.insert("value".into(), json!(v));
                    }
                    _ => {
                        o.insert("value".into(), json!(v));
                    }
                }
                if view.exclude_links {
                    match mode {
                        "true" => json!(shown()),
                        "all" => Value::Object(o),
                        _ => json!(v),
                    }
                } else {
                    o.insert("link".into(), json!(link));
                    Value::Object(o)
                }
            }
        };
        out.insert(name, rendered);
    }
    Value::Object(out)
}
