//! `twinsync demo --pair jira-github`: the demo scenario between a fake Jira Cloud and a
//! fake GitHub, both started in this process (the fakes follow the vendors' contracts;
//! see `twinsync_fakes::jira` and `twinsync_fakes::github`). People work in the trackers
//! through the vendors' REST APIs with their own tokens; the nodes sync with theirs.
//! Both fakes answer some requests with 429s and secondary limits along the way.

use super::common::{CONNECTION, DemoArgs, DemoReport, PEOPLE, Step, for_each_limited};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_core::{ConnectorKind, Item};
use twinsync_fakes::github::{FakeGithub, Fault as GithubFault};
use twinsync_fakes::jira::{FakeJira, Fault as JiraFault};
use twinsync_github::UserEntry;
use twinsync_jira::adf;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_local::quiet::wait_quiet;
use twinsync_node::config::{
    ConnectionSection, GithubSection, InstanceSection, JiraSection, NodeSection, ProcessConfig,
    TriggerSection,
};
use twinsync_ports::Tracker;

const PROJECT: &str = "DEMO";
const REPO: &str = "acme/demo";
const BOT_EMAIL: &str = "twinsync-bot@example.com";
const BOT_JIRA_TOKEN: &str = "jira-bot-token";
const BOT_GITHUB_TOKEN: &str = "ghp-twinsync-bot";
const BOT_LOGIN: &str = "twinsync-bot";

fn login(email: &str) -> String {
    email.split('@').next().unwrap_or(email).to_string()
}

fn config(jira_url: &str, github_url: &str) -> ProcessConfig {
    let connection =
        |instance: &str, remote: &str, target: &str, trigger: &str| ConnectionSection {
            id: CONNECTION.into(),
            name: "Demo: Jira <-> GitHub".into(),
            instance: instance.into(),
            remote_node: remote.into(),
            target_project: target.into(),
            outgoing: None,
            incoming: None,
            conflicts: None,
            helper_maps: None,
            trigger: vec![TriggerSection {
                id: None,
                query: trigger.into(),
            }],
            plan: vec![],
        };
    let instance = |id: &str, connector: ConnectorKind, url: &str, token: &str| InstanceSection {
        id: id.into(),
        connector,
        base_url: url.into(),
        webhook_secret: format!("{connector}-hook-secret"),
        token: Some(token.into()),
        origin_field_id: None,
        project: None,
        tracker: None,
        text_formatting: None,
        register_webhook: true,
        github: None,
        jira: None,
    };
    let mut jira = instance("jira", ConnectorKind::Jira, jira_url, BOT_JIRA_TOKEN);
    jira.jira = Some(JiraSection {
        project: PROJECT.into(),
        email: Some(BOT_EMAIL.into()),
        issue_type: None,
        requests_per_minute: Some(100_000),
        burst: Some(1_000),
        attachment_max_bytes: None,
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
        // Webhooks bring the changes; polling is the safety net.
        poll_interval_ms: 5_000,
        instance: vec![instance],
        connection: vec![connection],
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
struct Person {
    http: reqwest::Client,
    jira_url: String,
    github_url: String,
    email: String,
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

    async fn jira(
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

    async fn github(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        self.call(method, format!("{}{path}", self.github_url), body, true)
            .await
    }
}

/// GitHub's status for a Jira status under the default rules.
fn github_state(jira: &str) -> &'static str {
    if jira == "Done" { "closed" } else { "open" }
}

pub async fn scenario(args: &DemoArgs) -> Result<DemoReport, String> {
    let started = Instant::now();
    let mut accounts = vec![(BOT_EMAIL.to_string(), "twinsync bot".to_string())];
    accounts.extend(PEOPLE.iter().map(|(e, n)| (e.to_string(), n.to_string())));
    let mut api_tokens = vec![(BOT_JIRA_TOKEN.to_string(), BOT_EMAIL.to_string())];
    api_tokens.extend(
        PEOPLE
            .iter()
            .map(|(e, _)| (format!("jira-{}", login(e)), e.to_string())),
    );
    let jira_fake = FakeJira::start(
        "127.0.0.1:0",
        twinsync_fakes::jira::FakeOptions {
            projects: vec![PROJECT.into()],
            accounts,
            api_tokens,
            oauth_tokens: vec![],
            custom_fields: vec![],
            webhook_secret: "jira-hook-secret".into(),
            every_nth_429: 40,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut tokens = vec![(BOT_GITHUB_TOKEN.to_string(), BOT_LOGIN.to_string())];
    tokens.extend(
        PEOPLE
            .iter()
            .map(|(e, _)| (format!("ghp-{}", login(e)), login(e))),
    );
    let github_fake = FakeGithub::start(
        "127.0.0.1:0",
        twinsync_fakes::github::FakeOptions {
            tokens,
            repos: vec![REPO.into()],
            every_nth_429: 40,
            ..twinsync_fakes::github::FakeOptions::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let process = Process::start(
        &config(&jira_fake.url, &github_fake.url),
        &dir,
        ProcessOptions::default(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let result = steps(&process, &jira_fake, &github_fake, args, started).await;
    process.stop().await;
    result
}

/// Waits until neither fake has a webhook delivery on its way and both nodes' queues are
/// empty ([`wait_quiet`]).
async fn settle(
    nodes: &[Arc<twinsync_node::Node>],
    jira: &FakeJira,
    github: &FakeGithub,
    timeout: Duration,
) -> bool {
    wait_quiet(nodes, &[jira.webhooks(), github.webhooks()], timeout).await
}

/// The node's calls to a fake since `from`, without polling (it costs the same whatever
/// changes).
fn node_calls_jira(fake: &FakeJira, from: usize) -> usize {
    fake.exchanges()[from..]
        .iter()
        .filter(|e| e.caller == BOT_EMAIL && e.template != "/rest/api/3/search/jql")
        .count()
}

fn node_calls_github(fake: &FakeGithub, from: usize) -> usize {
    fake.exchanges()[from..]
        .iter()
        .filter(|e| e.caller == BOT_LOGIN)
        .filter(|e| {
            !(e.template == "/repos/{owner}/{repo}/issues" && e.query.contains("sort=updated"))
        })
        .count()
}

async fn steps(
    process: &Process,
    jira_fake: &FakeJira,
    github_fake: &FakeGithub,
    args: &DemoArgs,
    started: Instant,
) -> Result<DemoReport, String> {
    let node_j = process.node("node-j").ok_or("node-j missing")?.clone();
    let node_g = process.node("node-g").ok_or("node-g missing")?.clone();
    let nodes = vec![node_j.clone(), node_g.clone()];
    let jira = node_j.tracker("jira").map_err(|e| e.to_string())?;
    let github = node_g.tracker("github").map_err(|e| e.to_string())?;
    let people: Vec<Person> = PEOPLE
        .iter()
        .map(|(email, _)| Person {
            http: reqwest::Client::new(),
            jira_url: jira_fake.url.clone(),
            github_url: github_fake.url.clone(),
            email: email.to_string(),
        })
        .collect();
    let mut account_ids = HashMap::new();
    for p in &people {
        let found = p
            .jira(
                reqwest::Method::GET,
                &format!("/user/search?query={}", p.email),
                None,
            )
            .await?;
        if let Some(id) = found[0]["accountId"].as_str() {
            account_ids.insert(p.email.clone(), id.to_string());
        }
    }
    let timeout = Duration::from_secs(120 + (args.items as u64) / 4);
    let n = args.items.max(3);
    let mut steps = Vec::new();
    // The trackers push back now and then, as real ones do under load: every 40th
    // request is a 429, and a few more come at the start.
    jira_fake.inject([JiraFault::TooManyRequests(1), JiraFault::TooManyRequests(2)]);
    github_fake.inject([
        GithubFault::TooManyRequests(1),
        GithubFault::SecondaryLimit(1),
    ]);

    // 1. People create issues in Jira, each with a comment; they reach GitHub.
    let t = Instant::now();
    let (jira_from, github_from) = (jira_fake.exchanges().len(), github_fake.exchanges().len());
    let account_ids = Arc::new(account_ids);
    let keys = for_each_limited(n, 4, |i| {
        let person = people[i % people.len()].clone();
        let assignee = account_ids.get(PEOPLE[(i + 1) % PEOPLE.len()].0).cloned();
        async move {
            let created = person
                .jira(
                    reqwest::Method::POST,
                    "/issue",
                    Some(json!({"fields": {
                        "project": {"key": PROJECT},
                        "issuetype": {"name": "Task"},
                        "summary": format!("Checkout fails for order #{i}"),
                        "description": adf::from_markdown(&format!(
                            "## Steps\n\n1. Add item {i} to the cart\n2. Pay with **card**\n\n`HTTP 502` from `/pay`."
                        )),
                        "labels": ["sync", format!("team-{}", i % 4)],
                        "priority": {"name": (["Low", "Medium", "High"][i % 3])},
                        "assignee": assignee.map(|a| json!({"accountId": a})),
                    }})),
                )
                .await?;
            let key = created["key"].as_str().ok_or("Jira gave no key")?.to_string();
            person
                .jira(
                    reqwest::Method::POST,
                    &format!("/issue/{key}/comment"),
                    Some(json!({"body": adf::from_markdown(&format!("Customer **Acme** is affected (#{i})."))})),
                )
                .await?;
            Ok(key)
        }
    })
    .await?;
    let quiet = settle(&nodes, jira_fake, github_fake, timeout).await;
    let created_calls = node_calls_github(github_fake, github_from) as f64 / n as f64;
    let read_calls = node_calls_jira(jira_fake, jira_from) as f64 / n as f64;
    steps.push(Step {
        step: "create in Jira".into(),
        ms: t.elapsed().as_millis(),
        detail: format!(
            "{n} issues with a comment created in Jira; {}; {created_calls:.1} GitHub calls and {read_calls:.1} Jira calls per item",
            if quiet { "all queues drained" } else { "queues did NOT drain in time" }
        ),
    });

    let twin_key = |key: &str| {
        let node_j = node_j.clone();
        let key = key.to_string();
        async move {
            node_j
                .twins
                .find_by_local(CONNECTION, &key)
                .await
                .map_err(|e| e.to_string())?
                .map(|t| {
                    t.remote_key.clone().ok_or_else(|| {
                        format!(
                            "{key} has no twin in GitHub yet: the twin is {:?}",
                            t.status
                        )
                    })
                })
                .unwrap_or_else(|| Err(format!("{key} is not under sync")))
        }
    };
    let number = |gh_key: &str| gh_key.rsplit('#').next().unwrap_or("0").to_string();

    // 2. One field edit and one comment in Jira, each measured at GitHub.
    let t = Instant::now();
    let from = github_fake.exchanges().len();
    people[1]
        .jira(
            reqwest::Method::PUT,
            &format!("/issue/{}", keys[2]),
            Some(json!({"fields": {"summary": "Checkout fails for order #2 (all cards)"}})),
        )
        .await?;
    let quiet_edit = settle(&nodes, jira_fake, github_fake, timeout).await;
    let edit_calls = node_calls_github(github_fake, from);
    let from = github_fake.exchanges().len();
    people[2]
        .jira(
            reqwest::Method::POST,
            &format!("/issue/{}/comment", keys[2]),
            Some(json!({"body": adf::from_markdown("Also on *mobile*.")})),
        )
        .await?;
    let quiet_comment = settle(&nodes, jira_fake, github_fake, timeout).await;
    let comment_calls = node_calls_github(github_fake, from);
    steps.push(Step {
        step: "edit + comment in Jira".into(),
        ms: t.elapsed().as_millis(),
        detail: format!(
            "{}: summary edit -> {edit_calls} GitHub calls; a comment -> {comment_calls} GitHub calls{}",
            keys[2],
            if quiet_edit && quiet_comment { "" } else { " (queues did NOT drain)" }
        ),
    });

    // 3. Someone closes an issue in GitHub with a comment; Jira moves it to Done.
    let t = Instant::now();
    let g0 = twin_key(&keys[0]).await?;
    let from = jira_fake.exchanges().len();
    people[0]
        .github(
            reqwest::Method::PATCH,
            &format!("/repos/{REPO}/issues/{}", number(&g0)),
            Some(json!({"state": "closed", "state_reason": "completed"})),
        )
        .await?;
    people[0]
        .github(
            reqwest::Method::POST,
            &format!("/repos/{REPO}/issues/{}/comments", number(&g0)),
            Some(json!({"body": "Fixed by the gateway timeout change."})),
        )
        .await?;
    let quiet_back = settle(&nodes, jira_fake, github_fake, timeout).await;
    let back_calls = node_calls_jira(jira_fake, from);
    let j0 = full(jira.as_ref(), &keys[0]).await?;
    steps.push(Step {
        step: "close + comment in GitHub".into(),
        ms: t.elapsed().as_millis(),
        detail: format!(
            "{g0} closed with a comment -> {} is {:?} with {} comments; {back_calls} Jira calls{}",
            keys[0],
            j0.status_name().unwrap_or("-"),
            j0.comments.len(),
            if quiet_back {
                ""
            } else {
                " (queues did NOT drain)"
            }
        ),
    });

    // 4. Both sides edit the same issue at once: different fields merge.
    let t = Instant::now();
    let g1 = twin_key(&keys[1]).await?;
    let gh_issue = people[1]
        .github(
            reqwest::Method::GET,
            &format!("/repos/{REPO}/issues/{}", number(&g1)),
            None,
        )
        .await?;
    let mut labels: Vec<String> = gh_issue["labels"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_string))
                .filter(|x| !x.starts_with("priority: "))
                .collect()
        })
        .unwrap_or_default();
    labels.push("priority: highest".into());
    let jira_path = format!("/issue/{}", keys[1]);
    let github_path = format!("/repos/{REPO}/issues/{}", number(&g1));
    let (rj, rg) = tokio::join!(
        people[1].jira(
            reqwest::Method::PUT,
            &jira_path,
            Some(
                json!({"fields": {"summary": "Checkout fails for order #1 (card payments only)"}})
            ),
        ),
        people[2].github(
            reqwest::Method::PATCH,
            &github_path,
            Some(json!({"labels": labels})),
        ),
    );
    rj?;
    rg?;
    let quiet_merge = settle(&nodes, jira_fake, github_fake, timeout).await;
    let (m1j, m1g) = (
        full(jira.as_ref(), &keys[1]).await?,
        full(github.as_ref(), &g1).await?,
    );
    steps.push(Step {
        step: "concurrent edit, two fields".into(),
        ms: t.elapsed().as_millis(),
        detail: format!(
            "Jira changed the summary while GitHub changed the priority label -> Jira {:?}/{:?}, GitHub {:?}/{:?}{}",
            m1j.summary,
            m1j.priority_name().unwrap_or("-"),
            m1g.summary,
            m1g.labels.iter().find(|l| l.starts_with("priority: ")).map(String::as_str).unwrap_or("-"),
            if quiet_merge { "" } else { " (queues did NOT drain)" }
        ),
    });

    // 5. Compare every pair; count issues per origin marker on both sides.
    let t = Instant::now();
    let mut mismatches = Vec::new();
    let mut comments_synced = 0;
    for key in &keys {
        let x = full(jira.as_ref(), key).await?;
        let gk = match twin_key(key).await {
            Ok(k) => k,
            Err(e) => {
                mismatches.push(e);
                continue;
            }
        };
        let y = full(github.as_ref(), &gk).await?;
        compare(&x, &y, &mut mismatches);
        comments_synced += x.comments.len().min(y.comments.len());
    }
    let mut origins = HashMap::<String, usize>::new();
    let mut page = None;
    let mut github_issues = 0;
    loop {
        let p = match github.search_updated("", 0, page.clone()).await {
            Ok(p) => p,
            Err(e) => match e.retry_after_ms() {
                Some(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    continue;
                }
                None => return Err(e.to_string()),
            },
        };
        for i in &p.items {
            github_issues += 1;
            *origins
                .entry(i.origin.clone().unwrap_or_default())
                .or_default() += 1;
        }
        match p.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    let jira_issues = jira_fake.issue_count(PROJECT);
    let duplicates = origins.values().map(|c| c.saturating_sub(1)).sum::<usize>()
        + jira_issues.saturating_sub(n);
    steps.push(Step {
        step: "compare".into(),
        ms: t.elapsed().as_millis(),
        detail: format!(
            "{n} pairs compared field by field: {} mismatches; {jira_issues} Jira issues, {github_issues} GitHub issues, {duplicates} duplicates; {} 429s from Jira and {} from GitHub; {} webhook deliveries from Jira, {} from GitHub",
            mismatches.len(),
            jira_fake.exchanges().iter().filter(|e| e.status == 429).count(),
            github_fake.exchanges().iter().filter(|e| e.status == 429 || e.status == 403).count(),
            jira_fake.deliveries().len(),
            github_fake.deliveries().len(),
        ),
    });
    let elapsed = started.elapsed();
    Ok(DemoReport {
        converged: mismatches.is_empty()
            && quiet
            && quiet_edit
            && quiet_comment
            && quiet_back
            && quiet_merge,
        items_a_to_b: github_issues,
        items_b_to_a: 0,
        comments_synced,
        duplicates,
        conflicts: 0,
        mismatches,
        elapsed_ms: elapsed.as_millis(),
        items_per_second: n as f64 / elapsed.as_secs_f64().max(0.001),
        steps,
    })
}

/// Reads an item, waiting out the fakes' 429s as the nodes do.
async fn full(tracker: &dyn Tracker, key: &str) -> Result<Item, String> {
    for _ in 0..20 {
        match tracker.get_item(key).await {
            Ok(Some(item)) => return Ok(item),
            Ok(None) => return Err(format!("{key} is missing")),
            Err(e) => match e.retry_after_ms() {
                Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                None => return Err(e.to_string()),
            },
        }
    }
    Err(format!("{key}: still rate limited"))
}

/// A Jira issue and its GitHub twin agree under the default rules.
fn compare(x: &Item, y: &Item, mismatches: &mut Vec<String>) {
    let pair = format!("{}/{}", x.key, y.key);
    if x.summary != y.summary {
        mismatches.push(format!(
            "{pair}: summary {:?} vs {:?}",
            x.summary, y.summary
        ));
    }
    if x.description != y.description {
        mismatches.push(format!(
            "{pair}: description {:?} vs {:?}",
            x.description, y.description
        ));
    }
    let state = x.status_name().map(github_state);
    if state != y.status_name() {
        mismatches.push(format!(
            "{pair}: status {:?} vs {:?}",
            x.status_name(),
            y.status_name()
        ));
    }
    let priority_label = x
        .priority_name()
        .map(|p| format!("priority: {}", p.to_lowercase()));
    let mut want = x.labels.clone();
    want.extend(priority_label);
    let (mut a, mut b) = (want, y.labels.clone());
    a.sort();
    b.sort();
    if a != b {
        mismatches.push(format!("{pair}: labels {a:?} vs {b:?}"));
    }
    if x.assignee_email() != y.assignee_email() {
        mismatches.push(format!(
            "{pair}: assignee {:?} vs {:?}",
            x.assignee_email(),
            y.assignee_email()
        ));
    }
    if x.comments.len() != y.comments.len() {
        mismatches.push(format!(
            "{pair}: {} comments vs {}",
            x.comments.len(),
            y.comments.len()
        ));
    }
}
