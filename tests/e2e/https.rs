//! The connectors speak HTTPS: a fake tracker served over TLS with a certificate from a CA
//! made at test time is reached by a connector whose `ca_file` names that CA, and refused,
//! with a reason that says so, by one that trusts another CA or only the platform's roots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use twinsync_core::Item;
use twinsync_fakes::github::FakeGithub;
use twinsync_fakes::jira::FakeJira;
use twinsync_github::{GithubConfig, GithubTracker};
use twinsync_jira::{JiraConfig, JiraTracker};
use twinsync_ports::Tracker;
use twinsync_tls::Transport;
use twinsync_tls::test_ca::TestCa;

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
