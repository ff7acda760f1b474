//! The items of the transactions that write a twin with its key records: insert,
//! delete, and the replacement a Relink makes. A twin's key records (`local#…`,
//! `remote#…`) keep one twin per item; each transaction writes the twin and its keys
//! together, or nothing.

use super::{Record, key, s};
use serde_json::{Value, json};
use std::collections::HashMap;
use twinsync_core::Twin;

/// A transaction's put of `item` under `condition`.
fn put(table: &str, item: Record, condition: &str, values: &Record) -> Value {
    let mut put = json!({
        "TableName": table,
        "Item": item,
        "ConditionExpression": condition,
    });
    if !values.is_empty() {
        put["ExpressionAttributeValues"] = json!(values);
    }
    json!({ "Put": put })
}

/// Who may hold a key record the new twin puts.
pub(super) enum KeyHolder<'a> {
    /// Nobody: the key must be free (an insert).
    Free,
    /// This twin already (an update).
    Itself,
    /// Free, or one of these twins, which the same transaction deletes (a replace).
    FreeOrGone(&'a [Twin]),
}

fn key_pk(side: &str, twin: &Twin, k: &str) -> String {
    format!("{side}#{}#{k}", twin.connection_id)
}

/// The key record names of a twin.
fn key_pks(twin: &Twin) -> Vec<String> {
    [("local", &twin.local_key), ("remote", &twin.remote_key)]
        .into_iter()
        .filter_map(|(side, k)| k.as_deref().map(|k| key_pk(side, twin, k)))
        .collect()
}

/// The put of a new twin's record: it must not exist yet.
pub(super) fn new_twin(table: &str, record: Record) -> Value {
    put(table, record, "attribute_not_exists(pk)", &Record::new())
}

/// The key records of a twin, as puts conditional on who holds them now.
pub(super) fn key_puts(table: &str, twin: &Twin, holder: KeyHolder) -> Vec<Value> {
    let (condition, values): (String, Record) = match holder {
        KeyHolder::Free => ("attribute_not_exists(pk)".into(), Record::new()),
        KeyHolder::Itself => (
            "attribute_not_exists(pk) OR twin_id = :id".into(),
            Record::from([(":id".to_string(), s(&twin.id))]),
        ),
        KeyHolder::FreeOrGone([]) => ("attribute_not_exists(pk)".into(), Record::new()),
        KeyHolder::FreeOrGone(gone) => {
            let names: Vec<String> = (0..gone.len()).map(|i| format!(":g{i}")).collect();
            let values = names
                .iter()
                .cloned()
                .zip(gone.iter().map(|g| s(&g.id)))
                .collect();
            let condition = format!(
                "attribute_not_exists(pk) OR twin_id IN ({})",
                names.join(", ")
            );
            (condition, values)
        }
    };
    key_pks(twin)
        .into_iter()
        .map(|pk| {
            let mut item = key(pk, "key");
            item.insert("twin_id".into(), s(&twin.id));
            put(table, item, &condition, &values)
        })
        .collect()
}

/// The deletes of a twin's record and of its key records still its own, except the
/// keys in `kept` (which the same transaction puts over: it writes an item once).
pub(super) fn twin_deletes(table: &str, twin: &Twin, kept: &[String]) -> Vec<Value> {
    let mut items = vec![json!({ "Delete": {
        "TableName": table,
        "Key": key(format!("twin#{}", twin.id), "twin"),
    }})];
    for pk in key_pks(twin).into_iter().filter(|pk| !kept.contains(pk)) {
        // Only if the key is still this twin's.
        items.push(json!({ "Delete": {
            "TableName": table,
            "Key": key(pk, "key"),
            "ConditionExpression": "attribute_not_exists(pk) OR twin_id = :id",
            "ExpressionAttributeValues": HashMap::from([(":id", s(&twin.id))]),
        }}));
    }
    items
}

/// The items of a replacement: the new twin and its keys (free, or held by a twin it
/// replaces, whose key record it puts over), and the deletes of the twins it replaces.
pub(super) fn replacement(table: &str, gone: &[Twin], twin: &Twin, record: Record) -> Vec<Value> {
    let mut items = vec![new_twin(table, record)];
    items.extend(key_puts(table, twin, KeyHolder::FreeOrGone(gone)));
    let taken = key_pks(twin);
    for old in gone {
        items.extend(twin_deletes(table, old, &taken));
    }
    items
}
