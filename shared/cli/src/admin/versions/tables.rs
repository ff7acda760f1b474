//! Versions, Test Runs and shadow reports as tables.

use comfy_table::Table;
use serde_json::{Value, json};

/// A Test Run as a table: per item, the trigger, whether it would be sent, and what the
/// other side would do (create, or which fields change).
pub(super) fn test_run_table(report: &Value) -> Table {
    let mut table = Table::new();
    table.set_header(["item", "trigger", "sent", "other side"]);
    for row in report["items"].as_array().into_iter().flatten() {
        let other = &row["other_side"];
        let there = if let Some(e) = row["error"].as_str().or(other["error"].as_str()) {
            format!("error: {e}")
        } else if other["would_create"] == Value::Bool(true) {
            "creates a new item".to_string()
        } else if let Some(change) = other["would_change"].as_object() {
            let fields: Vec<&str> = change
                .iter()
                .filter(|(_, v)| !v.is_null() && *v != &json!([]) && *v != &json!({}))
                .map(|(k, _)| k.as_str())
                .collect();
            let target = other["target_key"].as_str().unwrap_or("?");
            if fields.is_empty() {
                format!("{target}: no change")
            } else {
                format!("{target}: {}", fields.join(", "))
            }
        } else {
            "-".to_string()
        };
        table.add_row([
            row["item"].as_str().unwrap_or("").to_string(),
            row["trigger"].as_str().unwrap_or("-").to_string(),
            if row["would_send"] == Value::Bool(true) {
                "yes"
            } else {
                "no"
            }
            .to_string(),
            there,
        ]);
    }
    table
}

/// A shadow report: per item, where the draft's replica would differ.
pub(super) fn shadow_table(report: &Value) -> Table {
    let mut table = Table::new();
    let version = report["version"]
        .as_u64()
        .map_or_else(|| "-".to_string(), |v| v.to_string());
    table.set_header([
        format!("item (version {version} in shadow)"),
        "differs".into(),
    ]);
    for (item, what) in report["items"].as_object().into_iter().flatten() {
        table.add_row([item.clone(), what.as_str().unwrap_or("").to_string()]);
    }
    table
}

pub(super) fn versions_table(connection: &Value) -> Table {
    let mut table = Table::new();
    table.set_header(["version", "status", "triggers", "plans", "note"]);
    for v in connection["versions"].as_array().into_iter().flatten() {
        let list = |key: &str, field: &str| {
            v[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t[field].as_str())
                .collect::<Vec<_>>()
                .join("; ")
        };
        table.add_row([
            v["number"].to_string(),
            v["status"].as_str().unwrap_or("-").to_string(),
            list("triggers", "query"),
            list("plans", "cron"),
            v["note"].as_str().unwrap_or("").to_string(),
        ]);
    }
    table
}
