//! What the three demo pairs share: the arguments, the report, the items people create
//! and the helpers that wait for many of them.

use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use twinsync_core::Item;
use twinsync_node::Node;
use twinsync_ports::Tracker;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// How many items to create in tracker A.
    #[arg(long, default_value_t = 20)]
    pub items: usize,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Keep the databases here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Which trackers: two sandboxes; a sandbox and a real Redmine (REDMINE_URL,
    /// REDMINE_API_KEY and REDMINE_ORIGIN_FIELD from `scripts/redmine-up`); or the fake
    /// Jira Cloud and the fake GitHub, the fake Azure DevOps and a sandbox, the fake
    /// ServiceNow with a sandbox, the fake Jira or the fake Azure DevOps, the fake Zendesk
    /// with the fake Jira or a sandbox, the fake Salesforce with a sandbox or the fake
    /// GitHub, all started in this process.
    #[arg(long, value_enum, default_value_t = Pair::SandboxSandbox)]
    pub pair: Pair,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pair {
    SandboxSandbox,
    RedmineSandbox,
    JiraGithub,
    AdoSandbox,
    /// The fake ServiceNow and a sandbox of this process.
    ServicenowSandbox,
    /// The fake Jira and the fake ServiceNow.
    JiraServicenow,
    /// The fake Azure DevOps and the fake ServiceNow.
    AdoServicenow,
    /// The fake Zendesk and the fake Jira, started in this process.
    ZendeskJira,
    /// The fake Zendesk and a sandbox.
    ZendeskSandbox,
    /// The fake Salesforce and a sandbox of this process.
    SalesforceSandbox,
    /// The fake Salesforce and the fake GitHub.
    SalesforceGithub,
}

#[derive(Debug, Serialize)]
pub struct Step {
    pub step: String,
    pub ms: u128,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct DemoReport {
    pub converged: bool,
    pub items_a_to_b: usize,
    pub items_b_to_a: usize,
    pub comments_synced: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    pub mismatches: Vec<String>,
    pub elapsed_ms: u128,
    pub items_per_second: f64,
    pub steps: Vec<Step>,
}

pub const PROJECT_A: &str = "DEMO";

pub const PROJECT_B: &str = "SUPPORT";

pub const CONNECTION: &str = "demo";

/// Creates items through the tracker's REST API, as a person using tracker A would.
pub async fn create_item(
    http: &reqwest::Client,
    base: &str,
    body: serde_json::Value,
) -> Result<String, String> {
    let resp = http
        .post(format!("{base}/api/items"))
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let value: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("creating an item failed: {value}"));
    }
    value
        .get("key")
        .and_then(|k| k.as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("no key in {value}"))
}

/// Sends a change (an edit, a comment) to the sandbox's API as a person would.
pub async fn send_change(request: reqwest::RequestBuilder) -> Result<(), String> {
    let resp = request.send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("the sandbox refused a change: {}", resp.status()));
    }
    Ok(())
}

pub(crate) const PEOPLE: [(&str, &str); 3] = [
    ("ana@example.com", "Ana Lima"),
    ("bo@example.com", "Bo Chen"),
    ("cy@example.com", "Cy Okafor"),
];

pub fn item_body(project: &str, i: usize, label: &str) -> serde_json::Value {
    let (email, name) = PEOPLE[i % PEOPLE.len()];
    let priority = ["Low", "Medium", "High"][i % 3];
    json!({
        "project": project,
        "summary": format!("Checkout fails for order #{i}"),
        "description": format!("## Steps\n\n1. Add item {i} to the cart\n2. Pay with **card**\n\n`HTTP 502` from `/pay`."),
        "status": if project == PROJECT_A { "Open" } else { "To Do" },
        "priority": priority,
        "labels": [label, format!("team-{}", i % 4)],
        "assignee": { "email": email, "displayName": name },
        "reporter": { "email": PEOPLE[(i + 1) % 3].0, "displayName": PEOPLE[(i + 1) % 3].1 },
    })
}

pub(crate) async fn for_each_limited<F, Fut>(
    n: usize,
    limit: usize,
    f: F,
) -> Result<Vec<String>, String>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut out = vec![String::new(); n];
    let mut next = 0;
    while next < n || !set.is_empty() {
        while next < n && set.len() < limit {
            let fut = f(next);
            let i = next;
            set.spawn(async move { (i, fut.await) });
            next += 1;
        }
        if let Some(joined) = set.join_next().await {
            let (i, r) = joined.map_err(|e| e.to_string())?;
            out[i] = r?;
        }
    }
    Ok(out)
}

/// Runs a call on a tracker as its people do: a rate limit is waited out, and an edit
/// that lost a race with the node's write (a refused revision test) is made again on the
/// item as it now is, as a person does after the tracker's "updated by someone else";
/// 20 times at most.
pub(crate) async fn patiently<T>(
    call: impl AsyncFn() -> twinsync_ports::PortResult<T>,
) -> Result<T, String> {
    let mut last = String::new();
    for _ in 0..20 {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let wait = match &e {
                    twinsync_ports::PortError::Conflict(_) => 200,
                    _ => e.retry_after_ms().ok_or_else(|| e.to_string())?,
                };
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
        }
    }
    Err(format!("still refused after 20 tries: {last}"))
}

/// Reads an item in full, waiting out a tracker's 429s as the nodes do.
pub(crate) async fn full(tracker: &dyn Tracker, key: &str) -> Result<Item, String> {
    patiently(async || tracker.get_item(key).await)
        .await
        .map_err(|e| format!("{key}: {e}"))?
        .ok_or_else(|| format!("{key} is missing"))
}

/// The key of the twin of `key` on the other side of the demo's connection.
pub(crate) async fn twin_key(node: &Node, key: &str) -> Result<String, String> {
    match node
        .twins
        .find_by_local(CONNECTION, key)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(twin) => twin
            .remote_key
            .ok_or_else(|| format!("{key} has no twin yet: the twin is {:?}", twin.status)),
        None => Err(format!("{key} is not under sync")),
    }
}

/// The sandbox pair's parts in a running process: sandbox A's URL and the two nodes.
pub struct PairParts {
    pub url_a: String,
    pub node_a: std::sync::Arc<Node>,
    pub node_b: std::sync::Arc<Node>,
}

/// The parts of the pair [`super::config`] describes, started in `process`.
pub fn pair_parts(process: &twinsync_local::process::Process) -> Result<PairParts, String> {
    let node = |id: &str| {
        process
            .node(id)
            .cloned()
            .ok_or_else(|| format!("{id} missing"))
    };
    Ok(PairParts {
        url_a: process
            .sandbox_urls
            .get("a")
            .cloned()
            .ok_or("sandbox a missing")?,
        node_a: node("node-a")?,
        node_b: node("node-b")?,
    })
}
