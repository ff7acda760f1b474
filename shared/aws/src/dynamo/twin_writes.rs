//! The items of the transactions that write a twin with its key records: insert,
//! delete, and the replacement a Relink makes. A twin's key records (`local#…`,
//! `remote#…`) keep one twin per item; each transaction writes the twin and its keys
//! together, or nothing.

use super::{Record, built, key, s};
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use std::collections::HashMap;
use twinsync_core::Twin;
use twinsync_ports::PortResult;

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
pub(super) fn new_twin(table: &str, record: Record) -> PortResult<TransactWriteItem> {
    Ok(TransactWriteItem::builder()
        .put(built(
            Put::builder()
                .table_name(table)
                .set_item(Some(record))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?)
        .build())
}

/// The key records of a twin, as puts conditional on who holds them now.
pub(super) fn key_puts(
    table: &str,
    twin: &Twin,
    holder: KeyHolder,
) -> PortResult<Vec<TransactWriteItem>> {
    let (condition, values): (String, HashMap<String, _>) = match holder {
        KeyHolder::Free => ("attribute_not_exists(pk)".into(), HashMap::new()),
        KeyHolder::Itself => (
            "attribute_not_exists(pk) OR twin_id = :id".into(),
            HashMap::from([(":id".to_string(), s(&twin.id))]),
        ),
        KeyHolder::FreeOrGone([]) => ("attribute_not_exists(pk)".into(), HashMap::new()),
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
    let mut puts = Vec::new();
    for pk in key_pks(twin) {
        let mut item = key(pk, "key");
        item.insert("twin_id".into(), s(&twin.id));
        puts.push(
            TransactWriteItem::builder()
                .put(built(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(item))
                        .condition_expression(condition.clone())
                        .set_expression_attribute_values(
                            (!values.is_empty()).then(|| values.clone()),
                        )
                        .build(),
                )?)
                .build(),
        );
    }
    Ok(puts)
}

/// The deletes of a twin's record and of its key records still its own, except the
/// keys in `kept` (which the same transaction puts over: it writes an item once).
pub(super) fn twin_deletes(
    table: &str,
    twin: &Twin,
    kept: &[String],
) -> PortResult<Vec<TransactWriteItem>> {
    let mut items = vec![
        TransactWriteItem::builder()
            .delete(built(
                Delete::builder()
                    .table_name(table)
                    .set_key(Some(key(format!("twin#{}", twin.id), "twin")))
                    .build(),
            )?)
            .build(),
    ];
    for pk in key_pks(twin).into_iter().filter(|pk| !kept.contains(pk)) {
        items.push(
            TransactWriteItem::builder()
                .delete(built(
                    Delete::builder()
                        .table_name(table)
                        .set_key(Some(key(pk, "key")))
                        // Only if the key is still this twin's.
                        .condition_expression("attribute_not_exists(pk) OR twin_id = :id")
                        .expression_attribute_values(":id", s(&twin.id))
                        .build(),
                )?)
                .build(),
        );
    }
    Ok(items)
}

/// The items of a replacement: the new twin and its keys (free, or held by a twin it
/// replaces, whose key record it puts over), and the deletes of the twins it replaces.
pub(super) fn replacement(
    table: &str,
    gone: &[Twin],
    twin: &Twin,
    record: Record,
) -> PortResult<Vec<TransactWriteItem>> {
    let mut items = vec![new_twin(table, record)?];
    items.extend(key_puts(table, twin, KeyHolder::FreeOrGone(gone))?);
    let taken = key_pks(twin);
    for old in gone {
        items.extend(twin_deletes(table, old, &taken)?);
    }
    Ok(items)
}
