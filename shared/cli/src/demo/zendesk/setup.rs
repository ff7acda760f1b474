//! The world of the Zendesk demos, reusable by tests: the fake Zendesk with the bot's and
//! the people's accounts (agents with API tokens `zd-{login}`), the Zendesk node's
//! instance, and the config of the pair with Jira or with a sandbox.

use super::super::common::{CONNECTION, PEOPLE};
use super::super::jira_github::setup::{BOT_EMAIL, BOT_JIRA_TOKEN, PROJECT};
use std::path::Path;
use twinsync_core::ConnectorKind;
use twinsync_fakes::zendesk::{FakeOptions, FakeZendesk};
use twinsync_node::config::{
    ConnectionSection, InstanceSection, JiraSection, NodeSection, ProcessConfig, ProjectSection,
    SandboxSection, TriggerSection, ZendeskSection,
};
use twinsync_tls::Transport;

/// The group tickets live in.
pub const GROUP: &str = "Support";
pub const BOT_ZENDESK_TOKEN: &str = "zendesk-bot-token";
/// The ticket field that shows each ticket's sync state and its twin's link.
pub const SYNC_FIELD: &str = "Twin";
/// The sandbox project of the Zendesk–sandbox pair.
pub const SANDBOX_PROJECT: &str = "DEMO";

/// A person's API token on the fake Zendesk.
pub fn person_token(email: &str) -> String {
    format!("zd-{}", email.split('@').next().unwrap_or(email))
}

/// Starts the fake Zendesk on `transport` with the bot and the demo's people as agents;
/// every `every_nth_429`-th request gets a 429 (0: none).
pub async fn start_zendesk(
    transport: Transport,
    every_nth_429: u64,
) -> Result<FakeZendesk, String> {
    let mut users = vec![(BOT_EMAIL.to_string(), "twinsync bot".to_string())];
    users.extend(PEOPLE.iter().map(|(e, n)| (e.to_string(), n.to_string())));
    let mut api_tokens = vec![(BOT_ZENDESK_TOKEN.to_string(), BOT_EMAIL.to_string())];
    api_tokens.extend(PEOPLE.iter().map(|(e, _)| (person_token(e), e.to_string())));
    FakeZendesk::start_on(
        "127.0.0.1:0",
        FakeOptions {
            groups: vec![GROUP.into()],
            users,
            api_tokens,
            every_nth_429,
            export_per_minute: 10,
            custom_fields: vec![SYNC_FIELD.into()],
            ..FakeOptions::default()
        },
        transport,
    )
    .await
    .map_err(|e| e.to_string())
}

/// The Zendesk node's instance: API token auth as the bot; the webhook's signing secret
/// is read when the node registers it at start.
pub fn zendesk_instance(url: &str, ca_file: Option<&Path>) -> InstanceSection {
    InstanceSection {
        id: "zendesk".into(),
        connector: ConnectorKind::Zendesk,
        base_url: url.into(),
        token: Some(BOT_ZENDESK_TOKEN.into()),
        register_webhook: true,
        ca_file: ca_file.map(Path::to_path_buf),
        zendesk: Some(ZendeskSection {
            group: GROUP.into(),
            email: Some(BOT_EMAIL.into()),
            requests_per_minute: Some(100_000),
            burst: Some(1_000),
            // Webhooks bring the changes; the export (10 a minute) is the safety net.
            export_per_minute: Some(10),
            sync_field: Some(SYNC_FIELD.into()),
            ..ZendeskSection::default()
        }),
        ..Default::default()
    }
}

fn node(id: &str, instance: InstanceSection, connection: ConnectionSection) -> NodeSection {
    NodeSection {
        id: id.into(),
        data_dir: id.into(),
        listen: "127.0.0.1:0".into(),
        admin_listen: "127.0.0.1:0".into(),
        poll_interval_ms: 5_000,
        instance: vec![instance],
        connection: vec![connection],
        ..Default::default()
    }
}

/// `target` is the local tracker's project, where items from the other side are made.
fn connection(instance: &str, remote: &str, target: &str, trigger: &str) -> ConnectionSection {
    ConnectionSection {
        id: CONNECTION.into(),
        name: "Demo: Zendesk".into(),
        instance: instance.into(),
        remote_node: remote.into(),
        target_project: target.into(),
        trigger: vec![TriggerSection {
            id: None,
            query: trigger.into(),
        }],
        ..Default::default()
    }
}

/// Two nodes: Zendesk (tickets tagged `sync`) and Jira (project DEMO, label `sync`).
pub fn jira_config(zendesk_url: &str, jira_url: &str, ca_file: &Path) -> ProcessConfig {
    let jira = InstanceSection {
        id: "jira".into(),
        connector: ConnectorKind::Jira,
        base_url: jira_url.into(),
        webhook_secret: "jira-hook-secret".into(),
        token: Some(BOT_JIRA_TOKEN.into()),
        register_webhook: true,
        ca_file: Some(ca_file.to_path_buf()),
        jira: Some(JiraSection {
            allow_unsigned: false,
            project: PROJECT.into(),
            email: Some(BOT_EMAIL.into()),
            issue_type: None,
            requests_per_minute: Some(100_000),
            burst: Some(1_000),
            attachment_max_bytes: None,
            origin_field: None,
            origin_lookback_minutes: None,
        }),
        ..Default::default()
    };
    ProcessConfig {
        sandbox: vec![],
        node: vec![
            node(
                "node-z",
                zendesk_instance(zendesk_url, Some(ca_file)),
                connection("zendesk", "node-j", GROUP, "labels = sync"),
            ),
            node(
                "node-j",
                jira,
                connection(
                    "jira",
                    "node-z",
                    PROJECT,
                    "project = DEMO AND labels = sync",
                ),
            ),
        ],
    }
}

/// Two nodes: Zendesk and a sandbox tracker of this process.
pub fn sandbox_config(zendesk_url: &str) -> ProcessConfig {
    let sandbox = InstanceSection {
        id: "sandbox".into(),
        connector: ConnectorKind::Sandbox,
        base_url: "sandbox:s".into(),
        webhook_secret: "sandbox-hook-secret-0123456789".into(),
        register_webhook: true,
        ..Default::default()
    };
    ProcessConfig {
        sandbox: vec![SandboxSection {
            id: "s".into(),
            listen: "127.0.0.1:0".into(),
            // On disk, so a restart finds the sandbox's items again.
            db: Some("sandbox-s.db".into()),
            token: None,
            projects: vec![ProjectSection {
                key: SANDBOX_PROJECT.into(),
                name: "Demo".into(),
                statuses: None,
                priorities: None,
            }],
            budget: None,
        }],
        node: vec![
            node(
                "node-z",
                zendesk_instance(zendesk_url, None),
                connection("zendesk", "node-s", GROUP, "labels = sync"),
            ),
            node(
                "node-s",
                sandbox,
                connection(
                    "sandbox",
                    "node-z",
                    SANDBOX_PROJECT,
                    "project = DEMO AND labels = sync",
                ),
            ),
        ],
    }
}
