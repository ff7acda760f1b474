//! The connectors speak HTTPS: a fake tracker served over TLS with a certificate from a CA
//! made at test time is reached by a connector whose `ca_file` names that CA, and refused,
//! with a reason that says so, by one that trusts another CA or only the platform's roots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::Path;
use twinsync_cli::demo;
use twinsync_core::{ConnectorKind, Item};
use twinsync_fakes::github::FakeGithub;
use twinsync_fakes::jira::FakeJira;
use twinsync_github::{GithubConfig, GithubTracker};
use twinsync_jira::{JiraConfig, JiraTracker};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::config::{
    InstanceSection, NodeSection, ProcessConfig, ProjectSection, SandboxSection, TlsSection,
};
use twinsync_ports::Tracker;
use twinsync_tls::Transport;
use twinsync_tls::test_ca::TestCa;

use crate::support::{Admin, synced_twins, until};

const REPO: &str = "octo/demo";
const GITHUB_TOKEN: &str = "github_pat_test";
const EMAIL: &str = "bot@example.com";
const JIRA_TOKEN: &str = "jira-token";

fn item() -> Item {
    Item {
        summary: "Checkout fails over TLS".into(),
        description: "Seen on **staging**.".into(),
        ..Item::default()
    }
}

async fn github(ca: &TestCa) -> FakeGithub {
    let options = twinsync_fakes::github::FakeOptions {
        tokens: vec![(GITHUB_TOKEN.into(), "twinsync-bot".into())],
        repos: vec![REPO.into()],
        ..Default::default()
    };
    FakeGithub::start_on("127.0.0.1:0", options, Transport::Tls(ca.loopback_server()))
        .await
        .unwrap()
}

async fn jira(ca: &TestCa) -> FakeJira {
    let options = twinsync_fakes::jira::FakeOptions {
        projects: vec!["DEMO".into()],
        accounts: vec![(EMAIL.into(), "twinsync bot".into())],
        api_tokens: vec![(JIRA_TOKEN.into(), EMAIL.into())],
        oauth_tokens: vec![],
        custom_fields: vec![],
        webhook_secret: "jira-secret".into(),
        every_nth_429: 0,
        ..Default::default()
    };
    FakeJira::start_on("127.0.0.1:0", options, Transport::Tls(ca.loopback_server()))
        .await
        .unwrap()
}

fn github_tracker(url: &str, ca_file: Option<&Path>) -> GithubTracker {
    let mut config = GithubConfig::with_token(url, REPO, GITHUB_TOKEN);
    config.ca_file = ca_file.map(Path::to_path_buf);
    GithubTracker::new("gh", config).unwrap()
}

fn jira_tracker(url: &str, ca_file: Option<&Path>) -> JiraTracker {
    let mut config = JiraConfig::basic(url, "DEMO", EMAIL, JIRA_TOKEN);
    config.ca_file = ca_file.map(Path::to_path_buf);
    JiraTracker::new("jira", config).unwrap()
}

/// Which CA the connector trusts, and whether it gets through.
enum Trust {
    TheServersCa,
    AnotherCa,
    PlatformRootsOnly,
}

#[tokio::test]
async fn connectors_reach_https_trackers_only_through_a_trusted_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("tracker CA");
    let ca_file = ca.write_ca(dir.path());
    let other_dir = tempfile::tempdir().unwrap();
    let other_file = TestCa::new("someone else's CA").write_ca(other_dir.path());
    let (gh, jr) = (github(&ca).await, jira(&ca).await);
    assert!(gh.url.starts_with("https://") && jr.url.starts_with("https://"));

    for trust in [
        Trust::TheServersCa,
        Trust::AnotherCa,
        Trust::PlatformRootsOnly,
    ] {
        let file = match trust {
            Trust::TheServersCa => Some(ca_file.as_path()),
            Trust::AnotherCa => Some(other_file.as_path()),
            Trust::PlatformRootsOnly => None,
        };
        let trackers: [(&str, Box<dyn Tracker>, &str); 2] = [
            ("GitHub", Box::new(github_tracker(&gh.url, file)), REPO),
            ("Jira", Box::new(jira_tracker(&jr.url, file)), "DEMO"),
        ];
        for (vendor, tracker, project) in trackers {
            let created = tracker
                .create_item(project, &item(), "twinsync:c:A-1")
                .await;
            match (&trust, created) {
                (Trust::TheServersCa, Ok(created)) => {
                    let read = tracker.get_item(&created.key).await.unwrap().unwrap();
                    assert_eq!(read.summary, "Checkout fails over TLS", "{vendor}");
                }
                (Trust::TheServersCa, Err(e)) => panic!("{vendor} over HTTPS failed: {e}"),
                (_, Ok(_)) => panic!("{vendor}: an untrusted certificate was accepted"),
                (_, Err(e)) => {
                    let text = e.to_string();
                    assert!(
                        text.contains("certificate") && text.contains("UnknownIssuer"),
                        "{vendor}: the error should say the certificate's issuer is unknown: {text}"
                    );
                }
            }
        }
    }
}

/// A node whose public listener speaks HTTPS with a certificate from `ca`, trusting `ca`
/// when it calls other nodes. Its sandbox is polled (the sandbox's webhook sender does not
/// trust the test CA).
pub(crate) fn node_config(
    node: &str,
    sandbox: &str,
    project: &str,
    dir: &Path,
    ca: &TestCa,
) -> ProcessConfig {
    let (cert, key) = ca.server_pem(&["localhost", "127.0.0.1"]);
    std::fs::write(dir.join("node.crt"), cert).unwrap();
    std::fs::write(dir.join("node.key"), key).unwrap();
    let ca_file = ca.write_ca(dir);
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
            ca_file: Some(ca_file),
            tls: Some(TlsSection {
                cert_file: "node.crt".into(),
                key_file: "node.key".into(),
            }),
            id: node.into(),
            data_dir: node.into(),
            listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            poll_interval_ms: 300,
            instance: vec![InstanceSection {
                id: format!("sandbox-{sandbox}"),
                connector: ConnectorKind::Sandbox,
                base_url: format!("sandbox:{sandbox}"),
                webhook_secret: format!("secret-of-{sandbox}-0123456789"),
                register_webhook: false,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_invite_accept_and_sync_over_https() {
    let ca = TestCa::new("nodes CA");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let pa = Process::start(
        &node_config("node-a", "a", "DEMO", da.path(), &ca),
        da.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    let pb = Process::start(
        &node_config("node-b", "b", "SUPPORT", db.path(), &ca),
        db.path(),
        ProcessOptions::default(),
    )
    .await
    .unwrap();
    assert!(pa.node_urls["node-a"].starts_with("https://"));
    assert!(pb.node_urls["node-b"].starts_with("https://"));
    let (admin_a, admin_b) = (Admin::of(&pa, "node-a"), Admin::of(&pb, "node-b"));
    // The handshake goes to A's https URL; B trusts the CA through its node ca_file.
    let conn = admin_a
        .connect(
            &admin_b,
            json!({"instance": "sandbox-a", "target_project": "DEMO", "trigger": "labels = sync"}),
            json!({"instance": "sandbox-b", "target_project": "SUPPORT"}),
        )
        .await;

    let http = reqwest::Client::new();
    for i in 0..3 {
        demo::create_item(
            &http,
            &pa.sandbox_urls["a"],
            demo::item_body("DEMO", i, "sync"),
        )
        .await
        .unwrap();
    }
    let node_a = pa.nodes[0].clone();
    until("three twins synced over HTTPS", 60, async || {
        synced_twins(&node_a, &conn).await == 3
    })
    .await;
    let b = pb.nodes[0].tracker("sandbox-b").unwrap();
    let on_b = b.search_updated("", 0, None).await.unwrap().items;
    assert_eq!(on_b.len(), 3, "the replicas crossed to B over HTTPS");

    // Test Run asks B's incoming rules through the signed dry run, over HTTPS too, and
    // writes nothing there.
    let a_key = node_a
        .twins
        .list(&twinsync_ports::TwinQuery {
            connection_id: Some(conn.clone()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .local_key
        .clone()
        .unwrap();
    let (status, run) = admin_a
        .post(
            &format!("/api/connections/{conn}/versions/1/test-run"),
            json!({"items": [a_key]}),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["other_side_error"], Value::Null, "{run}");
    assert_eq!(
        run["items"][0]["other_side"]["would_create"], false,
        "{run}"
    );
    assert_eq!(
        b.search_updated("", 0, None).await.unwrap().items.len(),
        3,
        "the dry run wrote nothing"
    );
    pa.stop().await;
    pb.stop().await;
}
