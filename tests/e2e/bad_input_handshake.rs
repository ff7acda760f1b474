//! Bad input on the two node-to-node endpoints `bad_input_link.rs` leaves out: the
//! handshake that completes an invitation (`/v1/handshake`) and a Test Run's dry run
//! (`/v1/dry-run`). Each case is signed with the right key unless it says otherwise, so
//! what is refused is the body; a refusal is a 4xx with a reason, and nothing changes:
//! the invitation stays unused, nothing is queued or stored. A good request after them
//! shows the cases were refused for what they carry, not for the set-up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::bad_input::{answer, bad, deep_member, stored, wrong_refusal};
use serde_json::{Value, json};
use twinsync_cli::demo;
use twinsync_core::{
    Clock, Connection, ConnectionKind, ConnectionStatus, Link, Secret, SystemClock,
};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::link::PRODUCT_VERSION;
use twinsync_security::{derive_key, sign_request};

const INVITED: &str = "bad-invite";
const EXPIRED: &str = "bad-invite-expired";
const LINKED: &str = "bad-dry-run";
const ACCEPTOR: &str = "node-y";

/// A connection on node-a like `base`: an open invitation (`expires_ms` from now), or
/// an established link to `ACCEPTOR` when `expires_ms` is `None`.
fn connection(base: &Connection, id: &str, secret: &str, expires_ms: Option<i64>) -> Connection {
    let established = Link::established(ConnectionKind::Public, Secret(secret.into()));
    let (status, remote_node, link) = match expires_ms {
        Some(ms) => (
            ConnectionStatus::Pending,
            String::new(),
            Link {
                invitation_used: false,
                invitation_expires_ms: SystemClock.now_ms() + ms,
                ..established
            },
        ),
        None => (
            ConnectionStatus::Active,
            ACCEPTOR.to_string(),
            Link {
                peer_url: Some("http://127.0.0.1:9".into()),
                ..established
            },
        ),
    };
    Connection {
        id: id.into(),
        name: id.into(),
        remote_node,
        status,
        link: Some(link),
        revision: 0,
        ..base.clone()
    }
}

fn handshake(connection: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut hs = json!({
        "connection_id": connection, "acceptor_node": ACCEPTOR,
        "acceptor_url": "https://node-y.example", "product_version": PRODUCT_VERSION,
        "acceptor_tracker": "sandbox"
    });
    edit(&mut hs);
    serde_json::to_vec(&hs).unwrap()
}

fn dry_run(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut asked = json!({
        "connection_id": LINKED, "from_node": ACCEPTOR,
        "replicas": [{"source_key": "Y-1", "target_key": null,
                      "hub_issue": {"summary": "from y", "labels": ["sync"]}}]
    });
    edit(&mut asked);
    serde_json::to_vec(&asked).unwrap()
}

/// One request: its route, the connection whose secret signs it (none: unsigned), the
/// body, and the refusal wanted.
struct Case {
    name: &'static str,
    path: &'static str,
    signer: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    reason: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_and_dry_runs_are_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(
        &demo::config("bad-handshake-0123456"),
        dir.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let node = p.node("node-a").unwrap().clone();
    let base_url = p.node_urls["node-a"].clone();
    let secret = twinsync_security::new_secret();
    let base = node.connection(demo::CONNECTION).await.unwrap();
    for c in [
        connection(&base, INVITED, &secret, Some(3_600_000)),
        connection(&base, EXPIRED, &secret, Some(-1)),
        connection(&base, LINKED, &secret, None),
    ] {
        node.connections.insert(&c).await.unwrap();
    }
    let invited_before = node.connection(INVITED).await.unwrap();
    let stored_before = stored(&node).await;
    // A connection per request: a refused oversized body closes its connection.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let (hs, dr) = ("/v1/handshake", "/v1/dry-run");
    let case = |name, path, body, status, reason| Case {
        name,
        path,
        signer: Some(if path == hs { INVITED } else { LINKED }),
        body,
        status,
        reason,
    };
    let limit = node.settings.max_replica_bytes as usize;
    let cases = vec![
        Case {
            signer: None,
            ..case(
                "handshake: unsigned",
                hs,
                handshake(INVITED, |_| {}),
                401,
                "missing header",
            )
        },
        case("handshake: empty", hs, vec![], 400, "eof"),
        case(
            "handshake: garbage",
            hs,
            bad("link/garbage.bin"),
            400,
            "malformed body",
        ),
        case(
            "handshake: not UTF-8",
            hs,
            bad("link/non-utf8.json"),
            400,
            "malformed body",
        ),
        case(
            "handshake: no product version",
            hs,
            handshake(INVITED, |h| {
                h.as_object_mut().unwrap().remove("product_version");
            }),
            400,
            "missing field `product_version`",
        ),
        case(
            "handshake: for another connection",
            hs,
            handshake(EXPIRED, |_| {}),
            400,
            "does not match its headers",
        ),
        case(
            "handshake: another acceptor than signed",
            hs,
            handshake(INVITED, |h| h["acceptor_node"] = json!("node-z")),
            400,
            "does not match its headers",
        ),
        case(
            "handshake: acceptor URL with a query",
            hs,
            handshake(INVITED, |h| {
                h["acceptor_url"] = json!("https://node-y.example/?to=/api")
            }),
            400,
            "a query",
        ),
        case(
            "handshake: acceptor URL not http",
            hs,
            handshake(INVITED, |h| h["acceptor_url"] = json!("file:///etc/passwd")),
            400,
            "acceptor_url",
        ),
        case(
            "handshake: another major version",
            hs,
            handshake(INVITED, |h| h["product_version"] = json!("99.0.0")),
            409,
            "version mismatch",
        ),
        // The handshake has no free-form member, so deep nesting is skipped unread.
        case(
            "handshake: 10,000 nested arrays",
            hs,
            deep_member(r#""connection_id":"bad-invite""#, 10_000),
            400,
            "missing field `acceptor_node`",
        ),
        case(
            "handshake: oversized",
            hs,
            vec![b' '; limit + 1],
            413,
            "max_replica_bytes",
        ),
        Case {
            signer: Some(EXPIRED),
            ..case(
                "handshake: expired invitation",
                hs,
                handshake(EXPIRED, |_| {}),
                409,
                "expired",
            )
        },
        Case {
            signer: Some(LINKED),
            ..case(
                "handshake: invitation already used",
                hs,
                handshake(LINKED, |_| {}),
                409,
                "already used",
            )
        },
        // A dry run: what would happen, never a write.
        Case {
            signer: None,
            ..case(
                "dry run: unsigned",
                dr,
                dry_run(|_| {}),
                401,
                "missing header",
            )
        },
        case(
            "dry run: garbage",
            dr,
            bad("link/garbage.bin"),
            400,
            "malformed body",
        ),
        case(
            "dry run: replicas not a list",
            dr,
            dry_run(|d| d["replicas"] = json!("all")),
            400,
            "invalid type",
        ),
        case(
            "dry run: an unknown field in a replica",
            dr,
            dry_run(|d| d["replicas"][0]["apply"] = json!(true)),
            400,
            "unknown field `apply`",
        ),
        case(
            "dry run: for another connection",
            dr,
            dry_run(|d| d["connection_id"] = json!(INVITED)),
            409,
            "another connection",
        ),
        case(
            "dry run: from another node",
            dr,
            dry_run(|d| d["from_node"] = json!("node-z")),
            409,
            "another connection or node",
        ),
        case(
            "dry run: 10,000 nested arrays in a replica",
            dr,
            format!(
                r#"{{"connection_id":"{LINKED}","from_node":"{ACCEPTOR}","replicas":[{{"source_key":"Y-1","target_key":null,"hub_issue":{}{}}}]}}"#,
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
            400,
            "recursion limit",
        ),
        Case {
            signer: Some(INVITED),
            ..case(
                "dry run: signed for an unfinished invitation",
                dr,
                dry_run(|_| {}),
                401,
                "signature",
            )
        },
    ];
    let send = async |path: &str, signer: Option<&str>, body: &[u8]| {
        let mut req = http.post(format!("{base_url}{path}")).body(body.to_vec());
        if let Some(conn) = signer {
            let key = derive_key(&secret, conn, ACCEPTOR, "node-a");
            let signed = sign_request(
                &key,
                conn,
                ACCEPTOR,
                "POST",
                path,
                SystemClock.now_ms(),
                body,
            );
            for (k, v) in signed.pairs() {
                req = req.header(k, v);
            }
        }
        answer(req.send().await.unwrap()).await
    };
    let mut wrong = Vec::new();
    for c in cases {
        let got = send(c.path, c.signer, &c.body).await;
        wrong.extend(wrong_refusal(c.name, got, c.status, c.reason));
        assert_eq!(
            stored(&node).await,
            stored_before,
            "{}: something was stored",
            c.name
        );
        assert_eq!(
            node.connection(INVITED).await.unwrap(),
            invited_before,
            "{}: the invitation changed",
            c.name
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The good requests pass, so the refusals above were for what the cases carried.
    let (status, reason) = send(dr, Some(LINKED), &dry_run(|_| {})).await;
    assert_eq!(status, 200, "{reason}");
    assert_eq!(
        stored(&node).await,
        stored_before,
        "a dry run stored something"
    );
    let good = handshake(INVITED, |_| {});
    let (status, reason) = send(hs, Some(INVITED), &good).await;
    assert_eq!(status, 200, "{reason}");
    let joined = node.connection(INVITED).await.unwrap();
    assert_eq!(
        (joined.status, joined.remote_node.as_str()),
        (ConnectionStatus::Active, ACCEPTOR)
    );
    // The code is used up: the same handshake again is refused.
    let again = send(hs, Some(INVITED), &good).await;
    assert!(
        matches!(again.0, 401 | 409),
        "a second handshake: {again:?}"
    );
    p.stop().await;
}
