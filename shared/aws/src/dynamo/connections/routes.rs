//! Connection routes: what a webhook decides on of each connection (its instance, its
//! status, whether it is live), one small item each beside the connection.
//!
//! A webhook listed every connection record, strongly consistent, and a record holds
//! every version of the connection with its scripts (1.5 KB stored for the demo's): the
//! read units a webhook cost grew with the node. The routes of twenty connections fit in
//! one read unit.
//!
//! Every write of a connection writes its route in the same transaction. Tables written
//! before routes existed have none: until the `complete` marker is there, a listing of
//! routes reads the connections instead, puts the routes they lack ([`check`]) and then
//! the marker. This happens once per table. The scheduler runs the same check each tick,
//! which puts right a route an older build's write left behind during a deploy.

use super::super::{Record, all_items, doc, get_s, key, n, put_doc, s, transact};
use super::DynamoConnectionStore;
use serde_json::{Value, json};
use twinsync_core::{Connection, ConnectionRoute};
use twinsync_ports::{ConnectionStore, PortError, PortResult};

const PK: &str = "route";
const COMPLETE: &str = "complete";

fn sk(connection_id: &str) -> String {
    format!("c#{connection_id}")
}

/// A connection's route item.
fn item(connection: &Connection) -> PortResult<Record> {
    let mut item = key(PK, sk(&connection.id));
    put_doc(&mut item, &ConnectionRoute::of(connection))?;
    item.insert("revision".into(), n(connection.revision));
    Ok(item)
}

/// The transaction's put of a connection's route, beside the put of the connection.
pub(super) fn put(table: &str, connection: &Connection) -> PortResult<Value> {
    Ok(json!({ "Put": { "TableName": table, "Item": item(connection)? } }))
}

/// The transaction's delete of a connection's route.
pub(super) fn delete(table: &str, connection_id: &str) -> Value {
    json!({ "Delete": { "TableName": table, "Key": key(PK, sk(connection_id)) } })
}

/// Every route item and whether the marker is among them.
async fn stored(store: &DynamoConnectionStore) -> PortResult<(Vec<Record>, bool)> {
    let input = json!({
        "TableName": store.table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": { ":pk": s(PK) },
        "ConsistentRead": true,
    });
    let mut records = all_items(&store.client, "Query", "list routes", input).await?;
    let before = records.len();
    records.retain(|r| get_s(r, "sk") != Some(COMPLETE));
    let complete = records.len() < before;
    Ok((records, complete))
}

/// The routes of every connection (see the module's comment).
pub(super) async fn list(store: &DynamoConnectionStore) -> PortResult<Vec<ConnectionRoute>> {
    let (records, complete) = stored(store).await?;
    if complete {
        return records.iter().map(doc).collect();
    }
    let connections = store.list().await?;
    check(store, &connections).await?;
    let marker = json!({ "TableName": store.table, "Item": key(PK, COMPLETE) });
    let _: Value = store
        .client
        .call("PutItem", "put routes marker", marker)
        .await?;
    tracing::info!(
        connections = connections.len(),
        "connection routes written for a table that had none"
    );
    Ok(connections.iter().map(ConnectionRoute::of).collect())
}

/// A transaction's check that connection `id` is stored at `revision`, or is gone.
fn connection_is(table: &str, id: &str, revision: Option<u64>) -> Value {
    let mut check = json!({ "TableName": table, "Key": key("connection", id) });
    match revision {
        Some(revision) => {
            check["ConditionExpression"] = json!("revision = :rev");
            check["ExpressionAttributeValues"] = json!({ ":rev": n(revision) });
        }
        None => check["ConditionExpression"] = json!("attribute_not_exists(pk)"),
    }
    json!({ "ConditionCheck": check })
}

/// Writes `items` with the check before them; false when the check failed: a write of
/// the connection came between, and put its own route.
async fn while_unchanged(
    store: &DynamoConnectionStore,
    what: &str,
    items: Vec<Value>,
) -> PortResult<bool> {
    match transact(&store.client, what, items).await {
        Ok(()) => Ok(true),
        Err(PortError::Conflict(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// Puts right the routes that differ from `connections`, a strongly consistent listing
/// (see `ConnectionStore::check_routes`); how many it changed. Each put or delete is in
/// a transaction with a check of its connection, so it happens only while the
/// connection is still as listed (a put) or gone (a delete): a write of a connection
/// since the listing, which wrote its own route, is never undone, and no route is left
/// for a connection deleted meanwhile.
pub(super) async fn check(
    store: &DynamoConnectionStore,
    connections: &[Connection],
) -> PortResult<usize> {
    let (records, _) = stored(store).await?;
    let held: Vec<ConnectionRoute> = records.iter().map(doc).collect::<PortResult<_>>()?;
    let table = store.table.as_str();
    let mut changed = 0;
    for connection in connections {
        let want = ConnectionRoute::of(connection);
        let route = held.iter().find(|r| r.id == want.id);
        // A route newer than the listing was written with a newer connection.
        if route.is_some_and(|r| *r == want || r.revision > want.revision) {
            continue;
        }
        let items = vec![
            connection_is(table, &connection.id, Some(connection.revision)),
            put(table, connection)?,
        ];
        let what = format!("put the route of connection {}", connection.id);
        changed += usize::from(while_unchanged(store, &what, items).await?);
    }
    for route in held
        .iter()
        .filter(|r| connections.iter().all(|c| c.id != r.id))
    {
        let items = vec![
            connection_is(table, &route.id, None),
            delete(table, &route.id),
        ];
        let what = format!("delete the route of gone connection {}", route.id);
        changed += usize::from(while_unchanged(store, &what, items).await?);
    }
    Ok(changed)
}
