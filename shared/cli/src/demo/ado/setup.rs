//! The Azure DevOps side of a demo, for any pair: the fake organization over HTTPS with
//! the bot's and the people's tokens, the node's instance section for it, and a person
//! working in it through the REST API. A later pair (`ado-servicenow`, say) reuses all
//! three.

use super::super::ca::DemoCa;
use super::super::common::PEOPLE;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use twinsync_core::ConnectorKind;
use twinsync_fakes::ado::{FakeAdo, FakeOptions};
use twinsync_node::config::{AdoSection, InstanceSection};

pub const PROJECT: &str = "Fabrikam Fiber";
pub const BOT_EMAIL: &str = "twinsync-bot@example.com";
pub const BOT_PAT: &str = "ado-bot-pat";
/// What the service hook subscriptions send and the node checks.
const HOOK_SECRET: &str = "ado-hook-secret-0123456789";

/// A person's personal access token in the fake.
pub fn pat(email: &str) -> String {
    format!("ado-{}", email.split('@').next().unwrap_or(email))
}

/// Starts the fake Azure DevOps over HTTPS with the bot's and the people's identities.
/// Every 40th request gets a 429, as a real organization under load does.
pub(crate) async fn start_fake(ca: &DemoCa) -> Result<FakeAdo, String> {
    let mut identities = vec![(BOT_EMAIL.to_string(), "twinsync bot".to_string())];
    identities.extend(PEOPLE.iter().map(|(e, n)| (e.to_string(), n.to_string())));
    let mut pats = vec![(BOT_PAT.to_string(), BOT_EMAIL.to_string())];
    pats.extend(PEOPLE.iter().map(|(e, _)| (pat(e), e.to_string())));
    FakeAdo::start_on(
        "127.0.0.1:0",
        FakeOptions {
            projects: vec![PROJECT.into()],
            identities,
            pats,
            every_nth_429: 40,
            ..FakeOptions::default()
        },
        ca.server(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// The node's instance `id` for the fake, trusting `ca_file` when it speaks HTTPS.
pub fn instance(id: &str, fake: &FakeAdo, ca_file: Option<&Path>) -> InstanceSection {
    InstanceSection {
        id: id.into(),
        connector: ConnectorKind::Ado,
        base_url: fake.org_url(),
        webhook_secret: HOOK_SECRET.into(),
        token: Some(BOT_PAT.into()),
        ca_file: ca_file.map(Path::to_path_buf),
        ado: Some(AdoSection {
            project: PROJECT.into(),
            work_item_type: None,
            oauth: false,
            webhook_user: None,
            requests_per_minute: Some(100_000),
            burst: Some(1_000),
            attachment_max_bytes: None,
        }),
        ..Default::default()
    }
}

/// A person working in Azure DevOps through its REST API with their own PAT. A 429 is
/// waited out as Azure DevOps asks.
#[derive(Clone)]
pub(crate) struct AdoPerson {
    pub(crate) http: reqwest::Client,
    pub(crate) org_url: String,
    pub(crate) email: String,
}

impl AdoPerson {
    /// `path` under the organization (`/{project}/_apis/...` or `/_apis/...`); work item
    /// writes go as JSON Patch.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.org_url);
        let patch = path.contains("/wit/workitems/");
        for _ in 0..10 {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .basic_auth("", Some(pat(&self.email)));
            if let Some(b) = &body {
                req = req
                    .header(
                        "content-type",
                        if patch {
                            "application/json-patch+json"
                        } else {
                            "application/json"
                        },
                    )
                    .body(b.to_string());
            }
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            if status == 429 || status == 503 {
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
}
