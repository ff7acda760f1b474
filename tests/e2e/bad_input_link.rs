//! Bad input on the node-to-node endpoints (`/v1/transport`, `/v1/pull`, `/v1/pull/ack`,
//! `/v1/rotate`), correctly signed or not: a 4xx with a reason, nothing queued, stored or
//! rotated. `nodes.rs` has the transport's signature cases (no headers, wrong key, stale,
//! unknown connection, other sender, tampered, oversize) and its replay; these are the
//! bodies behind a good signature, and the other routes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::bad_input::{answer, bad, deep_arrays, deep_member, stored, wrong_refusal};
use serde_json::json;
use std::io::Write;
use twinsync_cli::demo;
use twinsync_core::{Clock, Connection, ConnectionKind, Link, Secret, SystemClock};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_security::{derive_key, sign_request};

const SECRET: &str = "bad-link-secret-0123456";
const CONN: &str = "bad-link";
const PEER: &str = "node-x";

/// A public connection on node-a to a node that is not running, so the test signs its
/// requests.
fn linked(base: &Connection, secret: &str) -> Connection {
    Connection {
        id: CONN.into(),
        name: "bad input".into(),
        remote_node: PEER.into(),
        link: Some(Link {
            peer_url: Some("http://127.0.0.1:9".into()),
            ..Link::established(ConnectionKind::Public, Secret(secret.into()))
        }),
        revision: 0,
        ..base.clone()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A replica message as JSON with `hub_issue`, for this test's connection.
fn replica(hub_issue: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "replica", "connection_id": CONN, "from_node": PEER, "source_key": "X-1",
        "source_url": "http://x/1", "target_key": null, "version": 1, "source_twin": "t",
        "hub_issue": hub_issue, "source_updated_ms": 1, "sent_ms": 1, "trace_id": "t"
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_node_to_node_requests_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&demo::config(SECRET), dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let node = p.node("node-a").unwrap().clone();
    let base_url = p.node_urls["node-a"].clone();
    let secret = twinsync_security::new_secret();
    let demo_conn = node.connection(demo::CONNECTION).await.unwrap();
    node.connections
        .insert(&linked(&demo_conn, &secret))
        .await
        .unwrap();
    let connection_before = node.connection(CONN).await.unwrap();
    let stored_before = stored(&node).await;
    let key = derive_key(&secret, CONN, PEER, "node-a");
    // A connection per request: a refused oversized body closes its connection, and a
    // pooled client reusing it would fail the next case (as the admin table did in CI).
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    /// How a case signs its request.
    enum Sign {
        /// Correctly, now.
        Good,
        /// Not at all.
        Not,
        /// Correctly, ten minutes ago.
        Stale,
    }
    struct Case {
        name: &'static str,
        path: &'static str,
        sign: Sign,
        encoding: Option<&'static str>,
        body: Vec<u8>,
        status: u16,
        reason: &'static str,
    }
    let case = |name, path, body, status, reason| Case {
        name,
        path,
        sign: Sign::Good,
        encoding: None,
        body,
        status,
        reason,
    };
    let (transport, pull, pull_ack, rotate) =
        ("/v1/transport", "/v1/pull", "/v1/pull/ack", "/v1/rotate");
    let (_, public) = twinsync_security::rotation_key().unwrap();
    let limit = node.settings.max_replica_bytes as usize;
    let cases = vec![
        // Transport: a good signature over a body that is not a message.
        case("transport: empty", transport, vec![], 400, "eof"),
        case(
            "transport: truncated",
            transport,
            replica(json!({}))[..40].to_vec(),
            400,
            "eof",
        ),
        case(
            "transport: garbage",
            transport,
            bad("link/garbage.bin"),
            400,
            "malformed body",
        ),
        case(
            "transport: not UTF-8",
            transport,
            bad("link/non-utf8.json"),
            400,
            "malformed body",
        ),
        case(
            "transport: no type",
            transport,
            br#"{"connection_id":"bad-link"}"#.to_vec(),
            400,
            "missing field `type`",
        ),
        case(
            "transport: unknown type",
            transport,
            br#"{"type":"gossip","connection_id":"bad-link"}"#.to_vec(),
            400,
            "unknown variant `gossip`",
        ),
        case(
            "transport: replica without its version",
            transport,
            bad("link/replica-no-version.json"),
            400,
            "missing field `version`",
        ),
        case(
            "transport: version is a string",
            transport,
            bad("link/replica-version-string.json"),
            400,
            "invalid type",
        ),
        case(
            "transport: for another connection",
            transport,
            bad("link/replica-other-connection.json"),
            400,
            "another connection",
        ),
        case(
            "transport: hub_issue is not an object",
            transport,
            replica(json!("a string")),
            400,
            "hub_issue",
        ),
        case(
            "transport: 10,000 nested arrays",
            transport,
            deep_arrays(10_000),
            400,
            "malformed body",
        ),
        case(
            "transport: 10,000 nested arrays in hub_issue",
            transport,
            deep_member(r#""type":"ack","connection_id":"bad-link""#, 10_000),
            400,
            "recursion limit",
        ),
        Case {
            encoding: Some("br"),
            ..case(
                "transport: unsupported encoding",
                transport,
                replica(json!({})),
                400,
                "unsupported content-encoding",
            )
        },
        Case {
            encoding: Some("gzip"),
            ..case(
                "transport: gzip that is not",
                transport,
                replica(json!({})),
                400,
                "gzip body",
            )
        },
        Case {
            encoding: Some("gzip"),
            ..case(
                "transport: gzip cut short",
                transport,
                gzip(&replica(json!({})))[..30].to_vec(),
                400,
                "gzip body",
            )
        },
        Case {
            encoding: Some("gzip"),
            ..case(
                "transport: gzip bomb",
                transport,
                gzip(&vec![b' '; limit + 1]),
                413,
                "max_replica_bytes",
            )
        },
        // Pull and its ack.
        Case {
            sign: Sign::Not,
            ..case(
                "pull: unsigned",
                pull,
                br#"{"max":1,"wait_ms":0}"#.to_vec(),
                401,
                "missing header",
            )
        },
        Case {
            sign: Sign::Stale,
            ..case(
                "pull: stale",
                pull,
                br#"{"max":1,"wait_ms":0}"#.to_vec(),
                401,
                "away from this node's clock",
            )
        },
        case(
            "pull: garbage",
            pull,
            bad("link/garbage.bin"),
            400,
            "malformed body",
        ),
        case(
            "pull: max is a string",
            pull,
            br#"{"max":"ten","wait_ms":0}"#.to_vec(),
            400,
            "invalid type",
        ),
        case(
            "pull: negative wait",
            pull,
            br#"{"max":1,"wait_ms":-5}"#.to_vec(),
            400,
            "invalid value",
        ),
        case(
            "pull ack: receipts are not a list",
            pull_ack,
            br#"{"receipts":"all of them"}"#.to_vec(),
            400,
            "invalid type",
        ),
        case(
            "pull: oversized",
            pull,
            vec![b' '; limit + 1],
            413,
            "max_replica_bytes",
        ),
        // Past what the route reads at all: refused before the signature is looked at.
        case(
            "transport: over the wire limit",
            transport,
            vec![b' '; 2 * limit],
            413,
            "length limit",
        ),
        // Rotation: nothing may change the secret but a good request.
        Case {
            sign: Sign::Not,
            ..case(
                "rotate: unsigned",
                rotate,
                serde_json::to_vec(&json!({"id": "r-1", "public": public})).unwrap(),
                401,
                "missing header",
            )
        },
        case(
            "rotate: no public key",
            rotate,
            br#"{"id":"r-2"}"#.to_vec(),
            400,
            "missing field `public`",
        ),
        case(
            "rotate: public key not hex",
            rotate,
            br#"{"id":"r-3","public":"not hex at all"}"#.to_vec(),
            400,
            "not a hex x25519 public key",
        ),
        case(
            "rotate: public key too short",
            rotate,
            br#"{"id":"r-4","public":"00ff"}"#.to_vec(),
            400,
            "not a hex x25519 public key",
        ),
        case(
            "rotate: the all-zero key",
            rotate,
            serde_json::to_vec(&json!({"id": "r-5", "public": "00".repeat(32)})).unwrap(),
            400,
            "key agreement failed",
        ),
        case(
            "rotate: garbage",
            rotate,
            bad("link/garbage.bin"),
            400,
            "malformed body",
        ),
    ];
    let mut wrong = Vec::new();
    for c in cases {
        let now = SystemClock.now_ms();
        let at = match c.sign {
            Sign::Stale => now - 600_000,
            _ => now,
        };
        let mut req = http
            .post(format!("{base_url}{}", c.path))
            .body(c.body.clone());
        if !matches!(c.sign, Sign::Not) {
            let signed = sign_request(&key, CONN, PEER, "POST", c.path, at, &c.body);
            for (k, v) in signed.pairs() {
                req = req.header(k, v);
            }
        }
        if let Some(encoding) = c.encoding {
            req = req.header("content-encoding", encoding);
        }
        let got = answer(req.send().await.unwrap()).await;
        wrong.extend(wrong_refusal(c.name, got, c.status, c.reason));
        assert_eq!(
            stored(&node).await,
            stored_before,
            "{}: something was stored",
            c.name
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(
        node.connection(CONN).await.unwrap(),
        connection_before,
        "the connection (its secret) did not change"
    );

    // A pull taken once is refused when replayed: its nonce was written down.
    let body = br#"{"max":1,"wait_ms":0}"#;
    let signed = sign_request(&key, CONN, PEER, "POST", pull, SystemClock.now_ms(), body);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let mut req = http.post(format!("{base_url}{pull}")).body(body.to_vec());
        for (k, v) in signed.pairs() {
            req = req.header(k, v);
        }
        statuses.push(answer(req.send().await.unwrap()).await);
    }
    assert_eq!(statuses[0].0, 200, "{:?}", statuses[0]);
    assert_eq!(statuses[1].0, 401, "{:?}", statuses[1]);
    assert!(statuses[1].1.contains("replay"), "{:?}", statuses[1]);
    p.stop().await;
}
