//! The ServiceNow side of a demo, for any pair: the fake instance (over HTTPS with the
//! demo's CA) with the integration user, the people, an OAuth client and the push
//! business rule installed; the instance section a node syncs it with; and the people
//! who work in it through the Table API.

use super::super::ca::DemoCa;
use super::super::common::PEOPLE;
use super::super::jira_github::setup::login;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use twinsync_core::ConnectorKind;
use twinsync_fakes::servicenow::{FakeOptions, FakeServiceNow, FakeUser};
use twinsync_node::config::{InstanceSection, ServiceNowSection};

pub const TABLE: &str = "incident";
pub const BOT_USER: &str = "twinsync.integration";
pub const BOT_EMAIL: &str = "twinsync-integration@example.com";
pub const OAUTH_CLIENT_ID: &str = "twinsync-demo-client";
const OAUTH_CLIENT_SECRET: &str = "twinsync-demo-client-secret";
const PUSH_SECRET: &str = "servicenow-push-key-0123456789";
/// The incidents the demo's trigger takes.
pub const CATEGORY: &str = "software";

/// A person's ServiceNow password in the demo.
fn password(email: &str) -> String {
    format!("pw-{}", login(email))
}

/// Starts the fake ServiceNow over HTTPS: every 40th request is a 429, as an instance's
/// rate limit rules answer under load.
pub(crate) async fn start(ca: &DemoCa) -> Result<FakeServiceNow, String> {
    let mut users = vec![FakeUser::new(
        BOT_USER,
        "unused-basic-password",
        BOT_EMAIL,
        "twinsync integration",
    )];
    users.extend(
        PEOPLE
            .iter()
            .map(|(e, n)| FakeUser::new(&login(e), &password(e), e, n)),
    );
    FakeServiceNow::start_on(
        "127.0.0.1:0",
        FakeOptions {
            users,
            groups: vec!["Service Desk".into(), "Network".into()],
            oauth_clients: vec![(OAUTH_CLIENT_ID.into(), OAUTH_CLIENT_SECRET.into())],
            oauth_user: Some(BOT_USER.into()),
            token_seconds: 0,
            // The push business rule is installed: its property exists, still empty.
            properties: vec![(
                twinsync_servicenow::client::PUSH_URL_PROPERTY.into(),
                String::new(),
            )],
            push_secret: PUSH_SECRET.into(),
            every_nth_429: 40,
        },
        ca.server(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// The instance a node syncs the fake with: OAuth client credentials, the push key, a
/// budget far above the demo's pace.
pub fn instance(id: &str, url: &str, ca_file: &Path) -> InstanceSection {
    InstanceSection {
        ca_file: Some(ca_file.to_path_buf()),
        id: id.into(),
        connector: ConnectorKind::ServiceNow,
        base_url: url.into(),
        webhook_secret: PUSH_SECRET.into(),
        register_webhook: true,
        servicenow: Some(ServiceNowSection {
            table: Some(TABLE.into()),
            oauth_client_id: Some(OAUTH_CLIENT_ID.into()),
            oauth_client_secret: Some(OAUTH_CLIENT_SECRET.into()),
            requests_per_minute: Some(100_000),
            burst: Some(1_000),
            custom_fields: vec!["category".into()],
            ..ServiceNowSection::default()
        }),
        ..Default::default()
    }
}

/// The trigger of the demo's ServiceNow side: software incidents (the connector sends it
/// as the encoded query `category=software`).
pub fn trigger() -> String {
    format!("cf.category = {CATEGORY}")
}

/// A person working in ServiceNow through the Table API with Basic auth. A 429 is
/// waited out as the instance asks.
#[derive(Clone)]
pub struct Person {
    pub http: reqwest::Client,
    pub url: String,
    pub email: String,
}

impl Person {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.url);
        for _ in 0..10 {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .basic_auth(login(&self.email), Some(password(&self.email)))
                .header("accept", "application/json");
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            if status == 429 {
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

    /// The sys_id of a `sys_user` or `sys_user_group` found by `query`.
    pub async fn sys_id(&self, table: &str, query: &str) -> Result<String, String> {
        let found = self
            .call(
                reqwest::Method::GET,
                &format!("/api/now/table/{table}?sysparm_query={query}&sysparm_fields=sys_id&sysparm_limit=1"),
                None,
            )
            .await?;
        found["result"][0]["sys_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("nothing in {table} for {query}"))
    }

    /// Opens an incident the demo's trigger takes; gives its number and sys_id.
    pub async fn open_incident(&self, fields: Value) -> Result<(String, String), String> {
        let mut body = fields;
        body["category"] = Value::from(CATEGORY);
        let created = self
            .call(
                reqwest::Method::POST,
                &format!("/api/now/table/{TABLE}"),
                Some(body),
            )
            .await?;
        let field = |n: &str| created["result"][n].as_str().map(str::to_string);
        Ok((
            field("number").ok_or("ServiceNow gave no number")?,
            field("sys_id").ok_or("ServiceNow gave no sys_id")?,
        ))
    }

    /// Updates the incident `sys_id` (a field edit, a comment or a work note).
    pub async fn update(&self, sys_id: &str, fields: Value) -> Result<Value, String> {
        self.call(
            reqwest::Method::PATCH,
            &format!("/api/now/table/{TABLE}/{sys_id}"),
            Some(fields),
        )
        .await
    }
}
