//! The `TwinStore` and `ConnectionStore` ports on two DynamoDB tables with a string
//! partition key `pk` and sort key `sk` (see `infra/template.yaml`).
//!
//! twins table:
//! - `twin#{id}` / `twin`: the twin as its document (`document.rs`), with `revision`,
//!   `connection_id`, `status`, `local_key`, `remote_key` and `created_ms` beside it for
//!   conditions and filters. Every update is conditional on `revision`.
//! - `local#{connection}#{key}` / `key` and `remote#{connection}#{key}` / `key`: which twin
//!   holds an item. A twin and its keys are written in one transaction whose puts require
//!   the keys to be free: that is the exactly-one-twin reservation, across any number of
//!   concurrent Lambda invocations.
//! - `twin#{id}` / `replica#{direction}#{slot}`: the replica history, the newest
//!   `REPLICA_HISTORY` of each direction, each at its version's place in a ring
//!   (`ReplicaRecord::slot`), so a new one replaces the oldest. Before 2026-12-07 they
//!   were `replica#{at}#{direction}#{version}`, one per replica, never replaced.
//! - `events#{connection}` / `{at}#{uuid}` and `twin#{id}` / `event#{at}#{uuid}`: sync
//!   events, expiring after 30 days (`expires_at`, the table's TTL attribute).
//!
//! connections table:
//! - `connection` / `{id}`: connections (one partition: there are few, and a listing is a
//!   strongly consistent query).
//! - `route` / `c#{id}`: what a webhook decides on of each connection (`ConnectionRoute`),
//!   written in the same transaction as its connection, and `route` / `complete` once
//!   every connection has one (`connections/routes.rs`).
//! - `cursor#{connection}` / `{trigger}`: polling cursors.
//! - `nonce#{nonce}` / `nonce`: transport nonces until `expires_at` (TTL).
//! - `meta` / `{key}`: small scheduler state.

use crate::json::JsonClient;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use twinsync_ports::PortResult;

mod attr;
mod document;
pub use attr::Attr;
pub(super) use document::{doc, put_doc};

pub(super) type Record = HashMap<String, Attr>;

/// Sync events are kept this long.
pub(super) const EVENT_TTL_SECONDS: i64 = 30 * 24 * 3_600;

pub(super) fn s(v: impl Into<String>) -> Attr {
    Attr::S(v.into())
}

pub(super) fn n(v: impl ToString) -> Attr {
    Attr::N(v.to_string())
}

pub(super) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Record {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(super) fn get_s<'a>(r: &'a Record, name: &str) -> Option<&'a str> {
    match r.get(name) {
        Some(Attr::S(v)) => Some(v),
        _ => None,
    }
}

/// How a store reads a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Read {
    /// Strongly consistent, at twice the price: for what is decided on without a
    /// conditional write behind it (a connection's status, a cursor).
    Consistent,
    /// Eventually consistent: for records every write to which is conditional (twins
    /// and their keys), so a stale read fails its write and is retried, never acted on.
    Eventual,
}

#[derive(Deserialize)]
struct GetItemOutput {
    #[serde(rename = "Item")]
    item: Option<Record>,
}

/// One record by its key.
pub(super) async fn get_record(
    client: &JsonClient,
    table: &str,
    (pk, sk): (&str, &str),
    read: Read,
) -> PortResult<Option<Record>> {
    let out: GetItemOutput = client
        .call(
            "GetItem",
            &format!("get {pk}/{sk}"),
            json!({
                "TableName": table,
                "Key": key(pk, sk),
                "ConsistentRead": read == Read::Consistent,
            }),
        )
        .await?;
    Ok(out.item)
}

/// A Query's or Scan's page.
#[derive(Deserialize)]
pub(super) struct Page {
    #[serde(rename = "Items", default)]
    pub items: Vec<Record>,
    #[serde(rename = "Count", default)]
    pub count: u64,
    #[serde(rename = "LastEvaluatedKey")]
    pub last_key: Option<Record>,
}

/// Every page of a `Query` or `Scan` (`operation`) of `input`, one after another.
pub(super) async fn all_pages(
    client: &JsonClient,
    operation: &str,
    what: &str,
    input: Value,
) -> PortResult<Vec<Page>> {
    let mut pages = Vec::new();
    let mut input = input;
    loop {
        let page: Page = client.call(operation, what, input.clone()).await?;
        let next = page.last_key.clone().filter(|k| !k.is_empty());
        pages.push(page);
        match (next, input.as_object_mut()) {
            (Some(k), Some(fields)) => {
                fields.insert("ExclusiveStartKey".into(), json!(k));
            }
            _ => break,
        }
    }
    Ok(pages)
}

/// Every item of a `Query` or `Scan`.
pub(super) async fn all_items(
    client: &JsonClient,
    operation: &str,
    what: &str,
    input: Value,
) -> PortResult<Vec<Record>> {
    Ok(all_pages(client, operation, what, input)
        .await?
        .into_iter()
        .flat_map(|p| p.items)
        .collect())
}

/// One transaction. Its token makes a retry of a transaction that went through (its
/// answer lost) succeed again instead of failing its own conditions, as the SDK's
/// idempotency token did.
pub(super) async fn transact(client: &JsonClient, what: &str, items: Vec<Value>) -> PortResult<()> {
    let input = json!({
        "TransactItems": items,
        "ClientRequestToken": uuid::Uuid::new_v4().to_string(),
    });
    let _: Value = client.call("TransactWriteItems", what, input).await?;
    Ok(())
}

pub(super) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

mod connections;
mod twin_writes;
mod twins;

pub use connections::DynamoConnectionStore;
pub use twins::DynamoTwinStore;
