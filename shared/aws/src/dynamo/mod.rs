//! The `TwinStore` and `ConnectionStore` ports on two DynamoDB tables with a string
//! partition key `pk` and sort key `sk` (see `infra/template.yaml`).
//!
//! twins table:
//! - `twin#{id}` / `twin`: the twin as JSON in `doc`, with `revision`, `connection_id`,
//!   `status`, `local_key`, `remote_key` and `created_ms` beside it for conditions and
//!   filters. Every update is conditional on `revision`.
//! - `local#{connection}#{key}` / `key` and `remote#{connection}#{key}` / `key`: which twin
//!   holds an item. A twin and its keys are written in one transaction whose puts require
//!   the keys to be free: that is the exactly-one-twin reservation, across any number of
//!   concurrent Lambda invocations.
//! - `twin#{id}` / `replica#{at}#{direction}#{version}`: the replica history.
//! - `events#{connection}` / `{at}#{uuid}` and `twin#{id}` / `event#{at}#{uuid}`: sync
//!   events, expiring after 30 days (`expires_at`, the table's TTL attribute).
//!
//! connections table:
//! - `connection` / `{id}`: connections (one partition: there are few, and a listing is a
//!   strongly consistent query).
//! - `cursor#{connection}` / `{trigger}`: polling cursors.
//! - `nonce#{nonce}` / `nonce`: transport nonces until `expires_at` (TTL).
//! - `meta` / `{key}`: small scheduler state.

use crate::error::AwsError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use twinsync_ports::{PortError, PortResult};

pub(super) type Record = HashMap<String, AttributeValue>;

/// Sync events are kept this long.
pub(super) const EVENT_TTL_SECONDS: i64 = 30 * 24 * 3_600;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Record {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(super) fn get_s<'a>(r: &'a Record, name: &str) -> Option<&'a str> {
    r.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

/// A record's document: `doc` (JSON text) or `docz` (the JSON gzip-compressed).
pub(super) fn doc<T: serde::de::DeserializeOwned>(r: &Record) -> PortResult<T> {
    let unreadable =
        |e: &dyn std::fmt::Display| PortError::Storage(format!("unreadable record: {e}"));
    if let Some(AttributeValue::B(z)) = r.get("docz") {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(z.as_ref())
            .read_to_end(&mut json)
            .map_err(|e| unreadable(&e))?;
        return serde_json::from_slice(&json).map_err(|e| unreadable(&e));
    }
    let body = get_s(r, "doc").ok_or_else(|| PortError::Storage("record without a doc".into()))?;
    serde_json::from_str(body).map_err(|e| unreadable(&e))
}

/// Documents up to this size are stored as text; larger ones compressed, which takes
/// twin records (four near-copies of an item) from 2.2 KB to under 1 KB: a write unit
/// is 1 KB, so this is most of what a twin's write costs.
const COMPRESS_ABOVE: usize = 400;

/// Puts `v` into `record` as its document (see [`doc`]).
pub(super) fn put_doc<T: serde::Serialize>(record: &mut Record, v: &T) -> PortResult<()> {
    let json = serde_json::to_vec(v).map_err(|e| PortError::Storage(e.to_string()))?;
    if json.len() <= COMPRESS_ABOVE {
        let text = String::from_utf8(json).map_err(|e| PortError::Storage(e.to_string()))?;
        record.insert("doc".into(), s(text));
        return Ok(());
    }
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&json)
        .and_then(|()| z.finish())
        .map(|bytes| {
            record.insert("docz".into(), AttributeValue::B(Blob::new(bytes)));
        })
        .map_err(|e| PortError::Storage(format!("cannot compress a record: {e}")))
}

pub(super) fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> PortResult<T> {
    r.map_err(|e| PortError::Storage(format!("malformed request: {e}")))
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

/// One record by its key.
pub(super) async fn get_record(
    client: &Client,
    table: &str,
    (pk, sk): (&str, &str),
    read: Read,
) -> PortResult<Option<Record>> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(read == Read::Consistent)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("get {pk}/{sk}"), &e))?;
    Ok(out.item().cloned())
}

pub(super) fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reads every page of a query or scan.
macro_rules! all_pages {
    ($req:expr, $what:expr) => {{
        let mut items: Vec<Record> = Vec::new();
        let mut start: Option<Record> = None;
        loop {
            let out = $req
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk($what, &e))?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        items
    }};
}

// Declared after `all_pages!`, which is in scope for them by its place in the text.
mod connections;
mod twin_writes;
mod twins;

pub use connections::DynamoConnectionStore;
pub use twins::DynamoTwinStore;
