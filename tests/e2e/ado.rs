//! The Azure DevOps connector end to end: Microsoft's own client library against the fake;
//! a sandbox and the fake Azure DevOps synced through comments, state changes, a
//! concurrent edit (the rev test), a node restart and a rate-limited burst; the
//! `ado-sandbox` demo over HTTPS; and Microsoft's documented examples read and written
//! by the mapping.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use twinsync_cli::demo::CONNECTION;
use twinsync_cli::demo::ado::{config, setup};
use twinsync_core::{ItemUpdate, User};
use twinsync_fakes::ado::{FakeAdo, FakeOptions, Fault};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::NodeSettings;
use twinsync_node::handlers::scheduler;

use crate::support::until;

const PROJECT_PATH: &str = "Fabrikam%20Fiber";
const PEOPLE: [(&str, &str); 2] = [
    ("ana@example.com", "Ana Lima"),
    ("bo@example.com", "Bo Chen"),
];

fn options() -> FakeOptions {
    let mut identities = vec![(setup::BOT_EMAIL.to_string(), "twinsync bot".to_string())];
    identities.extend(PEOPLE.iter().map(|(e, n)| (e.to_string(), n.to_string())));
    let mut pats = vec![(setup::BOT_PAT.to_string(), setup::BOT_EMAIL.to_string())];
    pats.extend(PEOPLE.iter().map(|(e, _)| (setup::pat(e), e.to_string())));
    FakeOptions {
        projects: vec![setup::PROJECT.into()],
        identities,
        pats,
        ..FakeOptions::default()
    }
}

/// Ana's call to the fake through the REST API, waiting out 429s as a client should.
async fn ana(fake: &FakeAdo, method: reqwest::Method, path: &str, body: Value) -> Value {
    let content_type = if path.contains("/wit/workitems/") {
        "application/json-patch+json"
    } else {
        "application/json"
    };
    for _ in 0..20 {
        let r = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", fake.org_url()))
            .basic_auth("", Some(setup::pat(PEOPLE[0].0)))
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        if r.status().as_u16() == 429 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        assert!(r.status().is_success(), "{method} {path}: {}", r.status());
        return r.json().await.unwrap();
    }
    panic!("{method} {path}: still rate limited");
}

async fn create(fake: &FakeAdo, title: &str) -> i64 {
    let created = ana(
        fake,
        reqwest::Method::POST,
        &format!("/{PROJECT_PATH}/_apis/wit/workitems/$Task?api-version=7.1"),
        json!([
            {"op": "add", "path": "/fields/System.Title", "value": title},
            {"op": "add", "path": "/fields/System.Description", "value": "<p>Pay with <strong>card</strong>.</p>"},
            {"op": "add", "path": "/fields/System.Tags", "value": "sync; payments"},
            {"op": "add", "path": "/fields/Microsoft.VSTS.Common.Priority", "value": 2},
            {"op": "add", "path": "/fields/System.AssignedTo", "value": PEOPLE[1].0},
        ]),
    )
    .await;
    created["id"].as_i64().unwrap()
}

async fn patch(fake: &FakeAdo, id: i64, ops: Value) {
    ana(
        fake,
        reqwest::Method::PATCH,
        &format!("/_apis/wit/workitems/{id}?api-version=7.1"),
        ops,
    )
    .await;
}

fn process_options() -> ProcessOptions {
    ProcessOptions {
        // Short visibility so a message a stopped worker held comes back quickly.
        node: NodeSettings {
            visibility_ms: 1_500,
            ..NodeSettings::default()
        },
        ..ProcessOptions::default()
    }
}

/// Waits until neither the fake nor the sandbox has a delivery on its way and both
/// nodes' queues are empty.
async fn settle(p: &Process, fake: &FakeAdo) {
    let mut hooks = p.webhooks();
    hooks.push(fake.webhooks());
    assert!(
        twinsync_local::quiet::wait_quiet(&p.nodes, &hooks, Duration::from_secs(60)).await,
        "the pair did not settle"
    );
}

/// The sandbox key of work item `id`'s twin.
async fn twin(p: &Process, id: i64) -> String {
    let node = p.node("node-d").unwrap();
    let twin = node
        .twins
        .find_by_local(CONNECTION, &id.to_string())
        .await
        .unwrap();
    twin.and_then(|t| t.remote_key)
        .unwrap_or_else(|| panic!("#{id} has no twin"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ado_and_sandbox_sync_through_comments_states_a_race_a_restart_and_a_burst() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("twinsync_node=debug,twinsync_ado=debug,twinsync_store=warn")
        .try_init();
    let fake = FakeAdo::start("127.0.0.1:0", options()).await.unwrap();
    let cfg = config(setup::instance("ado", &fake, None));
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), process_options())
        .await
        .unwrap();
    let sandbox = p.node("node-a").unwrap().tracker("sandbox-a").unwrap();
    let ado = p.node("node-d").unwrap().tracker("ado").unwrap();

    // A work item with a comment reaches the sandbox, by the service hooks.
    let id = create(&fake, "Checkout fails").await;
    ana(
        &fake,
        reqwest::Method::POST,
        &format!("/{PROJECT_PATH}/_apis/wit/workItems/{id}/comments?api-version=7.1-preview.4"),
        json!({"text": "<p>Seen on <b>mobile</b>.</p>"}),
    )
    .await;
    settle(&p, &fake).await;
    let key = twin(&p, id).await;
    let s = sandbox.get_item(&key).await.unwrap().unwrap();
    assert_eq!(
        (s.summary.as_str(), s.description.as_str()),
        ("Checkout fails", "Pay with **card**.")
    );
    assert_eq!(
        (s.status_name(), s.priority_name()),
        (Some("Open"), Some("High"))
    );
    assert_eq!(s.labels, ["sync", "payments"]);
    assert_eq!(s.assignee_email(), Some(PEOPLE[1].0));
    assert_eq!(s.comments.len(), 1);
    assert!(
        s.comments[0].body.contains("Seen on **mobile**."),
        "{:?}",
        s.comments[0].body
    );
    // The work item links its twin, its status kept current in the link's comment.
    let links: Vec<Value> = fake
        .relations(id)
        .into_iter()
        .filter(|r| r["rel"] == "Hyperlink")
        .collect();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["url"], s.url.as_str());
    assert_eq!(links[0]["attributes"]["comment"], "twinsync: synced");

    // A comment on the sandbox side comes back, attributed; a state change each way.
    let bo = User {
        email: PEOPLE[1].0.into(),
        display_name: PEOPLE[1].1.into(),
    };
    sandbox
        .add_comment(&key, "Fixed on *staging*.", Some(&bo), None)
        .await
        .unwrap();
    patch(
        &fake,
        id,
        json!([{"op": "add", "path": "/fields/System.State", "value": "Active"}]),
    )
    .await;
    settle(&p, &fake).await;
    let d = ado.get_item(&id.to_string()).await.unwrap().unwrap();
    assert_eq!(d.comments.len(), 2);
    assert!(
        d.comments[1].body.contains("Fixed on *staging*."),
        "{:?}",
        d.comments[1].body
    );
    assert!(
        d.comments[1].origin.is_some(),
        "a synced comment carries its marker"
    );
    assert_eq!(
        sandbox.get_item(&key).await.unwrap().unwrap().status_name(),
        Some("In Progress")
    );
    sandbox
        .update_item(
            &key,
            &ItemUpdate {
                status: Some("Done".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap();
    settle(&p, &fake).await;
    assert_eq!(fake.field(id, "System.State"), Some(json!("Closed")));

    // A concurrent edit: someone changes the description just as the node writes the
    // sandbox's new summary. The write fails its rev test, is read again and merged.
    fake.edit_before_next_patch(
        id,
        "System.Description",
        json!("<p>Also on <em>desktop</em>.</p>"),
    );
    sandbox
        .update_item(
            &key,
            &ItemUpdate {
                summary: Some("Checkout fails on all cards".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap();
    settle(&p, &fake).await;
    assert!(
        fake.exchanges().iter().any(|e| e.status == 412),
        "the race happened"
    );
    let d = ado.get_item(&id.to_string()).await.unwrap().unwrap();
    assert_eq!(
        (d.summary.as_str(), d.description.as_str()),
        ("Checkout fails on all cards", "Also on *desktop*.")
    );
    until("the description reached the sandbox", 30, async || {
        sandbox.get_item(&key).await.unwrap().unwrap().description == "Also on *desktop*."
    })
    .await;

    // The node stops; meanwhile Ana edits and creates a burst of work items. The
    // restarted node finds them by polling from its cursor, through a run of 429s.
    p.stop().await;
    patch(&fake, id, json!([{"op": "add", "path": "/fields/System.Title", "value": "Edited while the node was down"}])).await;
    let mut burst = Vec::new();
    for i in 0..12 {
        burst.push(create(&fake, &format!("Burst {i}")).await);
    }
    let p = Process::start(&cfg, dir.path(), process_options())
        .await
        .unwrap();
    fake.inject(std::iter::repeat_n(Fault::TooManyRequests(1), 6));
    let node_d = p.node("node-d").unwrap().clone();
    let connection = node_d.connection(CONNECTION).await.unwrap();
    until("a poll through the 429s", 30, async || {
        scheduler::poll(&node_d, &connection).await.is_ok()
    })
    .await;
    settle(&p, &fake).await;
    let sandbox = p.node("node-a").unwrap().tracker("sandbox-a").unwrap();
    until("the edit made while the node was down", 30, async || {
        sandbox.get_item(&key).await.unwrap().unwrap().summary == "Edited while the node was down"
    })
    .await;
    for b in &burst {
        let k = twin(&p, *b).await;
        assert!(sandbox.get_item(&k).await.unwrap().is_some());
    }
    assert!(fake.exchanges().iter().filter(|e| e.status == 429).count() >= 6);
    assert!(node_d.tracker("ado").unwrap().throttled_ms() > 0);
    // Exactly one twin per item on both sides.
    let mut origins = std::collections::HashMap::<String, usize>::new();
    let mut page = None;
    loop {
        let found = sandbox
            .search_updated("project = DEMO", 0, page)
            .await
            .unwrap();
        for i in found.items {
            *origins.entry(i.origin.unwrap_or_default()).or_default() += 1;
        }
        match found.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    assert_eq!(origins.values().sum::<usize>(), 13);
    assert!(origins.values().all(|n| *n == 1), "{origins:?}");
    assert_eq!(fake.item_count(setup::PROJECT), 13);
    p.stop().await;
}

/// `twinsync demo --pair ado-sandbox`: the fake Azure DevOps on HTTPS with the demo's
/// CA, every 40th request a 429, a concurrent edit; converges with no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ado_sandbox_demo_converges_over_https() {
    let report = twinsync_cli::demo::ado::scenario(&twinsync_cli::demo::DemoArgs {
        items: 12,
        json: true,
        data_dir: None,
        pair: twinsync_cli::demo::Pair::AdoSandbox,
    })
    .await
    .unwrap();
    assert!(report.converged, "{:#?}", report.mismatches);
    assert_eq!((report.items_a_to_b, report.duplicates), (12, 0));
    let compare = report
        .steps
        .last()
        .map(|s| s.detail.clone())
        .unwrap_or_default();
    assert!(
        compare.contains("12 work items link their twin as synced"),
        "{compare}"
    );
    assert!(!compare.contains(" 0 429s"), "{compare}");
}

/// Microsoft's client library, azure-devops-node-api, against the fake: it finds every
/// route through the location service, creates, updates with a rev test (and gets a 412
/// for a stale one), comments, moves the state, queries WIQL and reads the ids in
/// batches, reads a 404 as no work item, and gets a 429 as a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendors_client_library_talks_to_the_fake() {
    let contracts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contracts");
    assert!(
        contracts
            .join("node_modules/azure-devops-node-api")
            .exists(),
        "the client library is missing: run `npm ci --prefix tests/contracts` (scripts/test does)"
    );
    let fake = FakeAdo::start("127.0.0.1:0", options()).await.unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg(contracts.join("official-clients.mjs"))
        .args(["ado", &fake.org_url(), setup::BOT_PAT, setup::PROJECT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
    if !matches!(&ready, Ok(Ok(Some(l))) if l == "ready") {
        let out = child.wait_with_output().await.unwrap();
        panic!("{ready:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The client's last call gets a 429.
    fake.inject([Fault::TooManyRequests(3)]);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").await.unwrap();
    drop(stdin);
    let last = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    let status = child.wait().await.unwrap();
    assert!(status.success(), "{last:?}");
    let seen: Value = serde_json::from_str(&last.unwrap()).unwrap();
    assert_eq!(
        seen,
        json!({"id": 1, "title": "Renamed by the node client", "state": "Active", "rev": 4,
               "stale": 412, "listed": 5, "comments": 1, "notFound": 404, "throttled": 429})
    );
    // It found its routes as Microsoft's clients do, and named its api-version.
    let exchanges = fake.exchanges();
    assert!(
        exchanges
            .iter()
            .any(|e| e.method == "OPTIONS" && e.template == "/{org}/_apis/{area}")
    );
    assert!(
        exchanges
            .iter()
            .any(|e| e.template == "/{org}/{project}/_apis/wit/workitemsbatch" && e.status == 200)
    );
}

/// Deletions with `delete` as both nodes' policy: a comment Ana deletes in Azure DevOps
/// is deleted on the sandbox; a sandbox item deleted goes to the Azure DevOps recycle
/// bin; a work item Ana deletes (the `workitem.deleted` hook) deletes its sandbox twin.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletions_follow_the_delete_policy_both_ways() {
    let fake = FakeAdo::start("127.0.0.1:0", options()).await.unwrap();
    let cfg = config(setup::instance("ado", &fake, None));
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&cfg, dir.path(), process_options())
        .await
        .unwrap();
    for node in &p.nodes {
        crate::support::delete_removals(node, CONNECTION).await;
    }
    let sandbox = p.node("node-a").unwrap().tracker("sandbox-a").unwrap();
    let ado = p.node("node-d").unwrap().tracker("ado").unwrap();
    let delete = async |path: String| {
        let r = reqwest::Client::new()
            .delete(format!("{}{path}", fake.org_url()))
            .basic_auth("", Some(setup::pat(PEOPLE[0].0)))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "DELETE {path}: {}", r.status());
    };

    let first = create(&fake, "Refund stuck").await;
    let second = create(&fake, "Receipt missing").await;
    let comment = ana(
        &fake,
        reqwest::Method::POST,
        &format!("/{PROJECT_PATH}/_apis/wit/workItems/{first}/comments?api-version=7.1-preview.4"),
        json!({"text": "<p>Card ending 4242.</p>"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    settle(&p, &fake).await;
    let (key1, key2) = (twin(&p, first).await, twin(&p, second).await);
    assert_eq!(
        sandbox
            .get_item(&key1)
            .await
            .unwrap()
            .unwrap()
            .comments
            .len(),
        1
    );

    delete(format!(
        "/{PROJECT_PATH}/_apis/wit/workItems/{first}/comments/{comment}?api-version=7.1-preview.4"
    ))
    .await;
    until("the comment deleted on the sandbox", 60, async || {
        sandbox
            .get_item(&key1)
            .await
            .unwrap()
            .unwrap()
            .comments
            .is_empty()
    })
    .await;
    settle(&p, &fake).await;

    sandbox.delete_item(&key1).await.unwrap();
    until("the work item in the recycle bin", 60, async || {
        ado.get_item(&first.to_string()).await.unwrap().is_none()
    })
    .await;

    delete(format!("/_apis/wit/workitems/{second}?api-version=7.1")).await;
    until("the sandbox twin deleted", 60, async || {
        sandbox.get_item(&key2).await.unwrap().is_none()
    })
    .await;
    settle(&p, &fake).await;
    for node in &p.nodes {
        let left = node
            .twins
            .list(&twinsync_ports::TwinQuery {
                connection_id: Some(CONNECTION.into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(left.is_empty(), "{}: {left:?}", node.id);
    }
    p.stop().await;
}
