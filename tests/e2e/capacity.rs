//! Workspaces, integrations and item capacity: an integration's subscription caps the
//! items under sync across its connections, on each node. A new item past it stays out
//! of sync with the reason on the item and in the monitor; a replica that would create a
//! twin past it is refused, and the sender's twin shows why; a larger plan lets both in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::operations::{Pair, twin};
use crate::support::{Admin, until};
use serde_json::{Value, json};
use twinsync_cli::demo::CONNECTION;
use twinsync_core::TwinStatus;
use twinsync_node::{monitor::views, operations};

async fn integration(admin: &Admin, name: &str, capacity: u64) {
    let (status, body) = admin
        .post("/api/workspaces", json!({"id": "acme", "name": "Acme"}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = admin
        .post(
            "/api/workspaces/acme/integrations",
            json!({"id": name, "name": "A and B", "plan": "trial", "item_capacity": capacity}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = admin
        .post(
            &format!("/api/integrations/{name}/connections"),
            json!({"connection": CONNECTION}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn subscribe(admin: &Admin, name: &str, capacity: u64) {
    let (status, body) = admin
        .post(
            &format!("/api/integrations/{name}/subscription"),
            json!({"plan": "team", "item_capacity": capacity}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The one integration's (used, capacity, full) as the API shows it.
async fn usage(admin: &Admin) -> (u64, u64, bool) {
    let list = admin.get("/api/workspaces").await;
    let i = &list[0]["integrations"][0];
    (
        i["used"].as_u64().unwrap(),
        i["item_capacity"].as_u64().unwrap(),
        i["full"].as_bool().unwrap(),
    )
}

async fn sync_field(pair: &Pair, key: &str) -> Value {
    let item: Value = pair
        .http
        .get(format!("{}/api/items/{key}", pair.p.sandbox_urls["a"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    item["sync"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_integrations_item_capacity_is_enforced_on_both_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "capacity-secret-0123456").await;
    let (admin_a, admin_b) = (Admin::of(&pair.p, "node-a"), Admin::of(&pair.p, "node-b"));
    integration(&admin_a, "a-side", 2).await;
    integration(&admin_b, "b-side", 2).await;

    // Three items match A's trigger; the plan holds two.
    let mut keys = Vec::new();
    for i in 0..3 {
        keys.push(pair.item('a', i, "sync").await);
        pair.quiet().await;
    }
    let third = keys[2].clone();
    assert!(
        twin(&pair.a, &third).await.is_none(),
        "{third} came under sync"
    );
    let shown = sync_field(&pair, &third).await;
    assert_eq!(shown["status"], "error", "{shown}");
    assert!(
        shown["reason"]
            .as_str()
            .unwrap()
            .contains("item capacity (2 of 2"),
        "{shown}"
    );
    assert_eq!(usage(&admin_a).await, (2, 2, true));
    let overview = admin_a.get("/api/monitor").await;
    assert_eq!(overview["workspaces"][0]["integrations"][0]["full"], true);
    let said = admin_a.get("/api/events?limit=50").await;
    assert!(
        said.as_array().unwrap().iter().any(|e| e["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{third} was not brought under sync"))),
        "{said}"
    );

    // A's larger plan lets it in; B, still full, refuses to create its twin.
    subscribe(&admin_a, "a-side", 3).await;
    operations::sync(&pair.a, CONNECTION, &third).await.unwrap();
    let t = third.clone();
    until("B's refusal shown on A", 60, async || {
        twin(&pair.a, &t).await.is_some_and(|t| {
            matches!(&t.status, TwinStatus::Error(why) if why.contains("b-side") || why.contains("item capacity"))
        })
    })
    .await;
    assert_eq!(pair.count(&pair.tb).await, 2, "B made a third item");
    assert_eq!(usage(&admin_b).await, (2, 2, true));

    // B's larger plan, then Retry on A: the pair is made.
    subscribe(&admin_b, "b-side", 3).await;
    let id = twin(&pair.a, &third).await.unwrap().id;
    views::retry(&pair.a, &id).await.unwrap();
    let t = third.clone();
    until("the third pair synced", 60, async || {
        twin(&pair.a, &t)
            .await
            .is_some_and(|t| t.status == TwinStatus::Synced)
    })
    .await;
    assert_eq!(pair.count(&pair.tb).await, 3);
    assert_eq!(usage(&admin_a).await, (3, 3, true));
    assert_eq!(usage(&admin_b).await, (3, 3, true));

    // An unknown integration or connection is not found; a bad id is refused.
    let (status, _) = admin_a
        .post(
            "/api/integrations/nope/connections",
            json!({"connection": CONNECTION}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = admin_a
        .post(
            "/api/integrations/a-side/connections",
            json!({"connection": "nope"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = admin_a
        .post("/api/workspaces", json!({"id": "a b", "name": "x"}))
        .await;
    assert_eq!(status, 400);
    pair.p.stop().await;
}
