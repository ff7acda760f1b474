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
//! routes reads the connections instead, and puts the routes they lack (each only if
//! absent, so a newer route written meanwhile stays) and then the marker; a route whose
//! connection was deleted meanwhile is deleted after. This happens once per table.

use super::super::{Record, all_items, doc, get_s, key, n, put_doc, s};
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
    for connection in &connections {
        put_if_absent(store, connection).await?;
    }
    let marker = json!({ "TableName": store.table, "Item": key(PK, COMPLETE) });
    let _: Value = store
        .client
        .call("PutItem", "put routes marker", marker)
        .await?;
    remove_orphans(store).await?;
    tracing::info!(
        connections = connections.len(),
        "connection routes written for a table that had none"
    );
    Ok(connections.iter().map(ConnectionRoute::of).collect())
}

async fn put_if_absent(store: &DynamoConnectionStore, connection: &Connection) -> PortResult<()> {
    conditional_put(store, connection, Newer::Absent).await
}

/// Which stored route a put may replace.
enum Newer {
    /// None: a route is there only if a write of its connection put it, the newer one.
    Absent,
    /// One of a revision up to the connection's.
    UpToRevision,
}

/// Puts a connection's route over what `newer` allows; a route written since stays.
async fn conditional_put(
    store: &DynamoConnectionStore,
    connection: &Connection,
    newer: Newer,
) -> PortResult<()> {
    let mut input = json!({ "TableName": store.table, "Item": item(connection)? });
    match newer {
        Newer::Absent => input["ConditionExpression"] = json!("attribute_not_exists(pk)"),
        Newer::UpToRevision => {
            input["ConditionExpression"] = json!("attribute_not_exists(pk) OR revision <= :rev");
            input["ExpressionAttributeValues"] = json!({ ":rev": n(connection.revision) });
        }
    }
    let answer = store
        .client
        .call::<Value>("PutItem", "put route", input)
        .await;
    lost_race_is_fine(answer)
}

/// A condition that failed means another write got there first, with newer news.
fn lost_race_is_fine(answer: Result<Value, crate::AwsError>) -> PortResult<()> {
    match answer.map_err(PortError::from) {
        Ok(_) | Err(PortError::Conflict(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Deletes routes whose connection is gone: one deleted between the listing above and
/// the put of its route. Routes are listed before the connections, so a connection
/// inserted meanwhile is either in both or in neither.
async fn remove_orphans(store: &DynamoConnectionStore) -> PortResult<()> {
    let (records, _) = stored(store).await?;
    let connections = store.list().await?;
    for record in &records {
        let route: ConnectionRoute = doc(record)?;
        if connections.iter().all(|c| c.id != route.id) {
            remove(store, &route).await?;
        }
    }
    Ok(())
}

/// Deletes a route whose connection is gone, unless it was written again meanwhile.
async fn remove(store: &DynamoConnectionStore, route: &ConnectionRoute) -> PortResult<()> {
    let input = json!({
        "TableName": store.table,
        "Key": key(PK, sk(&route.id)),
        "ConditionExpression": "revision = :rev",
        "ExpressionAttributeValues": { ":rev": n(route.revision) },
    });
    let what = format!("delete the route of gone connection {}", route.id);
    lost_race_is_fine(store.client.call::<Value>("DeleteItem", &what, input).await)
}

/// Puts right the routes that differ from `connections`, a strongly consistent listing
/// read before them (see `ConnectionStore::check_routes`); how many it changed. A route
/// newer than the listing stays, and a route without a connection in it is removed only
/// once a read of that connection finds none.
pub(super) async fn check(
    store: &DynamoConnectionStore,
    connections: &[Connection],
) -> PortResult<usize> {
    let (records, _) = stored(store).await?;
    let held: Vec<ConnectionRoute> = records.iter().map(doc).collect::<PortResult<_>>()?;
    let mut changed = 0;
    for connection in connections {
        let want = ConnectionRoute::of(connection);
        let route = held.iter().find(|r| r.id == want.id);
        if route.is_some_and(|r| *r == want || r.revision > want.revision) {
            continue;
        }
        conditional_put(store, connection, Newer::UpToRevision).await?;
        changed += 1;
    }
    for route in held
        .iter()
        .filter(|r| connections.iter().all(|c| c.id != r.id))
    {
        if store.get(&route.id).await?.is_none() {
            remove(store, route).await?;
            changed += 1;
        }
    }
    Ok(changed)
}
