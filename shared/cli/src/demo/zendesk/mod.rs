//! `twinsync demo --pair zendesk-jira` and `--pair zendesk-sandbox`: agents work tickets
//! in a fake Zendesk (over HTTPS with the demo's CA when paired with the fake Jira) while
//! a node syncs them with the other tracker. Agents create tickets with a public reply
//! and an internal note, solve one, edit one while someone changes its twin, and comment
//! on the other side; both fakes answer every 40th request with a 429. The report counts
//! duplicates by origin marker on both sides.

pub mod setup;

use super::ca::DemoCa;
use super::common::{DemoArgs, DemoReport, PEOPLE, for_each_limited, full, patiently, twin_key};
use super::jira_github::setup::start_jira;
use super::runner::{self, Outcome, Runner};
use serde_json::{Value, json};
use setup::{GROUP, person_token, start_zendesk};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_core::{Item, ItemUpdate};
use twinsync_fakes::deliveries::Deliveries;
use twinsync_fakes::zendesk::FakeZendesk;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_local::quiet::wait_quiet;
use twinsync_ports::Tracker;
use twinsync_tls::Transport;

/// The tracker on the other side of Zendesk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    Jira,
    Sandbox,
}

/// An agent working in Zendesk through its REST API with their own API token, waiting
/// out 429s as Zendesk asks.
#[derive(Clone)]
struct Agent {
    http: reqwest::Client,
    url: String,
    email: String,
}

impl Agent {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let url = format!("{}/api/v2{path}", self.url);
        for _ in 0..10 {
            let resp = self
                .http
                .request(method.clone(), &url)
                .basic_auth(
                    format!("{}/token", self.email),
                    Some(person_token(&self.email)),
                )
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
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
            return serde_json::from_str(&text).map_err(|e| e.to_string());
        }
        Err(format!("{method} {url}: still rate limited after 10 tries"))
    }

    async fn comment(&self, id: &str, markdown: &str, public: bool) -> Result<(), String> {
        let html = twinsync_zendesk::html::to_html(markdown);
        self.call(
            reqwest::Method::PUT,
            &format!("/tickets/{id}.json"),
            json!({"ticket": {"comment": {"html_body": html, "public": public}}}),
        )
        .await
        .map(|_| ())
    }
}

/// Zendesk's status for the other side's under the default rules, by meaning.
fn finished(status: &str) -> bool {
    matches!(
        status.to_ascii_lowercase().as_str(),
        "solved" | "closed" | "done"
    )
}

pub async fn scenario(args: &DemoArgs, other: Other) -> Result<DemoReport, String> {
    let started = Instant::now();
    let ca = DemoCa::new()?;
    let (zendesk_fake, jira_fake, config, http) = match other {
        Other::Jira => {
            let zd = start_zendesk(ca.server(), 40).await?;
            let jira = start_jira(&ca).await?;
            let config = setup::jira_config(&zd.url, &jira.url, &ca.file);
            (zd, Some(jira), config, ca.client()?)
        }
        Other::Sandbox => {
            let zd = start_zendesk(Transport::Plain, 40).await?;
            let config = setup::sandbox_config(&zd.url);
            (zd, None, config, reqwest::Client::new())
        }
    };
    let (process, _dir) = runner::start(args, &config, ProcessOptions::default()).await?;
    let mut webhooks = process.webhooks();
    webhooks.push(zendesk_fake.webhooks());
    webhooks.extend(jira_fake.as_ref().map(|j| j.webhooks()));
    let result = steps(
        &process,
        &zendesk_fake,
        &webhooks,
        http,
        args,
        other,
        Runner::new(started),
    )
    .await;
    process.stop().await;
    result
}

async fn steps(
    process: &Process,
    zd_fake: &FakeZendesk,
    webhooks: &[Arc<Deliveries>],
    http: reqwest::Client,
    args: &DemoArgs,
    other: Other,
    mut run: Runner,
) -> Result<DemoReport, String> {
    let other_node = if other == Other::Jira {
        "node-j"
    } else {
        "node-s"
    };
    let node_z = process.node("node-z").ok_or("node-z missing")?.clone();
    let node_o = process
        .node(other_node)
        .ok_or("the other node is missing")?
        .clone();
    let nodes = vec![node_z.clone(), node_o.clone()];
    let zendesk = node_z.tracker("zendesk").map_err(|e| e.to_string())?;
    let other_tracker = node_o
        .tracker(if other == Other::Jira {
            "jira"
        } else {
            "sandbox"
        })
        .map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(120 + (args.items as u64) / 4);
    let settle = || wait_quiet(&nodes, webhooks, timeout);
    let n = args.items.max(3);
    let agents: Vec<Agent> = PEOPLE
        .iter()
        .map(|(email, _)| Agent {
            http: http.clone(),
            url: zd_fake.url.clone(),
            email: email.to_string(),
        })
        .collect();
    let mut ids = HashMap::new();
    for a in &agents {
        let found = a
            .call(
                reqwest::Method::GET,
                &format!("/users/search.json?query=email:{}", a.email),
                json!({}),
            )
            .await?;
        if let Some(id) = found["users"][0]["id"].as_u64() {
            ids.insert(a.email.clone(), id);
        }
    }
    let group = zd_fake.group_id(GROUP).ok_or("no group")?;

    // 1. Agents create tickets, each with a public reply and an internal note.
    let ids = Arc::new(ids);
    let keys = for_each_limited(n, 4, |i| {
        let agent = agents[i % agents.len()].clone();
        let assignee = ids.get(PEOPLE[(i + 1) % PEOPLE.len()].0).copied();
        async move {
            let description = format!(
                "## Steps\n\n1. Add item {i} to the cart\n2. Pay with **card**\n\n`HTTP 502` from `/pay`."
            );
            let created = agent
                .call(
                    reqwest::Method::POST,
                    "/tickets.json",
                    json!({"ticket": {
                        "subject": format!("Checkout fails for order #{i}"),
                        "comment": {"html_body": twinsync_zendesk::html::to_html(&description)},
                        "tags": ["sync", format!("team-{}", i % 4)],
                        "priority": (["low", "normal", "high"][i % 3]),
                        "group_id": group,
                        "assignee_id": assignee,
                    }}),
                )
                .await?;
            let id = created["ticket"]["id"]
                .as_u64()
                .ok_or("Zendesk gave no id")?
                .to_string();
            agent.comment(&id, &format!("Customer **Acme** is affected (#{i})."), true).await?;
            Ok(id)
        }
    })
    .await?;
    run.settle(settle()).await;
    run.record(
        "create in Zendesk",
        format!("{n} tickets, each with a public reply, created by agents in Zendesk"),
    );
    // Then an internal note on each, once the twins exist.
    for_each_limited(n, 4, |i| {
        let agent = agents[i % agents.len()].clone();
        let id = keys[i].clone();
        async move {
            agent
                .comment(&id, "Looks like the gateway timeout.", false)
                .await?;
            Ok(id)
        }
    })
    .await?;
    run.settle(settle()).await;
    run.record(
        "internal notes",
        format!("an internal note on each of the {n} tickets"),
    );

    // 2. An agent solves a ticket; someone comments on another's twin.
    agents[0]
        .call(
            reqwest::Method::PUT,
            &format!("/tickets/{}.json", keys[0]),
            json!({"ticket": {"status": "solved"}}),
        )
        .await?;
    let o1 = twin_key(&node_z, &keys[1]).await?;
    patiently(async || {
        other_tracker
            .add_comment(&o1, "Reproduced on *staging*.", None, None)
            .await
    })
    .await?;
    run.settle(settle()).await;
    let o0 = full(other_tracker.as_ref(), &twin_key(&node_z, &keys[0]).await?).await?;
    let z1 = full(zendesk.as_ref(), &keys[1]).await?;
    run.record(
        "solve + comment on the twin",
        format!(
            "ticket {} solved -> its twin is {:?}; a comment on {o1} -> ticket {} has {} comments",
            keys[0],
            o0.status_name().unwrap_or("-"),
            keys[1],
            z1.comments.len()
        ),
    );

    // 3. Both sides edit the same ticket at once: different fields merge.
    let o2 = twin_key(&node_z, &keys[2]).await?;
    let path = format!("/tickets/{}.json", keys[2]);
    let subject = agents[1].call(
        reqwest::Method::PUT,
        &path,
        json!({"ticket": {"subject": "Checkout fails for order #2 (all cards)"}}),
    );
    let highest = ItemUpdate {
        // Jira's and the sandbox's highest priority have the same name.
        priority: Some("Highest".into()),
        ..ItemUpdate::default()
    };
    let priority = patiently(async || other_tracker.update_item(&o2, &highest).await);
    let (rs, rp) = tokio::join!(subject, priority);
    rs?;
    rp?;
    run.settle(settle()).await;
    let (z2, t2) = (
        full(zendesk.as_ref(), &keys[2]).await?,
        full(other_tracker.as_ref(), &o2).await?,
    );
    run.record(
        "concurrent edit, two fields",
        format!(
            "Zendesk changed the subject while {o2} changed the priority -> Zendesk {:?}/{:?}, twin {:?}/{:?}",
            z2.summary,
            z2.priority_name().unwrap_or("-"),
            t2.summary,
            t2.priority_name().unwrap_or("-"),
        ),
    );

    // 4. Compare every pair; count tickets per origin marker on both sides.
    let mut mismatches = Vec::new();
    let mut comments_synced = 0;
    let mut twins = 0;
    for key in &keys {
        let z = full(zendesk.as_ref(), key).await?;
        let ok = match twin_key(&node_z, key).await {
            Ok(k) => k,
            Err(e) => {
                mismatches.push(e);
                continue;
            }
        };
        twins += 1;
        let o = full(other_tracker.as_ref(), &ok).await?;
        compare(&z, &o, &mut mismatches);
        comments_synced += z.comments.len().min(o.comments.len());
    }
    let tickets = zd_fake.ticket_count(None);
    let mut by_origin = HashMap::<String, usize>::new();
    for e in zd_fake.external_ids().into_iter().flatten() {
        *by_origin.entry(e).or_default() += 1;
    }
    let other_items = count_items(other_tracker.as_ref()).await?;
    // Every ticket has one twin: more items on the other side, or more tickets, or two
    // tickets with one origin, are duplicates.
    let duplicates = by_origin
        .values()
        .map(|c| c.saturating_sub(1))
        .sum::<usize>()
        + tickets.saturating_sub(n)
        + other_items.saturating_sub(n);
    let throttled = zd_fake
        .exchanges()
        .iter()
        .filter(|e| e.status == 429)
        .count();
    run.record(
        "compare",
        format!(
            "{n} pairs compared field by field: {} mismatches; {tickets} Zendesk tickets, {other_items} items on the other side, {duplicates} duplicates; {throttled} 429s from Zendesk; {} webhook deliveries from Zendesk",
            mismatches.len(),
            zd_fake.deliveries().len(),
        ),
    );
    Ok(run.report(Outcome {
        items: n,
        items_a_to_b: twins,
        comments_synced,
        duplicates,
        mismatches,
        ..Outcome::default()
    }))
}

/// Every item of the other side's project, its 429s waited out.
async fn count_items(tracker: &dyn Tracker) -> Result<usize, String> {
    let mut count = 0;
    let mut page = None;
    loop {
        let p = patiently(async || tracker.search_updated("", 0, page.clone()).await).await?;
        count += p.items.len();
        match p.next {
            Some(next) => page = Some(next),
            None => return Ok(count),
        }
    }
}

/// A ticket and its twin agree under the default rules.
fn compare(z: &Item, o: &Item, mismatches: &mut Vec<String>) {
    let pair = format!("{}/{}", z.key, o.key);
    let html = twinsync_zendesk::html::to_html;
    if z.summary != o.summary {
        mismatches.push(format!(
            "{pair}: summary {:?} vs {:?}",
            z.summary, o.summary
        ));
    }
    if html(&z.description) != html(&o.description) {
        mismatches.push(format!(
            "{pair}: description {:?} vs {:?}",
            z.description, o.description
        ));
    }
    let (zs, os) = (z.status_name().unwrap_or(""), o.status_name().unwrap_or(""));
    if finished(zs) != finished(os) {
        mismatches.push(format!("{pair}: status {zs:?} vs {os:?}"));
    }
    let lower = |l: &[String]| {
        let mut v: Vec<String> = l.iter().map(|x| x.to_ascii_lowercase()).collect();
        v.sort();
        v
    };
    if lower(&z.labels) != lower(&o.labels) {
        mismatches.push(format!("{pair}: labels {:?} vs {:?}", z.labels, o.labels));
    }
    if z.assignee_email() != o.assignee_email() {
        mismatches.push(format!(
            "{pair}: assignee {:?} vs {:?}",
            z.assignee_email(),
            o.assignee_email()
        ));
    }
    if z.comments.len() != o.comments.len() {
        let bodies = |i: &Item| -> Vec<String> {
            i.comments
                .iter()
                .map(|c| c.body.chars().take(40).collect())
                .collect()
        };
        mismatches.push(format!(
            "{pair}: {} comments vs {}: {:?} vs {:?}",
            z.comments.len(),
            o.comments.len(),
            bodies(z),
            bodies(o)
        ));
    }
}
