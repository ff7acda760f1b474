//! The world of the Jira–GitHub demo: the fakes with their accounts and tokens, the two
//! nodes' configuration, and the people who work in the trackers.

use super::super::common::{CONNECTION, PEOPLE};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use twinsync_core::ConnectorKind;
use twinsync_fakes::github::FakeGithub;
use twinsync_fakes::jira::FakeJira;
use twinsync_github::UserEntry;
use twinsync_node::config::{
    ConnectionSection, GithubSection, InstanceSection, JiraSection, NodeSection, ProcessConfig,
    TriggerSection,
};
use twinsync_tls::Transport;
use twinsync_tls::test_ca::TestCa;

pub(crate) const PROJECT: &str = "DEMO";
pub(super) const REPO: &str = "acme/demo";
pub(crate) const BOT_EMAIL: &str = "twinsync-bot@example.com";
pub(crate) const BOT_JIRA_TOKEN: &str = "jira-bot-token";
pub(super) const BOT_GITHUB_TOKEN: &str = "ghp-twinsync-bot";
pub(super) const BOT_LOGIN: &str = "twinsync-bot";

pub(super) fn login(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_string()
}

pub(super) fn config(jira_url: &str, github_url: &str, ca_file: &Path) -> ProcessConfig {
    let connection =
        |instance: &str, remote: &str, target: &str, trigger: &str| ConnectionSection {
            id: CONNECTION.into(),
            name: "Demo: Jira <-> GitHub".into(),
            instance: instance.into(),
            remote_node: remote.into(),
            target_project: target.into(),
            trigger: vec![TriggerSection {
                id: None,
                query: trigger.into(),
            }],
            ..Default::default()
        };
    let instance = |id: &str, connector: ConnectorKind, url: &str, token: &str| InstanceSection {
        // Both trackers speak HTTPS, with certificates from the demo's own CA.
        ca_file: Some(ca_file.to_path_buf()),
        id: id.into(),
        connector,
        base_url: url.into(),
        webhook_secret: format!("{connector}-hook-secret"),
        token: Some(token.into()),
        register_webhook: true,
        ..Default::default()
    };
    let mut jira = instance("jira", ConnectorKind::Jira, jira_url, BOT_JIRA_TOKEN);
    jira.jira = Some(JiraSection {
        allow_unsigned: false,
        project: PROJECT.into(),
        email: Some(BOT_EMAIL.into()),
        issue_type: None,
        requests_per_minute: Some(100_000),
        burst: Some(1_000),
        attachment_max_bytes: None,
        origin_field: None,
        origin_lookback_minutes: None,
    });
    let mut github = instance(
        "github",
        ConnectorKind::Github,
        github_url,
        BOT_GITHUB_TOKEN,
    );
    github.github = Some(GithubSection {
        repo: REPO.into(),
        app: None,
        users: PEOPLE
            .iter()
            .map(|(email, name)| UserEntry {
                login: login(email),
                email: email.to_string(),
                name: name.to_string(),
            })
            .collect(),
        requests_per_minute: Some(100_000),
        burst: Some(1_000),
    });
    let node = |id: &str, instance: InstanceSection, connection: ConnectionSection| NodeSection {
        id: id.into(),
        data_dir: id.into(),
        listen: "127.0.0.1:0".into(),
        admin_listen: "127.0.0.1:0".into(),
        // Webhooks bring the changes; polling is the safety net.
        poll_interval_ms: 5_000,
        instance: vec![instance],
        connection: vec![connection],
        ..Default::default()
    };
    ProcessConfig {
        sandbox: vec![],
        node: vec![
            node(
                "node-j",
                jira,
                connection(
                    "jira",
                    "node-g",
                    PROJECT,
                    "project = DEMO AND labels = sync",
                ),
            ),
            node(
                "node-g",
                github,
                connection("github", "node-j", REPO, "labels = sync"),
            ),
        ],
    }
}

/// A person working in the trackers through their REST APIs. A 429 or 503 is waited out
/// as the vendors ask, as any good client does.
#[derive(Clone)]
pub(super) struct Person {
    pub(super) http: reqwest::Client,
    pub(super) jira_url: String,
    pub(super) github_url: String,
    pub(super) email: String,
}

impl Person {
    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
        github: bool,
    ) -> Result<Value, String> {
        for _ in 0..10 {
            let mut req = self.http.request(method.clone(), &url);
            req = if github {
                req.bearer_auth(format!("ghp-{}", login(&self.email)))
                    .header("accept", "application/vnd.github+json")
                    .header("user-agent", "demo-person")
            } else {
                req.basic_auth(&self.email, Some(format!("jira-{}", login(&self.email))))
            };
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            if status == 429
                || status == 503
                || (status == 403 && resp.headers().contains_key("retry-after"))
            {
                let wait = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let text = resp.text().await.map_err(|e| e.to_string())?;
            if status >= 300 {
                return Err(format!("{method} {url}: {status} {text}"));
            }
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        Err(format!("{method} {url}: still rate limited after 10 tries"))
    }

    pub(super) async fn jira(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        self.call(
            method,
            format!("{}/rest/api/3{path}", self.jira_url),
            body,
            false,
        )
        .await
    }

    pub(super) async fn github(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        self.call(method, format!("{}{path}", self.github_url), body, true)
            .await
    }
}

/// The certificate authority the demo makes at start: the fakes serve HTTPS with
/// certificates it signs, and the nodes and the people trust it through its file.
pub(crate) struct DemoCa {
    ca: TestCa,
    _dir: tempfile::TempDir,
    pub(crate) file: PathBuf,
}

impl DemoCa {
    pub(crate) fn new() -> Result<Self, String> {
        let ca = TestCa::new("twinsync demo CA");
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = ca.write_ca(dir.path());
        Ok(Self {
            ca,
            _dir: dir,
            file,
        })
    }

    pub(crate) fn server(&self) -> Transport {
        Transport::Tls(self.ca.loopback_server())
    }

    /// A client for the people of the demo, who trust the CA as the nodes do.
    pub(crate) fn client(&self) -> Result<reqwest::Client, String> {
        let cert = reqwest::Certificate::from_pem(self.ca.ca_pem().as_bytes())
            .map_err(|e| e.to_string())?;
        reqwest::Client::builder()
            .tls_certs_merge([cert])
            .build()
            .map_err(|e| e.to_string())
    }
}

/// Starts the fake Jira over HTTPS (a certificate from the demo's CA) with the bot's and
/// the people's accounts (the people's API tokens are `jira-{login}`). Every 40th request
/// gets a 429. The Zendesk–Jira demo starts it the same way.
pub(crate) async fn start_jira(ca: &DemoCa) -> Result<FakeJira, String> {
    let mut accounts = vec![(BOT_EMAIL.to_string(), "twinsync bot".to_string())];
    accounts.extend(PEOPLE.iter().map(|(e, n)| (e.to_string(), n.to_string())));
    let mut api_tokens = vec![(BOT_JIRA_TOKEN.to_string(), BOT_EMAIL.to_string())];
    api_tokens.extend(
        PEOPLE
            .iter()
            .map(|(e, _)| (format!("jira-{}", login(e)), e.to_string())),
    );
    let jira_fake = FakeJira::start_on(
        "127.0.0.1:0",
        twinsync_fakes::jira::FakeOptions {
            projects: vec![PROJECT.into()],
            accounts,
            api_tokens,
            oauth_tokens: vec![],
            custom_fields: vec![],
            webhook_secret: "jira-hook-secret".into(),
            every_nth_429: 40,
            ..twinsync_fakes::jira::FakeOptions::default()
        },
        ca.server(),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(jira_fake)
}

/// Starts the fake Jira and the fake GitHub over HTTPS with the bot's and the people's
/// accounts. Every 40th request gets a 429, as real trackers under load do.
pub(super) async fn start_fakes(ca: &DemoCa) -> Result<(FakeJira, FakeGithub), String> {
    let jira_fake = start_jira(ca).await?;
    let mut tokens = vec![(BOT_GITHUB_TOKEN.to_string(), BOT_LOGIN.to_string())];
    tokens.extend(
        PEOPLE
            .iter()
            .map(|(e, _)| (format!("ghp-{}", login(e)), login(e))),
    );
    let github_fake = FakeGithub::start_on(
        "127.0.0.1:0",
        twinsync_fakes::github::FakeOptions {
            tokens,
            repos: vec![REPO.into()],
            every_nth_429: 40,
            ..twinsync_fakes::github::FakeOptions::default()
        },
        ca.server(),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok((jira_fake, github_fake))
}
