//! Bad input on the node's HTTP entry points, one table per entry point: every case gets
//! its 4xx with a reason, and nothing is queued, stored or changed. Cases already in
//! `webhooks.rs` (unsigned, wrong secret, tampered, stale, unknown instance, wrong
//! connector) and `admin.rs` (tokens, origins, content types) are not repeated here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use twinsync_cli::demo;
use twinsync_core::ConnectionStatus;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::Node;
use twinsync_ports::queues;
use twinsync_tests::fixture;

use crate::support::Admin;

const SECRET: &str = "bad-input-secret-0123";

/// A body of `depth` nested arrays: deeper than serde_json's recursion limit (128).
pub(crate) fn deep_arrays(depth: usize) -> Vec<u8> {
    let mut body = vec![b'['; depth];
    body.extend(std::iter::repeat_n(b']', depth));
    body
}

/// A JSON object whose member `extra` holds `depth` nested arrays after `members`, so a
/// reader that skips unknown members must still walk the depth.
pub(crate) fn deep_member(members: &str, depth: usize) -> Vec<u8> {
    let mut body = format!("{{{members},\"extra\":").into_bytes();
    body.extend(deep_arrays(depth));
    body.push(b'}');
    body
}

/// A file under `tests/fixtures/bad-input/`.
pub(crate) fn bad(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("bad-input/{name}"))).unwrap()
}

/// What [`answer`] gives for a refusal that is not `{"error": reason}`.
pub(crate) const NOT_JSON: &str = "not a JSON error: ";

/// Status and the `error` member of a JSON answer (the text after [`NOT_JSON`] when the
/// answer is not one).
pub(crate) async fn answer(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let reason = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{NOT_JSON}{text}"));
    (status, reason)
}

/// Why an answer is not the refusal a case wants (its status and a JSON error that
/// contains `want_reason`); `None` when it is.
pub(crate) fn wrong_refusal(
    name: &str,
    (status, reason): (u16, String),
    want_status: u16,
    want_reason: &str,
) -> Option<String> {
    let right = status == want_status
        && !reason.starts_with(NOT_JSON)
        && reason.to_lowercase().contains(want_reason);
    (!right).then(|| {
        let reason: String = reason.chars().take(200).collect();
        format!("{name}: {status} {reason:?}, expected {want_status} with {want_reason:?}")
    })
}

/// Whether anything was queued or stored on `node`: every handled queue's depth, the
/// twins, the events.
pub(crate) async fn stored(node: &Node) -> (u64, u64, usize) {
    let mut queued = 0;
    for q in queues::HANDLED {
        queued += node.queue.depth(q).await.unwrap().total();
    }
    let twins = node.twins.count(None).await.unwrap();
    let events = node.twins.events(None, None, 1000).await.unwrap().len();
    (queued, twins, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhook_bodies_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&demo::config(SECRET), dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let node = p.node("node-a").unwrap().clone();
    let url = format!("{}/webhooks/sandbox/sandbox-a", p.node_urls["node-a"]);
    // A connection per case, as below: a refused oversized body closes its connection.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let before = stored(&node).await;

    struct Case {
        name: &'static str,
        body: Vec<u8>,
        /// Sign the body correctly (else no signature header at all).
        signed: bool,
        status: u16,
        reason: &'static str,
    }
    let case = |name, body, status, reason| Case {
        name,
        body,
        signed: true,
        status,
        reason,
    };
    let cases = vec![
        Case {
            signed: false,
            ..case(
                "missing signature",
                bad("webhook/missing-key.json"),
                401,
                "missing header",
            )
        },
        case("not JSON", bad("webhook/not-json.txt"), 400, "malformed"),
        case("not UTF-8", bad("webhook/non-utf8.bin"), 400, "malformed"),
        case("no item key", bad("webhook/missing-key.json"), 400, "key"),
        case("empty item key", bad("webhook/empty-key.json"), 400, "key"),
        case(
            "wrong types",
            bad("webhook/wrong-types.json"),
            400,
            "invalid type",
        ),
        case(
            "null item",
            bad("webhook/null-item.json"),
            400,
            "invalid type",
        ),
        case("an array", bad("webhook/array.json"), 400, "malformed"),
        case("empty body", Vec::new(), 400, "eof"),
        // A typed payload stops at the first level that does not fit: no stack overflow.
        case(
            "10,000 nested arrays",
            deep_arrays(10_000),
            400,
            "invalid type",
        ),
        // Over axum's default body limit (2 MiB): refused before it is read whole.
        case("huge", vec![b' '; 3 << 20], 413, "length limit"),
    ];
    let mut wrong = Vec::new();
    for c in cases {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut req = http.post(&url).body(c.body.clone());
        if c.signed {
            req = req
                .header("X-Sandbox-Delivery", "d-1")
                .header("X-Sandbox-Timestamp", now.to_string())
                .header(
                    "X-Sandbox-Signature",
                    twinsync_sandbox::webhook::sign(SECRET, now, &c.body),
                );
        }
        let got = answer(req.send().await.unwrap()).await;
        wrong.extend(wrong_refusal(c.name, got, c.status, c.reason));
        assert_eq!(
            stored(&node).await,
            before,
            "{}: something was stored",
            c.name
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    p.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_admin_calls_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&demo::config(SECRET), dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let node = p.node("node-a").unwrap().clone();
    let admin = Admin::of(&p, "node-a");
    let conn = format!("/api/connections/{}", demo::CONNECTION);
    let connections_before = node.connections.list().await.unwrap();
    let stored_before = stored(&node).await;

    struct Case {
        name: &'static str,
        method: reqwest::Method,
        path: String,
        /// The raw body, sent as `application/json`.
        body: Vec<u8>,
        status: u16,
        reason: &'static str,
    }
    let post = |name, path: &str, body: &[u8], status, reason| Case {
        name,
        method: reqwest::Method::POST,
        path: path.to_string(),
        body: body.to_vec(),
        status,
        reason,
    };
    let json = |v: Value| serde_json::to_vec(&v).unwrap();
    let cases = vec![
        post(
            "malformed JSON",
            &format!("{conn}/deactivate"),
            b"{\"x\":",
            400,
            "eof",
        ),
        post(
            "not UTF-8",
            &format!("{conn}/deactivate"),
            b"{\"\xff\xfe\":1}",
            400,
            "invalid unicode",
        ),
        // Typed bodies stop at the first level that does not fit, so depth costs nothing.
        post(
            "10,000 nested arrays",
            "/api/connections/invite",
            &deep_arrays(10_000),
            422,
            "invalid type",
        ),
        post(
            "an array for an object",
            &format!("{conn}/deactivate"),
            b"[]",
            422,
            "map",
        ),
        post(
            "invite: instance is a number",
            "/api/connections/invite",
            &json(json!({"instance": 7, "target_project": "DEMO"})),
            422,
            "instance",
        ),
        post(
            "invite: no target_project",
            "/api/connections/invite",
            &json(json!({"instance": "sandbox-a"})),
            422,
            "target_project",
        ),
        post(
            "invite: unknown kind",
            "/api/connections/invite",
            &json(
                json!({"instance": "sandbox-a", "target_project": "DEMO", "kind": "carrier pigeon"}),
            ),
            422,
            "kind",
        ),
        post(
            "invite: unknown instance",
            "/api/connections/invite",
            &json(json!({"instance": "nope", "target_project": "DEMO"})),
            400,
            "unknown tracker instance \"nope\"",
        ),
        post(
            "invite: trigger does not parse",
            "/api/connections/invite",
            &json(
                json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": "project = ("}),
            ),
            400,
            "trigger",
        ),
        post(
            "accept: code is garbage",
            "/api/connections/accept",
            &json(json!({"code": "garbage", "instance": "sandbox-a", "target_project": "DEMO"})),
            400,
            "invalid invitation code",
        ),
        post(
            "accept: unknown member",
            "/api/connections/accept",
            &json(
                json!({"code": "x", "instance": "sandbox-a", "target_project": "DEMO", "secret": "x"}),
            ),
            422,
            "unknown field",
        ),
        post(
            "unknown connection",
            "/api/connections/nope/deactivate",
            b"{}",
            404,
            "nope",
        ),
        post(
            "unknown operation",
            &format!("{conn}/operations/explode"),
            b"{}",
            404,
            "explode",
        ),
        post(
            "sync without an item",
            &format!("{conn}/operations/sync"),
            b"{}",
            400,
            "needs \"item\"",
        ),
        post(
            "sync: item is a number",
            &format!("{conn}/operations/sync"),
            &json(json!({"item": 5})),
            422,
            "item",
        ),
        post(
            "draft: outgoing does not compile",
            &format!("{conn}/versions"),
            &json(json!({"outgoing": "replica.summary = ;"})),
            400,
            "line 1",
        ),
        post(
            "draft: trigger does not parse",
            &format!("{conn}/versions"),
            &json(json!({"triggers": [{"query": "labels = (sync"}]})),
            400,
            "trigger",
        ),
        post(
            "draft: cron out of range",
            &format!("{conn}/versions"),
            &json(json!({"plans": [{"cron": "61 * * * *"}]})),
            400,
            "cron",
        ),
        post(
            "draft: helper maps of the wrong type",
            &format!("{conn}/versions"),
            &json(json!({"helper_maps": {"statuses": ["Open", "Done"]}})),
            422,
            "statuses",
        ),
        post(
            "huge",
            &format!("{conn}/deactivate"),
            &[b' '; 3 << 20],
            413,
            "length limit",
        ),
        Case {
            method: reqwest::Method::GET,
            ..post("unknown twin", "/api/twins/nope", b"", 404, "nope")
        },
        Case {
            method: reqwest::Method::GET,
            ..post(
                "limit out of range",
                "/api/twins?limit=100000000",
                b"",
                400,
                "limit",
            )
        },
        Case {
            method: reqwest::Method::GET,
            ..post(
                "limit not a number",
                "/api/twins?limit=ten",
                b"",
                400,
                "limit",
            )
        },
        Case {
            method: reqwest::Method::DELETE,
            ..post(
                "delete: wrong confirmation",
                &conn,
                &json(json!({"confirm": "not the name"})),
                409,
                "confirm",
            )
        },
    ];
    // A connection per case: the server closes one whose oversized body it refused
    // unread, and a pooled client reusing it would see the next case fail to send.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut wrong = Vec::new();
    for c in cases {
        let mut req = http
            .request(c.method.clone(), format!("{}{}", admin.url, c.path))
            .bearer_auth(&admin.token);
        if !c.body.is_empty() {
            req = req
                .header("content-type", "application/json")
                .body(c.body.clone());
        }
        let resp = req.send().await.unwrap();
        let is_json = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let (status, reason) = answer(resp).await;
        if status != c.status || !reason.to_lowercase().contains(&c.reason.to_lowercase()) {
            let reason: String = reason.chars().take(200).collect();
            wrong.push(format!(
                "{}: {status} {reason:?}, expected {} with {:?}",
                c.name, c.status, c.reason
            ));
        } else if !is_json {
            wrong.push(format!("{}: the error is not JSON", c.name));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Nothing a refused call asked for happened.
    assert_eq!(node.connections.list().await.unwrap(), connections_before);
    assert_eq!(stored(&node).await, stored_before);
    assert_eq!(
        node.connection(demo::CONNECTION).await.unwrap().status,
        ConnectionStatus::Active
    );
    p.stop().await;
}
