//! The Salesforce side of a demo, for any pair: the fake org over HTTPS with the demo's
//! CA (the one-time setup's fields in place, the integration user, the people, a
//! connected app with refresh tokens), the instance section a node syncs it with, the
//! Outbound Message pointed at the node, and the people who work in it through the REST
//! API with their own sessions.

use super::super::ca::DemoCa;
use super::super::common::PEOPLE;
use super::super::jira_github::setup::login;
use serde_json::{Value, json};
use std::time::Duration;
use twinsync_core::ConnectorKind;
use twinsync_fakes::salesforce::{FakeOptions, FakeSalesforce, FakeUser};
use twinsync_node::config::{InstanceSection, SalesforceSection};

pub const BOT_USER: &str = "twinsync@acme.example";
pub const CLIENT_ID: &str = "3MVG9twinsync.demo";
const BOT_REFRESH: &str = "demo-refresh-bot";
/// The last segment of the Outbound Message's endpoint URL.
const OUTBOUND_SECRET: &str = "salesforce-outbound-secret-0123456789";
pub const LABELS_FIELD: &str = "Twinsync_Labels__c";
const DATA: &str = "/services/data/v62.0";

fn refresh(email: &str) -> String {
    format!("demo-refresh-{}", login(email))
}

/// Starts the fake org over HTTPS: every 40th request is a 503 with Retry-After, as an
/// org under load answers.
pub(crate) async fn start(ca: &DemoCa) -> Result<FakeSalesforce, String> {
    let options = FakeOptions {
        every_nth_unavailable: 40,
        ..options()
    };
    FakeSalesforce::start_on("127.0.0.1:0", options, ca.server())
        .await
        .map_err(|e| e.to_string())
}

/// The org's integration user, people, connected app and labels picklist.
pub fn options() -> FakeOptions {
    let mut users = vec![FakeUser::new(
        BOT_USER,
        "twinsync-bot@example.com",
        "twinsync integration",
    )];
    users.extend(PEOPLE.iter().map(|(e, n)| FakeUser::new(e, e, n)));
    let mut refresh_tokens = vec![(BOT_REFRESH.to_string(), BOT_USER.to_string())];
    refresh_tokens.extend(PEOPLE.iter().map(|(e, _)| (refresh(e), e.to_string())));
    FakeOptions {
        users,
        // The refresh flow needs no key: the JWT bearer flow is in the e2e tests.
        apps: vec![(CLIENT_ID.into(), String::new())],
        refresh_tokens,
        labels: vec!["sync".into(), "escalate".into()],
        ..FakeOptions::default()
    }
}

/// The instance a node syncs the fake org with: the refresh-token flow, the Outbound
/// Message secret, the labels picklist, a budget far above the demo's pace.
pub fn instance(
    id: &str,
    fake: &FakeSalesforce,
    ca_file: Option<&std::path::Path>,
) -> InstanceSection {
    InstanceSection {
        ca_file: ca_file.map(std::path::Path::to_path_buf),
        id: id.into(),
        connector: ConnectorKind::Salesforce,
        base_url: fake.url.clone(),
        token: Some(BOT_REFRESH.into()),
        webhook_secret: OUTBOUND_SECRET.into(),
        register_webhook: true,
        salesforce: Some(SalesforceSection {
            client_id: CLIENT_ID.into(),
            organization_id: fake.organization_id(),
            labels_field: Some(LABELS_FIELD.into()),
            requests_per_minute: Some(100_000),
            burst: Some(1_000),
            ..SalesforceSection::default()
        }),
        ..Default::default()
    }
}

/// Points the org's Outbound Message at the node, as the admin does once in Setup.
pub fn point_outbound(fake: &FakeSalesforce, node_url: &str, instance: &str) {
    let url = format!(
        "{}/webhooks/salesforce/{instance}/{OUTBOUND_SECRET}",
        node_url.trim_end_matches('/')
    );
    fake.set_outbound_url(Some(url));
}

/// A person working in the org through the REST API with their own session. A 503 or a
/// limit with Retry-After is waited out.
#[derive(Clone)]
pub struct Person {
    pub http: reqwest::Client,
    pub url: String,
    pub email: String,
    pub token: String,
}

impl Person {
    pub async fn login(http: &reqwest::Client, url: &str, email: &str) -> Result<Person, String> {
        let body = format!(
            "grant_type=refresh_token&refresh_token={}&client_id={CLIENT_ID}",
            refresh(email)
        );
        let answer: Value = http
            .post(format!("{url}/services/oauth2/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let token = answer["access_token"]
            .as_str()
            .ok_or(format!("no session for {email}: {answer}"))?;
        Ok(Person {
            http: http.clone(),
            url: url.into(),
            email: email.into(),
            token: token.into(),
        })
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{DATA}{path}", self.url);
        for _ in 0..10 {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.token);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            if let Some(wait) = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let text = resp.text().await.map_err(|e| e.to_string())?;
            if status >= 300 {
                return Err(format!("{method} {url}: {status} {text}"));
            }
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        Err(format!("{method} {url}: still limited after 10 tries"))
    }

    /// The User Id of the person with `email`.
    pub async fn user_id(&self, email: &str) -> Result<String, String> {
        let q = format!("SELECT Id FROM User WHERE Email = '{email}'");
        let found = self
            .call(
                reqwest::Method::GET,
                &format!("/query?q={}", urlencode(&q)),
                None,
            )
            .await?;
        found["records"][0]["Id"]
            .as_str()
            .map(str::to_string)
            .ok_or(format!("no user {email}"))
    }

    /// Opens a Case the demo's trigger takes (labelled sync); gives its Id.
    pub async fn open_case(&self, mut fields: Value) -> Result<String, String> {
        fields[LABELS_FIELD] = json!("sync");
        let created = self
            .call(reqwest::Method::POST, "/sobjects/Case", Some(fields))
            .await?;
        created["id"]
            .as_str()
            .map(str::to_string)
            .ok_or("Salesforce gave no id".into())
    }

    pub async fn update(&self, id: &str, fields: Value) -> Result<Value, String> {
        self.call(
            reqwest::Method::PATCH,
            &format!("/sobjects/Case/{id}"),
            Some(fields),
        )
        .await
    }

    pub async fn comment(&self, id: &str, body: &str, published: bool) -> Result<Value, String> {
        let row = json!({"ParentId": id, "CommentBody": body, "IsPublished": published});
        self.call(reqwest::Method::POST, "/sobjects/CaseComment", Some(row))
            .await
    }
}

fn urlencode(s: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", &[("q", s)])
        .ok()
        .and_then(|u| u.query().map(|q| q.trim_start_matches("q=").to_string()))
        .unwrap_or_default()
}
