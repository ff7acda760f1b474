//! Connection routes on DynamoDB (moto): written with every connection write, written
//! once for a table from before them, and a webhook's listing that costs one read unit
//! however many connections the node has.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::emulator;
use serde_json::{Value, json};
use twinsync_aws::OperationCounter;
use twinsync_aws::count::READ_UNITS;
use twinsync_aws::env::counted_ports;
use twinsync_aws::json::{JsonClient, JsonService};
use twinsync_core::{Connection, ConnectionRoute, ConnectionStatus};
use twinsync_ports::ConnectionStore;

fn demo_connection(id: &str) -> Connection {
    let path = emulator::repo_root().join("tests/fixtures/aws/connection-jira-github.json");
    let mut c: Connection = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    c.id = id.into();
    c
}

/// The sort keys of the route partition, as stored.
async fn route_keys(raw: &JsonClient, table: &str) -> Vec<String> {
    let input = json!({
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": { ":pk": {"S": "route"} },
        "ConsistentRead": true,
    });
    let out: Value = raw.call("Query", "routes", input).await.unwrap();
    let mut keys: Vec<String> = out["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sk"]["S"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

async fn raw_call(raw: &JsonClient, operation: &str, input: Value) {
    let _: Value = raw.call(operation, operation, input).await.unwrap();
}

fn read_units(counter: &OperationCounter) -> f64 {
    counter.units().get(READ_UNITS).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_connection_routes_follow_every_write_and_are_made_once_for_old_tables() {
    let (_moto, aws, resources) = emulator::start("rtest").await;
    let counter = OperationCounter::default();
    let (_, _, store) = counted_ports(&aws, &resources, Some(&counter));
    let raw = JsonClient::new(aws.signed.clone(), JsonService::DynamoDb, None);
    let table = resources.connections_table.clone();

    // A table as builds before routes left it: twenty connections, no route, and one
    // route whose connection is gone.
    let ids: Vec<String> = (0..20).map(|i| format!("c{i:02}")).collect();
    for id in &ids {
        store.insert(&demo_connection(id)).await.unwrap();
    }
    for key in route_keys(&raw, &table).await {
        let input = json!({"TableName": table, "Key": {"pk": {"S": "route"}, "sk": {"S": key}}});
        raw_call(&raw, "DeleteItem", input).await;
    }
    let gone = ConnectionRoute::of(&demo_connection("gone"));
    let orphan = json!({"TableName": table, "Item": {
        "pk": {"S": "route"}, "sk": {"S": "c#gone"},
        "doc": {"S": serde_json::to_string(&gone).unwrap()}, "revision": {"N": "0"}}});
    raw_call(&raw, "PutItem", orphan).await;

    // The first listing reads the connections and writes what was missing.
    let first = store.routes().await.unwrap();
    let listed: Vec<&str> = first.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    let mut want: Vec<String> = ids.iter().map(|id| format!("c#{id}")).collect();
    want.push("complete".into());
    want.sort();
    assert_eq!(
        route_keys(&raw, &table).await,
        want,
        "the orphan is deleted"
    );

    // From then on a listing reads the routes alone: one unit for twenty connections,
    // where the connections themselves take several.
    let before = read_units(&counter);
    let routes = store.routes().await.unwrap();
    let routes_cost = read_units(&counter) - before;
    assert_eq!(routes, first);
    let before = read_units(&counter);
    let connections = store.list().await.unwrap();
    let list_cost = read_units(&counter) - before;
    assert_eq!(connections.len(), 20);
    assert_eq!(routes_cost, 1.0, "twenty routes in one read unit");
    assert!(
        list_cost >= 5.0,
        "twenty connections read {list_cost} units"
    );

    // Each write of a connection writes its route in the same transaction.
    let mut paused = store.get("c03").await.unwrap().unwrap();
    paused.status = ConnectionStatus::Deactivated;
    let paused = store.update(&paused).await.unwrap();
    let mut not_live = store.get("c04").await.unwrap().unwrap();
    for v in &mut not_live.versions {
        v.live = false;
    }
    let not_live = store.update(&not_live).await.unwrap();
    store.delete("c05").await.unwrap();
    store.insert(&demo_connection("c20")).await.unwrap();
    // A lost race writes neither the connection nor its route.
    let mut stale = demo_connection("c06");
    stale.revision += 5;
    stale.status = ConnectionStatus::Error;
    assert!(store.update(&stale).await.is_err());

    let routes = store.routes().await.unwrap();
    let want: Vec<ConnectionRoute> = store
        .list()
        .await
        .unwrap()
        .iter()
        .map(ConnectionRoute::of)
        .collect();
    assert_eq!(routes, want);
    let find = |id: &str| routes.iter().find(|r| r.id == id).cloned();
    assert_eq!(find("c03").unwrap().status, ConnectionStatus::Deactivated);
    assert_eq!(find("c03").unwrap().revision, paused.revision);
    assert!(!find("c04").unwrap().live);
    assert_eq!(find("c04").unwrap().revision, not_live.revision);
    assert!(find("c05").is_none());
    assert!(find("c20").is_some());
    assert_eq!(find("c06").unwrap().status, ConnectionStatus::Active);

    // An older build (a deploy's minutes) writes a connection and leaves its route as it
    // was: the scheduler's check puts it right, and keeps what a listing did not show.
    let route_item = |id: &str| json!({"TableName": table, "Key": {"pk": {"S": "route"}, "sk": {"S": format!("c#{id}")}}});
    let out: Value = raw
        .call("GetItem", "old route", route_item("c07"))
        .await
        .unwrap();
    let old_route = out["Item"].clone();
    let mut pending = store.get("c07").await.unwrap().unwrap();
    pending.status = ConnectionStatus::Pending;
    let listing_before = store.list().await.unwrap();
    store.update(&pending).await.unwrap();
    raw_call(
        &raw,
        "PutItem",
        json!({"TableName": table, "Item": old_route}),
    )
    .await;
    store.insert(&demo_connection("c21")).await.unwrap();
    let orphan = json!({"TableName": table, "Item": {
        "pk": {"S": "route"}, "sk": {"S": "c#gone"},
        "doc": {"S": serde_json::to_string(&gone).unwrap()}, "revision": {"N": "0"}}});
    raw_call(&raw, "PutItem", orphan).await;
    assert_eq!(
        store
            .routes()
            .await
            .unwrap()
            .iter()
            .find(|r| r.id == "c07")
            .unwrap()
            .status,
        ConnectionStatus::Active
    );
    // The scheduler's listing, read after that write, puts the route right.
    let listing = store.list().await.unwrap();
    assert_eq!(
        store.check_routes(&listing).await.unwrap(),
        2,
        "c07 and the orphan"
    );
    let routes = store.routes().await.unwrap();
    assert_eq!(
        routes.iter().find(|r| r.id == "c07").unwrap().status,
        ConnectionStatus::Pending
    );
    assert!(routes.iter().all(|r| r.id != "gone"));
    // A listing older than the routes leaves newer routes and unlisted connections be.
    assert_eq!(store.check_routes(&listing_before).await.unwrap(), 0);
    let again = store.routes().await.unwrap();
    assert_eq!(again, routes);
    assert!(again.iter().any(|r| r.id == "c21"));
}
