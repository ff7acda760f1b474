//! Workspaces, integrations and item capacity: an integration's subscription caps the
//! items under sync across its connections, on each node. A new item past it stays out
//! of sync with the reason on the item and in the monitor; a replica that would create a
//! twin past it is refused, and the sender's twin shows why; a larger plan lets both in.
//! Workspace tokens see and do only what their workspace and role allow.

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

/// A call with another token: status and body.
async fn with(admin: &Admin, token: &str, method: reqwest::Method, path: &str) -> (u16, Value) {
    let other = Admin {
        url: admin.url.clone(),
        token: token.to_string(),
    };
    let body = (method != reqwest::Method::GET).then(|| json!({"item": "DEMO-1"}));
    other.call(method, path, body).await
}

async fn token(admin: &Admin, workspace: &str, name: &str, role: &str) -> String {
    let (status, issued) = admin
        .post(
            &format!("/api/workspaces/{workspace}/tokens"),
            json!({"name": name, "role": role}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    issued["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workspace_tokens_see_and_do_only_what_their_role_allows() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path(), "tokens-secret-01234567").await;
    let admin = Admin::of(&pair.p, "node-a");
    integration(&admin, "a-side", 100).await;
    let (status, _) = admin
        .post("/api/workspaces", json!({"id": "other", "name": "Other"}))
        .await;
    assert_eq!(status, 201);
    let viewer = token(&admin, "acme", "viewer", "read").await;
    let operator = token(&admin, "acme", "ops", "operator").await;
    let outsider = token(&admin, "other", "outsider", "operator").await;
    let key = pair.item('a', 0, "sync").await;
    pair.quiet().await;
    let id = twin(&pair.a, &key).await.unwrap().id;
    let sync = format!("/api/connections/{CONNECTION}/operations/sync");
    let pair_view = format!("/api/twins/{id}/pair");
    let one = format!("/api/connections/{CONNECTION}");
    // (token, method, path, status, what the answer must show)
    let cases: Vec<(&str, Method, &str, u16, &str)> = vec![
        (&viewer, Method::GET, "/api/connections", 200, CONNECTION),
        (&viewer, Method::GET, "/api/search", 200, &key),
        (&viewer, Method::GET, &pair_view, 200, &key),
        (&viewer, Method::GET, "/api/workspaces", 200, "acme"),
        (&viewer, Method::POST, &sync, 403, "read-only"),
        (&viewer, Method::POST, "/api/workspaces", 403, "admin token"),
        (&operator, Method::POST, &sync, 200, "queued"),
        (
            &operator,
            Method::POST,
            "/api/connections/invite",
            403,
            "admin token",
        ),
        (&operator, Method::DELETE, &one, 403, "admin token"),
        (&outsider, Method::GET, &pair_view, 404, ""),
        (&outsider, Method::GET, &one, 404, ""),
        (&outsider, Method::POST, &sync, 404, ""),
        (
            "not-a-token-of-this-node-0123456789",
            Method::GET,
            "/api/connections",
            401,
            "",
        ),
    ];
    for (token, method, path, want, shows) in cases {
        let (status, body) = with(&admin, token, method.clone(), path).await;
        assert_eq!(status, want, "{method} {path}: {body}");
        assert!(body.to_string().contains(shows), "{method} {path}: {body}");
    }
    // The outsider's listings are empty; it sees its own workspace only.
    let (_, listed) = with(&admin, &outsider, Method::GET, "/api/connections").await;
    assert_eq!(listed, json!([]));
    let (_, found) = with(&admin, &outsider, Method::GET, "/api/search").await;
    assert_eq!(found["twins"], json!([]));
    let (_, spaces) = with(&admin, &outsider, Method::GET, "/api/workspaces").await;
    assert_eq!(spaces.as_array().unwrap().len(), 1, "{spaces}");
    assert_eq!(spaces[0]["id"], "other");
    // A revoked token is refused at once; the node's token lists the tokens, not them.
    let (status, listed) = admin
        .call(
            Method::DELETE,
            "/api/workspaces/acme/tokens/viewer",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    assert!(!listed.to_string().contains(&operator));
    let (status, _) = with(&admin, &viewer, Method::GET, "/api/connections").await;
    assert_eq!(status, 401);
    pair.p.stop().await;
}
