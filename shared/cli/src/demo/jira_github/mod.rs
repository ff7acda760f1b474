//! `twinsync demo --pair jira-github`: the demo scenario between a fake Jira Cloud and a
//! fake GitHub, both started in this process (the fakes follow the vendors' contracts;
//! see `twinsync_fakes::jira` and `twinsync_fakes::github`). People work in the trackers
//! through the vendors' REST APIs with their own tokens; the nodes sync with theirs.
//! Both fakes answer some requests with 429s and secondary limits along the way.

use super::common::{DemoArgs, DemoReport, PEOPLE, for_each_limited, full, twin_key};
use super::runner::{self, Outcome, Runner};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_core::Item;
use twinsync_fakes::github::{FakeGithub, Fault as GithubFault};
use twinsync_fakes::jira::{FakeJira, Fault as JiraFault};
use twinsync_jira::adf;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_local::quiet::wait_quiet;

pub(crate) mod setup;

use setup::{BOT_EMAIL, BOT_LOGIN, DemoCa, PROJECT, Person, REPO, config};

/// GitHub's status for a Jira status under the default rules.
fn github_state(jira: &str) -> &'static str {
    if jira == "Done" { "closed" } else { "open" }
}

pub async fn scenario(args: &DemoArgs) -> Result<DemoReport, String> {
    let started = Instant::now();
    let ca = DemoCa::new()?;
    let (jira_fake, github_fake) = setup::start_fakes(&ca).await?;
    let (process, _dir) = runner::start(
        args,
        &config(&jira_fake.url, &github_fake.url, &ca.file),
        ProcessOptions::default(),
    )
    .await?;
    let people_http = ca.client()?;
    let result = steps(
        &process,
        (&jira_fake, &github_fake),
        people_http,
        args,
        Runner::new(started),
    )
    .await;
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
/// What a person's Markdown is in Jira's document format.
fn markdown(text: &str) -> Result<serde_json::Value, String> {
    adf::from_markdown(text).map_err(|e| e.to_string())
}

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
    (jira_fake, github_fake): (&FakeJira, &FakeGithub),
    people_http: reqwest::Client,
    args: &DemoArgs,
    mut run: Runner,
) -> Result<DemoReport, String> {
    let node_j = process.node("node-j").ok_or("node-j missing")?.clone();
    let node_g = process.node("node-g").ok_or("node-g missing")?.clone();
    let nodes = vec![node_j.clone(), node_g.clone()];
    let jira = node_j.tracker("jira").map_err(|e| e.to_string())?;
    let github = node_g.tracker("github").map_err(|e| e.to_string())?;
    let people: Vec<Person> = PEOPLE
        .iter()
        .map(|(email, _)| Person {
            http: people_http.clone(),
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
    // The trackers push back now and then, as real ones do under load: every 40th
    // request is a 429, and a few more come at the start.
    jira_fake.inject([JiraFault::TooManyRequests(1), JiraFault::TooManyRequests(2)]);
    github_fake.inject([
        GithubFault::TooManyRequests(1),
        GithubFault::SecondaryLimit(1),
    ]);

    // 1. People create issues in Jira, each with a comment; they reach GitHub.
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
                        "description": markdown(&format!(
                            "## Steps\n\n1. Add item {i} to the cart\n2. Pay with **card**\n\n`HTTP 502` from `/pay`."
                        ))?,
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
                    Some(json!({"body": markdown(&format!("Customer **Acme** is affected (#{i})."))?})),
                )
                .await?;
            Ok(key)
        }
    })
    .await?;
    run.settle(settle(&nodes, jira_fake, github_fake, timeout))
        .await;
    let created_calls = node_calls_github(github_fake, github_from) as f64 / n as f64;
    let read_calls = node_calls_jira(jira_fake, jira_from) as f64 / n as f64;
    run.record(
        "create in Jira",
        format!(
            "{n} issues with a comment created in Jira (both trackers on HTTPS, certificates from the demo's CA); {created_calls:.1} GitHub calls and {read_calls:.1} Jira calls per item"
        ),
    );

    let number = |gh_key: &str| gh_key.rsplit('#').next().unwrap_or("0").to_string();

    // 2. One field edit and one comment in Jira, each measured at GitHub.
    let from = github_fake.exchanges().len();
    people[1]
        .jira(
            reqwest::Method::PUT,
            &format!("/issue/{}", keys[2]),
            Some(json!({"fields": {"summary": "Checkout fails for order #2 (all cards)"}})),
        )
        .await?;
    run.settle(settle(&nodes, jira_fake, github_fake, timeout))
        .await;
    let edit_calls = node_calls_github(github_fake, from);
    let from = github_fake.exchanges().len();
    people[2]
        .jira(
            reqwest::Method::POST,
            &format!("/issue/{}/comment", keys[2]),
            Some(json!({"body": markdown("Also on *mobile*.")?})),
        )
        .await?;
    run.settle(settle(&nodes, jira_fake, github_fake, timeout))
        .await;
    let comment_calls = node_calls_github(github_fake, from);
    run.record(
        "edit + comment in Jira",
        format!(
            "{}: summary edit -> {edit_calls} GitHub calls; a comment -> {comment_calls} GitHub calls",
            keys[2],
        ),
    );

    // 3. Someone closes an issue in GitHub with a comment; Jira moves it to Done.
    let g0 = twin_key(&node_j, &keys[0]).await?;
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
    run.settle(settle(&nodes, jira_fake, github_fake, timeout))
        .await;
    let back_calls = node_calls_jira(jira_fake, from);
    let j0 = full(jira.as_ref(), &keys[0]).await?;
    run.record(
        "close + comment in GitHub",
        format!(
            "{g0} closed with a comment -> {} is {:?} with {} comments; {back_calls} Jira calls",
            keys[0],
            j0.status_name().unwrap_or("-"),
            j0.comments.len(),
        ),
    );

    // 4. Both sides edit the same issue at once: different fields merge.
    let g1 = twin_key(&node_j, &keys[1]).await?;
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
    run.settle(settle(&nodes, jira_fake, github_fake, timeout))
        .await;
    let (m1j, m1g) = (
        full(jira.as_ref(), &keys[1]).await?,
        full(github.as_ref(), &g1).await?,
    );
    run.record(
        "concurrent edit, two fields",
        format!(
            "Jira changed the summary while GitHub changed the priority label -> Jira {:?}/{:?}, GitHub {:?}/{:?}",
            m1j.summary,
            m1j.priority_name().unwrap_or("-"),
            m1g.summary,
            m1g.labels.iter().find(|l| l.starts_with("priority: ")).map(String::as_str).unwrap_or("-"),
        ),
    );

    // 5. Compare every pair; count issues per origin marker on both sides.
    let mut mismatches = Vec::new();
    let mut comments_synced = 0;
    for key in &keys {
        let x = full(jira.as_ref(), key).await?;
        let gk = match twin_key(&node_j, key).await {
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
    run.record(
        "compare",
        format!(
            "{n} pairs compared field by field: {} mismatches; {jira_issues} Jira issues, {github_issues} GitHub issues, {duplicates} duplicates; {} 429s from Jira and {} from GitHub; {} webhook deliveries from Jira, {} from GitHub",
            mismatches.len(),
            jira_fake.exchanges().iter().filter(|e| e.status == 429).count(),
            github_fake.exchanges().iter().filter(|e| e.status == 429 || e.status == 403).count(),
            jira_fake.deliveries().len(),
            github_fake.deliveries().len(),
        ),
    );
    Ok(run.report(Outcome {
        items: n,
        items_a_to_b: github_issues,
        comments_synced,
        duplicates,
        mismatches,
        ..Outcome::default()
    }))
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
