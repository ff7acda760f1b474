//! Bad webhooks get a 4xx with a clear reason and store nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use twinsync_cli::demo;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_ports::queues;

const SECRET: &str = "webhook-test-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhooks_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let p = Process::start(&demo::config(SECRET), dir.path(), ProcessOptions::default())
        .await
        .unwrap();
    let node = p.node("node-a").unwrap().clone();
    let base = p.node_urls["node-a"].clone();
    let url = format!("{base}/webhooks/sandbox/sandbox-a");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let good_body = br#"{"event":"item.updated","deliveryId":"d-1","timestamp":0,"item":{"key":"DEMO-404","project":"DEMO","version":3,"updatedMs":1}}"#;
    let sign =
        |ts: i64, body: &[u8], secret: &str| twinsync_sandbox::webhook::sign(secret, ts, body);
    let http = reqwest::Client::new();

    struct Case {
        name: &'static str,
        url: String,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        status: u16,
        reason: &'static str,
    }
    let headers = |ts: i64, sig: String| {
        vec![
            ("X-Sandbox-Delivery", "d-1".to_string()),
            ("X-Sandbox-Timestamp", ts.to_string()),
            ("X-Sandbox-Signature", sig),
        ]
    };
    let cases = vec![
        Case {
            name: "unsigned",
            url: url.clone(),
            headers: vec![],
            body: good_body.to_vec(),
            status: 401,
            reason: "missing header",
        },
        Case {
            name: "wrong secret",
            url: url.clone(),
            headers: headers(now, sign(now, good_body, "other")),
            body: good_body.to_vec(),
            status: 401,
            reason: "signature",
        },
        Case {
            name: "tampered body",
            url: url.clone(),
            headers: headers(now, sign(now, good_body, SECRET)),
            body: good_body
                .iter()
                .map(|b| if *b == b'3' { b'4' } else { *b })
                .collect(),
            status: 401,
            reason: "signature",
        },
        Case {
            name: "stale",
            url: url.clone(),
            headers: headers(now - 3600, sign(now - 3600, good_body, SECRET)),
            body: good_body.to_vec(),
            status: 401,
            reason: "window",
        },
        Case {
            name: "malformed",
            url: url.clone(),
            headers: headers(now, sign(now, b"{not json", SECRET)),
            body: b"{not json".to_vec(),
            status: 400,
            reason: "malformed",
        },
        Case {
            name: "unknown instance",
            url: format!("{base}/webhooks/sandbox/nope"),
            headers: headers(now, sign(now, good_body, SECRET)),
            body: good_body.to_vec(),
            status: 404,
            reason: "unknown tracker instance",
        },
        Case {
            name: "wrong connector",
            url: format!("{base}/webhooks/jira/sandbox-a"),
            headers: headers(now, sign(now, good_body, SECRET)),
            body: good_body.to_vec(),
            status: 400,
            reason: "not jira",
        },
    ];
    for case in cases {
        let mut req = http.post(&case.url).body(case.body.clone());
        for (k, v) in &case.headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(status, case.status, "{}: {body}", case.name);
        let reason = body["error"].as_str().unwrap_or_default().to_lowercase();
        assert!(reason.contains(case.reason), "{}: {reason}", case.name);
        let depth = node.queue.depth(queues::OUTGOING).await.unwrap();
        assert_eq!(depth.total(), 0, "{}: something was queued", case.name);
    }

    // The control: the same request, correctly signed, is accepted and queued.
    let mut req = http.post(&url).body(good_body.to_vec());
    for (k, v) in headers(now, sign(now, good_body, SECRET)) {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    p.stop().await;
}

/// A flood of correctly signed deliveries on one instance's route meets the instance's
/// limit: 429 with Retry-After, and the queue takes no more than the limit let through.
#[tokio::test]
async fn a_flood_of_deliveries_meets_the_instance_limit() {
    let dir = tempfile::tempdir().unwrap();
    let options = ProcessOptions {
        node: twinsync_node::NodeSettings {
            webhooks_per_minute: 60,
            webhook_burst: 5,
            ..Default::default()
        },
        ..ProcessOptions::default()
    };
    let p = Process::start(&demo::config(SECRET), dir.path(), options)
        .await
        .unwrap();
    let url = format!("{}/webhooks/sandbox/sandbox-a", p.node_urls["node-a"]);
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..8 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let body = format!(
            r#"{{"event":"item.updated","deliveryId":"d-{i}","timestamp":0,"item":{{"key":"DEMO-{i}","project":"DEMO","version":3,"updatedMs":1}}}}"#
        );
        let resp = http
            .post(&url)
            .header("X-Sandbox-Delivery", format!("d-{i}"))
            .header("X-Sandbox-Timestamp", now.to_string())
            .header(
                "X-Sandbox-Signature",
                twinsync_sandbox::webhook::sign(SECRET, now, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        if resp.status().as_u16() == 429 {
            assert!(resp.headers().contains_key("retry-after"));
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses[..5], [202; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    p.stop().await;
}
