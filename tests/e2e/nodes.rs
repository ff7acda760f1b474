//! Two nodes in two processes: invitation, acceptance, signed transport both ways, and
//! refused node-to-node requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use serde_json::json;
use std::time::Duration;
use twinsync_cli::demo;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_local::quiet::wait_quiet;
use twinsync_node::config::{
    InstanceSection, NodeSection, ProcessConfig, ProjectSection, SandboxSection,
};
use twinsync_ports::queues;
use twinsync_security::{derive_key, sign_request};

use crate::support::{Admin, until};

/// A process with one sandbox tracker and one node on it, with no connection.
pub(crate) fn config(node: &str, sandbox: &str, project: &str) -> ProcessConfig {
    ProcessConfig {
        sandbox: vec![SandboxSection {
            id: sandbox.into(),
            listen: "127.0.0.1:0".into(),
            db: None,
            token: None,
            projects: vec![ProjectSection {
                key: project.into(),
                name: project.into(),
                statuses: None,
                priorities: None,
            }],
            budget: None,
        }],
        node: vec![NodeSection {
            id: node.into(),
            data_dir: node.into(),
            listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            poll_interval_ms: 5_000,
            instance: vec![InstanceSection {
                id: format!("sandbox-{sandbox}"),
                connector: twinsync_core::ConnectorKind::Sandbox,
                base_url: format!("sandbox:{sandbox}"),
                webhook_secret: format!("secret-of-{sandbox}-0123456789"),
                register_webhook: true,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invite_accept_and_sync_over_signed_http() {
    let (da, db, dc) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let pa = Process::start(
        &config("node-a", "a", "DEMO"),
        da.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let pb = Process::start(
        &config("node-b", "b", "SUPPORT"),
        db.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let (url_a, url_b) = (
        pa.node_urls["node-a"].clone(),
        pb.node_urls["node-b"].clone(),
    );
    let (admin_a, admin_b) = (Admin::of(&pa, "node-a"), Admin::of(&pb, "node-b"));

    let (status, invited) = admin_a.post(
        "/api/connections/invite",
        json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": "labels = sync", "name": "A to B"}),
    )
    .await;
    assert_eq!(status, 201, "{invited}");
    let code = invited["code"].as_str().unwrap().to_string();
    let conn = invited["connection"].as_str().unwrap().to_string();
    let listed = admin_a.get("/api/connections").await;
    assert_eq!(listed[0]["status"], "Pending");
    let secret_a = pa.nodes[0]
        .connection(&conn)
        .await
        .unwrap()
        .link
        .unwrap()
        .secret
        .0;
    assert!(listed.to_string().contains("\"link\""));
    assert!(
        !listed.to_string().contains(&secret_a),
        "the admin API never shows the secret"
    );
    let one = admin_a.get(&format!("/api/connections/{conn}")).await;
    assert!(!one.to_string().contains(&secret_a));

    // A code whose node URL carries a query (it would steer this node's requests to
    // other routes of the inviter) is refused before anything is sent.
    let mut steering = twinsync_security::Invitation::decode(&code, 0).unwrap();
    steering.node_url = format!("{url_a}/api/connections?x=");
    let (status, body) = admin_b
        .post(
            "/api/connections/accept",
            json!({"code": steering.encode(), "instance": "sandbox-b", "target_project": "SUPPORT"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("a query"), "{body}");
    // Bad codes are refused clearly.
    for (bad, want) in [
        ("tsinv1.abc", "truncated"),
        ("", "empty"),
        (&code.replacen("tsinv1", "tsinv7", 1)[..], "version"),
    ] {
        let (status, body) = admin_b
            .post(
                "/api/connections/accept",
                json!({"code": bad, "instance": "sandbox-b", "target_project": "SUPPORT"}),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(want),
            "{bad}: {body}"
        );
    }

    let (status, accepted) = admin_b
        .post(
            "/api/connections/accept",
            json!({"code": code, "instance": "sandbox-b", "target_project": "SUPPORT"}),
        )
        .await;
    assert_eq!(status, 201, "{accepted}");
    assert_eq!(accepted["remote_node"], "node-a");
    let on_a = pa.nodes[0].connection(&conn).await.unwrap();
    assert_eq!(on_a.status, twinsync_core::ConnectionStatus::Active);
    assert_eq!(on_a.remote_node, "node-b");

    // A handshake from a node of another major version is refused with a clear reason.
    {
        let dx = tempfile::tempdir().unwrap();
        let px = Process::start(
            &config("node-x", "x", "X"),
            dx.path(),
            ProcessOptions::default(),
        )
        .await
        .unwrap();
        let (_, inv) = admin_a
            .post(
                "/api/connections/invite",
                json!({"instance": "sandbox-a", "target_project": "DEMO"}),
            )
            .await;
        let invitation =
            twinsync_security::Invitation::decode(inv["code"].as_str().unwrap(), 0).unwrap();
        assert!(
            invitation.tracker_url.starts_with("http://127.0.0.1:"),
            "{}",
            invitation.tracker_url
        );
        let body = serde_json::to_vec(&json!({"connection_id": invitation.connection_id, "acceptor_node": "node-x", "acceptor_url": px.node_urls["node-x"], "product_version": "9.0.0"})).unwrap();
        let key = derive_key(
            &invitation.secret,
            &invitation.connection_id,
            "node-x",
            "node-a",
        );
        let now = twinsync_core::Clock::now_ms(&twinsync_core::SystemClock);
        let signed = sign_request(
            &key,
            &invitation.connection_id,
            "node-x",
            "POST",
            "/v1/handshake",
            now,
            &body,
        );
        let mut r = reqwest::Client::new()
            .post(format!("{url_a}/v1/handshake"))
            .body(body);
        for (k, v) in signed.pairs() {
            r = r.header(k, v);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 409);
        assert!(resp.text().await.unwrap().contains("version mismatch"));
        px.stop().await;
    }

    // The code works once: a third node is refused by the initiator.
    let pc = Process::start(
        &config("node-c", "c", "OPS"),
        dc.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let (status, body) = Admin::of(&pc, "node-c")
        .post(
            "/api/connections/accept",
            json!({"code": code, "instance": "sandbox-c", "target_project": "OPS"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    pc.stop().await;

    // Items flow A -> B over HTTP, and an edit on B flows back.
    let http = reqwest::Client::new();
    let mut keys = Vec::new();
    for i in 0..5 {
        keys.push(
            demo::create_item(
                &http,
                &pa.sandbox_urls["a"],
                demo::item_body("DEMO", i, "sync"),
            )
            .await
            .unwrap(),
        );
    }
    let nodes = vec![pa.nodes[0].clone(), pb.nodes[0].clone()];
    let webhooks = [pa.webhooks(), pb.webhooks()].concat();
    assert!(wait_quiet(&nodes, &webhooks, Duration::from_secs(60)).await);
    let a = pa.nodes[0].tracker("sandbox-a").unwrap();
    let b = pb.nodes[0].tracker("sandbox-b").unwrap();
    let mut pairs = Vec::new();
    for key in &keys {
        let twin = pa.nodes[0]
            .twins
            .find_by_local(&conn, key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(twin.status, twinsync_core::TwinStatus::Synced, "{key}");
        pairs.push((key.clone(), twin.remote_key.unwrap()));
    }
    b.update_item(
        &pairs[0].1,
        &twinsync_core::ItemUpdate {
            status: Some("Done".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(wait_quiet(&nodes, &webhooks, Duration::from_secs(60)).await);
    assert_eq!(
        a.get_item(&keys[0]).await.unwrap().unwrap().status_name(),
        Some("Done")
    );
    for (ka, kb) in &pairs {
        let (ia, ib) = (
            a.get_item(ka).await.unwrap().unwrap(),
            b.get_item(kb).await.unwrap().unwrap(),
        );
        assert_eq!(
            (ia.summary, ia.comments.len()),
            (ib.summary, ib.comments.len())
        );
    }

    // Rotate the secret: both sides move to the same new secret, a message signed with the
    // old one (in flight during the rotation) is still accepted, and sync goes on.
    let old_secret = pb.nodes[0]
        .connection(&conn)
        .await
        .unwrap()
        .link
        .unwrap()
        .secret
        .0;
    let (status, body) = admin_a
        .post(&format!("/api/connections/{conn}/rotate-secret"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (sa, sb) = (
        pa.nodes[0]
            .connection(&conn)
            .await
            .unwrap()
            .link
            .unwrap()
            .secret
            .0,
        pb.nodes[0]
            .connection(&conn)
            .await
            .unwrap()
            .link
            .unwrap()
            .secret
            .0,
    );
    assert_eq!(sa, sb);
    assert_ne!(sa, old_secret);
    // Neither secret is in any API answer; the old one is accepted for a while.
    for path in [
        "/api/connections".to_string(),
        format!("/api/connections/{conn}"),
    ] {
        let shown = format!("{}{}", admin_a.get(&path).await, admin_b.get(&path).await);
        assert!(
            !shown.contains(&sa) && !shown.contains(&old_secret),
            "{path}: {shown}"
        );
    }
    let view = admin_b.get(&format!("/api/connections/{conn}")).await;
    assert!(
        view["link"]["old_secret_accepted_until_ms"]
            .as_i64()
            .unwrap()
            > 0
    );
    let in_flight = sign_request(
        &derive_key(&old_secret, &conn, "node-a", "node-b"),
        &conn,
        "node-a",
        "POST",
        "/v1/transport",
        twinsync_core::Clock::now_ms(&twinsync_core::SystemClock),
        b"{}",
    );
    let mut r = reqwest::Client::new()
        .post(format!("{url_b}/v1/transport"))
        .body("{}");
    for (k, v) in in_flight.pairs() {
        r = r.header(k, v);
    }
    let resp = r.send().await.unwrap();
    assert_eq!(
        resp.status().as_u16(),
        400,
        "old-key signature verified; the body is what is wrong"
    );
    b.update_item(
        &pairs[1].1,
        &twinsync_core::ItemUpdate {
            summary: Some("after rotation".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(wait_quiet(&nodes, &webhooks, Duration::from_secs(60)).await);
    assert_eq!(
        a.get_item(&keys[1]).await.unwrap().unwrap().summary,
        "after rotation"
    );
    // A rotation request repeated (its answer was lost) gets the same answer and changes
    // nothing more; the answer is signed for the request.
    let (_, public) = twinsync_security::rotation_key().unwrap();
    let rotation =
        serde_json::to_vec(&json!({"id": "rotation-repeated", "public": public})).unwrap();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let signed = sign_request(
            &derive_key(&sa, &conn, "node-a", "node-b"),
            &conn,
            "node-a",
            "POST",
            "/v1/rotate",
            twinsync_core::Clock::now_ms(&twinsync_core::SystemClock),
            &rotation,
        );
        let mut r = reqwest::Client::new()
            .post(format!("{url_b}/v1/rotate"))
            .body(rotation.clone());
        for (k, v) in signed.pairs() {
            r = r.header(k, v);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert!(resp.headers().contains_key("x-twinsync-signature"));
        let answer: serde_json::Value = resp.json().await.unwrap();
        answers.push((
            answer["public"].as_str().unwrap().to_string(),
            pb.nodes[0]
                .connection(&conn)
                .await
                .unwrap()
                .link
                .unwrap()
                .secret
                .0,
        ));
    }
    assert_eq!(
        answers[0], answers[1],
        "the repeat is answered, not applied again"
    );
    // Put B back on the secret A has, as a completed rotation would have.
    let mut on_b = pb.nodes[0].connection(&conn).await.unwrap();
    if let Some(link) = on_b.link.as_mut() {
        link.secret = twinsync_core::Secret(sa.clone());
    }
    pb.nodes[0].connections.update(&on_b).await.unwrap();

    // Refused transport requests: 4xx with a reason, nothing queued on B.
    let secret = pb.nodes[0]
        .connection(&conn)
        .await
        .unwrap()
        .link
        .unwrap()
        .secret
        .0;
    let key = derive_key(&secret, &conn, "node-a", "node-b");
    let now = twinsync_core::Clock::now_ms(&twinsync_core::SystemClock);
    let body = serde_json::to_vec(&json!({"type": "ack", "connection_id": conn, "from_node": "node-a", "source_key": "X", "target_key": null, "target_url": null, "applied_version": 1, "comment_links": [], "remote_view": null, "remote_out_version": 0, "error": null, "trace_id": "t"})).unwrap();
    let good = sign_request(&key, &conn, "node-a", "POST", "/v1/transport", now, &body);
    let send = |headers: Vec<(&'static str, String)>, body: Vec<u8>| {
        let url = format!("{url_b}/v1/transport");
        async move {
            let mut r = reqwest::Client::new().post(url).body(body);
            for (k, v) in headers {
                r = r.header(k, v);
            }
            let resp = r.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let with = |f: &dyn Fn(&mut twinsync_security::SignedHeaders)| {
        let mut h = good.clone();
        f(&mut h);
        h.pairs().to_vec()
    };
    let wrong_key = derive_key(&secret, &conn, "node-b", "node-a");
    let stale = sign_request(
        &key,
        &conn,
        "node-a",
        "POST",
        "/v1/transport",
        now - 600_000,
        &body,
    );
    let cases: Vec<(&str, Vec<(&'static str, String)>, Vec<u8>, u16, &str)> = vec![
        ("no headers", vec![], body.clone(), 401, "missing header"),
        (
            "wrong key",
            sign_request(
                &wrong_key,
                &conn,
                "node-a",
                "POST",
                "/v1/transport",
                now,
                &body,
            )
            .pairs()
            .to_vec(),
            body.clone(),
            401,
            "signature",
        ),
        (
            "stale",
            stale.pairs().to_vec(),
            body.clone(),
            401,
            "away from this node's clock",
        ),
        (
            "unknown connection",
            with(&|h| h.connection_id = "nope".into()),
            body.clone(),
            404,
            "unknown connection",
        ),
        (
            "other sender",
            with(&|h| h.node = "node-z".into()),
            body.clone(),
            401,
            "signature",
        ),
        (
            "tampered body",
            good.pairs().to_vec(),
            b"{}".to_vec(),
            401,
            "signature",
        ),
        (
            "oversize",
            good.pairs().to_vec(),
            vec![b' '; (1 << 20) + 10],
            413,
            "",
        ),
    ];
    let depth_before = pb.nodes[0]
        .queue
        .depth(queues::INCOMING)
        .await
        .unwrap()
        .total();
    for (name, headers, b, status, reason) in cases {
        let (got, text) = send(headers, b).await;
        assert_eq!(got, status, "{name}: {text}");
        assert!(text.contains(reason), "{name}: {text}");
    }
    assert_eq!(
        pb.nodes[0]
            .queue
            .depth(queues::INCOMING)
            .await
            .unwrap()
            .total(),
        depth_before,
        "nothing queued"
    );
    // A delivery is held to a tighter window than other signed requests (no nonce is
    // written down for it): signed 150 s ago, it is refused.
    let late = sign_request(
        &key,
        &conn,
        "node-a",
        "POST",
        "/v1/transport",
        now - 150_000,
        &body,
    );
    let (got, text) = send(late.pairs().to_vec(), body.clone()).await;
    assert_eq!(got, 401, "{text}");
    assert!(text.contains("away from this node's clock"), "{text}");
    // The correctly signed request passes; its replay is taken and dropped by the queue's
    // deduplication: one message. (Paused on B, so the message waits in the held queue
    // where nothing consumes it while it is counted.)
    let mut paused = pb.nodes[0].connection(&conn).await.unwrap();
    paused.status = twinsync_core::ConnectionStatus::Deactivated;
    pb.nodes[0].connections.update(&paused).await.unwrap();
    let held = queues::held(&conn);
    for _ in 0..2 {
        let (got, text) = send(good.pairs().to_vec(), body.clone()).await;
        assert_eq!(got, 202, "{text}");
    }
    assert_eq!(
        pb.nodes[0].queue.depth(&held).await.unwrap().total(),
        1,
        "the replay is deduplicated"
    );

    pa.stop().await;
    pb.stop().await;
}

async fn status_of(p: &Process, conn: &str) -> twinsync_core::ConnectionStatus {
    p.nodes[0].connection(conn).await.unwrap().status
}

/// Deactivate, change many items while paused, activate: every change arrives, in order,
/// once. Then the remote node dies: the connection goes to Error and recovers by itself.
/// `TWINSYNC_PAUSED_CHANGES` scales the paused part (100 by default, 1,000 with
/// `scripts/test --full`; a closing note once ran 10,000).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paused_changes_resume_in_order_and_outages_recover() {
    let n: usize = std::env::var("TWINSYNC_PAUSED_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let options = ProcessOptions {
        node: twinsync_node::NodeSettings {
            error_after_failures: 3,
            backoff_max_ms: 2_000,
            ..Default::default()
        },
        ..ProcessOptions::default()
    };
    let pa = Process::start(&config("node-a", "a", "DEMO"), da.path(), options.clone())
        .await
        .unwrap();
    let mut cfg_b = config("node-b", "b", "SUPPORT");
    // Node B comes back on the same port after the outage below.
    let port_b = twinsync_fakes::ports::reserve_port().unwrap();
    cfg_b.node[0].listen = format!("127.0.0.1:{}", port_b.port());
    cfg_b.sandbox[0].db = Some("sandbox-b.db".into());
    let pb = Process::start(&cfg_b, db.path(), options.clone())
        .await
        .unwrap();
    let (admin_a, admin_b) = (Admin::of(&pa, "node-a"), Admin::of(&pb, "node-b"));
    let (_, invited) = admin_a
        .post(
            "/api/connections/invite",
            json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": "labels = sync"}),
        )
        .await;
    let conn = invited["connection"].as_str().unwrap().to_string();
    let (status, _) = admin_b
        .post(
            "/api/connections/accept",
            json!({"code": invited["code"], "instance": "sandbox-b", "target_project": "SUPPORT"}),
        )
        .await;
    assert_eq!(status, 201);

    // Pause on A, then create and edit items: A keeps every change.
    let (status, _) = admin_a
        .post(&format!("/api/connections/{conn}/deactivate"), json!({}))
        .await;
    assert_eq!(status, 200);
    let http = reqwest::Client::new();
    let a = pa.nodes[0].tracker("sandbox-a").unwrap();
    let mut keys = Vec::new();
    for i in 0..n {
        keys.push(
            demo::create_item(
                &http,
                &pa.sandbox_urls["a"],
                demo::item_body("DEMO", i, "sync"),
            )
            .await
            .unwrap(),
        );
    }
    for (i, key) in keys.iter().enumerate() {
        let update = twinsync_core::ItemUpdate {
            summary: Some(format!("final summary {i}")),
            ..Default::default()
        };
        a.update_item(key, &update).await.unwrap();
    }
    let nodes = vec![pa.nodes[0].clone(), pb.nodes[0].clone()];
    let webhooks = [pa.webhooks(), pb.webhooks()].concat();
    assert!(wait_quiet(&nodes, &webhooks, Duration::from_secs(600)).await);
    let held = pa.nodes[0]
        .queue
        .depth(&queues::held(&conn))
        .await
        .unwrap()
        .total();
    assert!(held as usize >= n, "{held} held for {n} items");
    let b = pb.nodes[0].tracker("sandbox-b").unwrap();
    assert!(
        b.search_updated("", 0, None)
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing left A while paused"
    );

    let started = std::time::Instant::now();
    let (status, resumed) = admin_a
        .post(&format!("/api/connections/{conn}/activate"), json!({}))
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert!(wait_quiet(&nodes, &webhooks, Duration::from_secs(1_200)).await);
    println!(
        "drained {held} held changes for {n} items in {} ms",
        started.elapsed().as_millis()
    );
    let pairing = demo::pair_up_on(a.as_ref(), b.as_ref(), &conn)
        .await
        .unwrap();
    assert_eq!(pairing.a_to_b, n);
    assert_eq!(pairing.duplicates, 0);
    for (ka, kb) in &pairing.pairs {
        let (ia, ib) = (
            a.get_item(ka).await.unwrap().unwrap(),
            b.get_item(kb).await.unwrap().unwrap(),
        );
        assert!(
            ib.summary.starts_with("final summary"),
            "the last change wins: {}",
            ib.summary
        );
        assert_eq!(ia.summary, ib.summary);
    }

    // B dies: A's deliveries fail, the connection goes to Error with the reason.
    pb.kill().await;
    let late = demo::create_item(
        &http,
        &pa.sandbox_urls["a"],
        demo::item_body("DEMO", 90_000, "sync"),
    )
    .await
    .unwrap();
    let mut saw_error = false;
    for _ in 0..300 {
        if status_of(&pa, &conn).await == twinsync_core::ConnectionStatus::Error {
            saw_error = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_error, "connection did not go to Error");
    let reason = pa.nodes[0]
        .connection(&conn)
        .await
        .unwrap()
        .status_reason
        .unwrap_or_default();
    assert!(reason.contains("unreachable"), "{reason}");

    // B comes back on the same address and files: A returns to Active by itself.
    let pb = Process::start(&cfg_b, db.path(), options).await.unwrap();
    let nodes = vec![pa.nodes[0].clone(), pb.nodes[0].clone()];
    let webhooks = [pa.webhooks(), pb.webhooks()].concat();
    let mut recovered = false;
    for _ in 0..300 {
        if status_of(&pa, &conn).await == twinsync_core::ConnectionStatus::Active {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "connection did not return to Active");
    assert!(wait_quiet(&nodes, &webhooks, Duration::from_secs(60)).await);
    let twin = pa.nodes[0]
        .twins
        .find_by_local(&conn, &late)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(twin.status, twinsync_core::TwinStatus::Synced);
    pa.stop().await;
    pb.stop().await;
}

/// A private connection: B cannot be reached, so it pulls its messages from A and posts
/// its own. Same signatures, same exactly-once outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_node_pulls_its_messages() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pa = Process::start(
        &config("node-a", "a", "DEMO"),
        da.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let pb = Process::start(
        &config("node-b", "b", "SUPPORT"),
        db.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let (admin_a, admin_b) = (Admin::of(&pa, "node-a"), Admin::of(&pb, "node-b"));
    let (status, invited) = admin_a.post(
        "/api/connections/invite",
        json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": "labels = sync", "kind": "private"}),
    )
    .await;
    assert_eq!(status, 201, "{invited}");
    let conn = invited["connection"].as_str().unwrap().to_string();
    let (status, body) = admin_b.post(
        "/api/connections/accept",
        json!({"code": invited["code"], "instance": "sandbox-b", "target_project": "SUPPORT", "trigger": "labels = escalate"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let link_a = pa.nodes[0].connection(&conn).await.unwrap().link.unwrap();
    assert_eq!(link_a.peer_url, None, "A never learns an address for B");
    assert!(
        pb.nodes[0]
            .connection(&conn)
            .await
            .unwrap()
            .link
            .unwrap()
            .pulls
    );

    let http = reqwest::Client::new();
    let ka = demo::create_item(
        &http,
        &pa.sandbox_urls["a"],
        demo::item_body("DEMO", 1, "sync"),
    )
    .await
    .unwrap();
    let mut body_b = demo::item_body("SUPPORT", 2, "escalate");
    body_b["status"] = json!("Open");
    let kb = demo::create_item(&http, &pb.sandbox_urls["b"], body_b)
        .await
        .unwrap();
    let nodes = vec![pa.nodes[0].clone(), pb.nodes[0].clone()];
    let webhooks = [pa.webhooks(), pb.webhooks()].concat();
    let a = pa.nodes[0].tracker("sandbox-a").unwrap();
    let b = pb.nodes[0].tracker("sandbox-b").unwrap();
    let mut synced = false;
    for _ in 0..200 {
        let ta = pa.nodes[0].twins.find_by_local(&conn, &ka).await.unwrap();
        let tb = pb.nodes[0].twins.find_by_local(&conn, &kb).await.unwrap();
        if ta.is_some_and(|t| t.status == twinsync_core::TwinStatus::Synced)
            && tb.is_some_and(|t| t.status == twinsync_core::TwinStatus::Synced)
        {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(synced, "both items synced through a pulling node");
    assert!(wait_quiet(&nodes, &webhooks, Duration::from_secs(30)).await);
    let pairing = demo::pair_up_on(a.as_ref(), b.as_ref(), &conn)
        .await
        .unwrap();
    assert_eq!(
        (pairing.a_to_b, pairing.b_to_a, pairing.duplicates),
        (1, 1, 0)
    );
    let outbox = pa.nodes[0]
        .queue
        .depth(&queues::outbox(&conn))
        .await
        .unwrap();
    assert_eq!(outbox.total(), 0, "everything pulled and acknowledged");

    // A message of another connection in this connection's outbox is refused by the puller
    // (a peer cannot reach other connections' twins through its own), and an answer not
    // signed by the peer for this very pull is refused whole.
    let foreign = json!({
        "type": "replica", "connection_id": "conn-someone-else", "from_node": "node-a",
        "source_key": "DEMO-666", "source_url": "http://x/DEMO-666", "target_key": null,
        "version": 1, "source_twin": "t", "hub_issue": {}, "source_updated_ms": 0,
        "sent_ms": 0, "trace_id": "t"
    });
    pa.nodes[0]
        .queue
        .send(
            &queues::outbox(&conn),
            twinsync_ports::NewMessage {
                group_id: "foreign".into(),
                dedup_id: "foreign-1".into(),
                body: foreign.to_string(),
            },
        )
        .await
        .unwrap();
    let on_b = pb.nodes[0].connection(&conn).await.unwrap();
    // B's own pull loop may take it first; either way it is refused and said so.
    twinsync_node::link::pull_once(&pb.nodes[0], &on_b, 0)
        .await
        .unwrap();
    let node_b = pb.nodes[0].clone();
    let conn_b = conn.clone();
    until("the foreign message refused", 30, async || {
        node_b
            .twins
            .events(Some(&conn_b), None, 100)
            .await
            .unwrap()
            .iter()
            .any(|e| e.detail.contains("conn-someone-else") && e.detail.contains("refused"))
    })
    .await;

    assert!(
        pb.nodes[0]
            .twins
            .find_by_remote(&conn, "DEMO-666")
            .await
            .unwrap()
            .is_none(),
        "nothing of the foreign message was applied"
    );
    let impostor = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let impostor_url = format!("http://{}", impostor.local_addr().unwrap());
    let unsigned = axum::Router::new().route(
        "/v1/pull",
        axum::routing::post(|| async { axum::Json(json!([])) }),
    );
    tokio::spawn(async move { axum::serve(impostor, unsigned).await });
    let mut misled = on_b.clone();
    if let Some(link) = misled.link.as_mut() {
        link.peer_url = Some(impostor_url);
    }
    let err = twinsync_node::link::pull_once(&pb.nodes[0], &misled, 0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not the peer's"), "{err}");

    // Delete needs a confirmation, then removes the connection and its twins' sync info.
    let path = format!("/api/connections/{conn}");
    let (status, body) = admin_a
        .call(reqwest::Method::DELETE, &path, Some(json!({})))
        .await;
    assert_eq!(
        status, 409,
        "no confirmation is a conflict with the connection's id"
    );
    assert!(body.to_string().contains("confirm"), "{body}");
    let (status, body) = admin_a
        .call(
            reqwest::Method::DELETE,
            &path,
            Some(json!({"confirm": conn})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["twins_removed"], 2);
    assert!(pa.nodes[0].connections.get(&conn).await.unwrap().is_none());
    assert_eq!(pa.nodes[0].twins.count(Some(&conn)).await.unwrap(), 0);
    pa.stop().await;
    pb.stop().await;
}
