//! `twinsync demo --pair servicenow-sandbox`, `--pair jira-servicenow` and `--pair
//! ado-servicenow`: people open incidents in a fake ServiceNow (each with a comment and a
//! work note), and they reach the other tracker (a sandbox, the fake Jira or the fake
//! Azure DevOps); an edit and a comment follow; the
//! other side resolves one, which ServiceNow takes with a close code and notes; both
//! sides edit one at once. Both fakes speak HTTPS with the demo's CA and answer some
//! requests with 429s; the ServiceNow node gets pushes from the business rule and polls.

pub mod setup;

use super::ca::DemoCa;
use super::common::{
    DemoArgs, DemoReport, PEOPLE, PROJECT_B, Pair, for_each_limited, full, patiently, twin_key,
};
use super::jira_github::setup as jira_setup;
use super::runner::{self, Outcome, Runner};
use serde_json::json;
use setup::Person;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_core::{ConnectorKind, Item, ItemUpdate};
use twinsync_fakes::deliveries::Deliveries;
use twinsync_fakes::servicenow::{FakeServiceNow, Fault};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::config::{
    ConnectionSection, InstanceSection, NodeSection, ProcessConfig, ProjectSection, SandboxSection,
    TriggerSection,
};

const CONNECTION: &str = super::common::CONNECTION;

/// The other side's name for a ServiceNow state and priority under the default rules.
/// Azure DevOps has states of its own for each meaning, compared by [`stage`].
fn other_status(other: ConnectorKind, state: &str) -> &'static str {
    match (other, state) {
        (ConnectorKind::Ado, s) => stage(s),
        (_, "Resolved" | "Closed" | "Canceled") => "Done",
        (_, "In Progress" | "On Hold") => "In Progress",
        (ConnectorKind::Jira, _) => "To Do",
        _ => "Open",
    }
}

fn other_priority(other: ConnectorKind, priority: &str) -> &'static str {
    match (other, priority) {
        (ConnectorKind::Ado, "Critical") => "1",
        (ConnectorKind::Ado, "High") => "2",
        (ConnectorKind::Ado, "Moderate") => "3",
        (ConnectorKind::Ado, _) => "4",
        (_, "Critical") => "Highest",
        (_, "High") => "High",
        (_, "Moderate") => "Medium",
        (ConnectorKind::Jira, "Planning") => "Lowest",
        _ => "Low",
    }
}

/// What a state means, in either tracker's words: open, active or done.
fn stage(state: &str) -> &'static str {
    match state {
        "Resolved" | "Closed" | "Canceled" | "Removed" | "Done" => "done",
        "In Progress" | "On Hold" | "Active" => "active",
        _ => "open",
    }
}

fn node(id: &str, instance: InstanceSection, connection: ConnectionSection) -> NodeSection {
    NodeSection {
        id: id.into(),
        data_dir: id.into(),
        listen: "127.0.0.1:0".into(),
        admin_listen: "127.0.0.1:0".into(),
        // Pushes bring the changes; polling is the safety net.
        poll_interval_ms: 5_000,
        instance: vec![instance],
        connection: vec![connection],
        ..Default::default()
    }
}

fn connection(
    instance: &str,
    remote: &str,
    target: &str,
    trigger: &str,
    local: ConnectorKind,
) -> ConnectionSection {
    ConnectionSection {
        id: CONNECTION.into(),
        name: "Demo: ServiceNow pair".into(),
        instance: instance.into(),
        remote_node: remote.into(),
        target_project: target.into(),
        // The pair's default maps: a config names no pair, so they are spelled out here.
        helper_maps: Some(
            twinsync_rules::defaults::for_pair(local, ConnectorKind::ServiceNow).helper_maps,
        )
        .filter(|m| *m != twinsync_core::NodeHelperMaps::default()),
        trigger: vec![TriggerSection {
            id: None,
            query: trigger.into(),
        }],
        ..Default::default()
    }
}

/// Both nodes: node-s with the ServiceNow, node-x with the other tracker.
pub fn config(servicenow: InstanceSection, other: InstanceSection) -> ProcessConfig {
    let kind = other.connector;
    let (sandbox, target, trigger) = match kind {
        ConnectorKind::Sandbox => (
            vec![SandboxSection {
                id: "b".into(),
                listen: "127.0.0.1:0".into(),
                db: Some("sandbox-b.db".into()),
                token: None,
                projects: vec![ProjectSection {
                    key: PROJECT_B.into(),
                    name: "Support".into(),
                    statuses: None,
                    priorities: None,
                }],
                budget: None,
            }],
            PROJECT_B.to_string(),
            "project = SUPPORT AND labels = escalate".to_string(),
        ),
        ConnectorKind::Ado => (
            vec![],
            super::ado::setup::PROJECT.to_string(),
            "labels = sync".to_string(),
        ),
        _ => (
            vec![],
            jira_setup::PROJECT.to_string(),
            "project = DEMO AND labels = sync".to_string(),
        ),
    };
    let other_id = other.id.clone();
    ProcessConfig {
        sandbox,
        node: vec![
            node(
                "node-s",
                servicenow,
                connection(
                    "servicenow",
                    "node-x",
                    setup::TABLE,
                    &setup::trigger(),
                    ConnectorKind::ServiceNow,
                ),
            ),
            node(
                "node-x",
                other,
                connection(&other_id, "node-s", &target, &trigger, kind),
            ),
        ],
    }
}

/// The other side's instance for `pair`: a sandbox of this process, the fake Jira or the
/// fake Azure DevOps.
fn other_instance(pair: Pair, others: &Others, ca: &DemoCa) -> InstanceSection {
    match (pair, others) {
        (Pair::JiraServicenow, Others { jira: Some(j), .. }) => {
            jira_setup::jira_instance(&j.url, &ca.file)
        }
        (Pair::AdoServicenow, Others { ado: Some(a), .. }) => {
            super::ado::setup::instance("ado", a, Some(&ca.file))
        }
        _ => InstanceSection {
            id: "sandbox-b".into(),
            connector: ConnectorKind::Sandbox,
            base_url: "sandbox:b".into(),
            webhook_secret: "servicenow-demo-sandbox-secret".into(),
            register_webhook: true,
            ..Default::default()
        },
    }
}

pub async fn scenario(args: &DemoArgs) -> Result<DemoReport, String> {
    let started = Instant::now();
    let ca = DemoCa::new()?;
    let sn = setup::start(&ca).await?;
    let others = Others {
        jira: match args.pair {
            Pair::JiraServicenow => Some(jira_setup::start_jira(&ca).await?),
            _ => None,
        },
        ado: match args.pair {
            Pair::AdoServicenow => Some(super::ado::setup::start_fake(&ca).await?),
            _ => None,
        },
    };
    let config = config(
        setup::instance("servicenow", &sn.url, &ca.file),
        other_instance(args.pair, &others, &ca),
    );
    let (process, _dir) = runner::start(args, &config, ProcessOptions::default()).await?;
    let mut hooks = process.webhooks();
    hooks.push(sn.webhooks());
    hooks.extend(others.jira.as_ref().map(|j| j.webhooks()));
    hooks.extend(others.ado.as_ref().map(|a| a.webhooks()));
    let result = steps(
        &process,
        &sn,
        hooks,
        ca.client()?,
        args,
        Runner::new(started),
    )
    .await;
    process.stop().await;
    result
}

/// The fakes of the other side, started for the pairs that have one.
struct Others {
    jira: Option<twinsync_fakes::jira::FakeJira>,
    ado: Option<twinsync_fakes::ado::FakeAdo>,
}

async fn steps(
    process: &Process,
    sn: &FakeServiceNow,
    hooks: Vec<Arc<Deliveries>>,
    http: reqwest::Client,
    args: &DemoArgs,
    mut run: Runner,
) -> Result<DemoReport, String> {
    let node_s = process.node("node-s").ok_or("node-s missing")?.clone();
    let node_x = process.node("node-x").ok_or("node-x missing")?.clone();
    let nodes = vec![node_s.clone(), node_x.clone()];
    let servicenow = node_s.tracker("servicenow").map_err(|e| e.to_string())?;
    let other_id = match args.pair {
        Pair::JiraServicenow => "jira",
        Pair::AdoServicenow => "ado",
        _ => "sandbox-b",
    };
    let other = node_x.tracker(other_id).map_err(|e| e.to_string())?;
    let kind = other.kind();
    let timeout = Duration::from_secs(120 + (args.items as u64) / 4);
    let settle = || twinsync_local::quiet::wait_quiet(&nodes, &hooks, timeout);
    let people: Vec<Person> = PEOPLE
        .iter()
        .map(|(email, _)| Person {
            http: http.clone(),
            url: sn.url.clone(),
            email: email.to_string(),
        })
        .collect();
    let mut user_ids = HashMap::new();
    for p in &people {
        user_ids.insert(
            p.email.clone(),
            p.sys_id("sys_user", &format!("email={}", p.email)).await?,
        );
    }
    let user_ids = Arc::new(user_ids);
    let n = args.items.max(3);
    // The instance pushes back now and then, as rate limit rules do: every 40th request
    // is a 429, and a few more come at the start.
    sn.inject([Fault::TooManyRequests(1), Fault::TooManyRequests(2)]);

    // 1. People open incidents, each with a comment and a work note.
    let numbers = for_each_limited(n, 4, |i| {
        let person = people[i % people.len()].clone();
        let assignee = user_ids.get(PEOPLE[(i + 1) % PEOPLE.len()].0).cloned();
        let caller = user_ids.get(&person.email).cloned();
        let (impact, urgency) = [("1", "2"), ("2", "2"), ("2", "3")][i % 3];
        async move {
            let (number, sys_id) = person
                .open_incident(json!({
                    "short_description": format!("Checkout fails for order #{i}"),
                    "description": format!("Adding item {i} to the cart and paying with a card fails with HTTP 502."),
                    "impact": impact, "urgency": urgency,
                    "caller_id": caller, "assigned_to": assignee,
                }))
                .await?;
            person
                .update(&sys_id, json!({
                    "comments": format!("We are looking into it (#{i})."),
                    "work_notes": format!("Gateway logs show timeouts (#{i})."),
                }))
                .await?;
            Ok(number)
        }
    })
    .await?;
    run.settle(settle()).await;
    run.record(
        "open in ServiceNow",
        format!("{n} incidents, each with a comment and a work note, opened in ServiceNow over HTTPS; {} pushes from the business rule so far", sn.deliveries().len()),
    );

    // 2. An edit and a comment in ServiceNow.
    let sys_id = |number: &str| {
        sn.records(setup::TABLE)
            .into_iter()
            .find(|r| r.get("number").map(String::as_str) == Some(number))
            .and_then(|r| r.get("sys_id").cloned())
            .ok_or(format!("no incident {number}"))
    };
    people[1]
        .update(
            &sys_id(&numbers[2])?,
            json!({"short_description": "Checkout fails for order #2 (all cards)"}),
        )
        .await?;
    people[2]
        .update(
            &sys_id(&numbers[2])?,
            json!({"comments": "Also on mobile."}),
        )
        .await?;
    run.settle(settle()).await;
    run.record(
        "edit + comment in ServiceNow",
        format!("{}: short description edited, one more comment", numbers[2]),
    );

    // 3. The other side resolves an incident's twin with a comment.
    let x0 = twin_key(&node_s, &numbers[0]).await?;
    // Done in the other tracker's words (Azure DevOps closes a Task).
    let ado = kind == ConnectorKind::Ado;
    let done = ItemUpdate {
        status: Some(if ado { "Closed" } else { "Done" }.into()),
        ..ItemUpdate::default()
    };
    patiently(async || other.update_item(&x0, &done).await).await?;
    patiently(async || {
        other
            .add_comment(&x0, "Fixed by the gateway timeout change.", None, None)
            .await
    })
    .await?;
    run.settle(settle()).await;
    let resolved = sn
        .records(setup::TABLE)
        .into_iter()
        .find(|r| r.get("number") == Some(&numbers[0]))
        .unwrap_or_default();
    let get = |k: &str| resolved.get(k).cloned().unwrap_or_default();
    run.record(
        "resolve on the other side",
        format!(
            "{kind} {x0} {} with a comment -> {} state {} with close code {:?} and close notes {:?}",
            done.status.as_deref().unwrap_or(""),
            numbers[0],
            get("state"),
            get("close_code"),
            get("close_notes")
        ),
    );

    // 4. Both sides edit the same incident at once: different fields merge.
    let x1 = twin_key(&node_s, &numbers[1]).await?;
    let s1 = sys_id(&numbers[1])?;
    let raise = ItemUpdate {
        priority: Some(if ado { "1" } else { "Highest" }.into()),
        ..ItemUpdate::default()
    };
    let (rs, rx) = tokio::join!(
        people[0].update(
            &s1,
            json!({"short_description": "Checkout fails for order #1 (card payments only)"})
        ),
        patiently(async || other.update_item(&x1, &raise).await),
    );
    rs?;
    rx?;
    run.settle(settle()).await;
    run.record(
        "concurrent edit, two fields",
        format!(
            "ServiceNow changed the short description of {} while {kind} raised {x1} to priority {}",
            numbers[1],
            raise.priority.as_deref().unwrap_or("")
        ),
    );

    // 5. Compare every pair and count items per origin on both sides.
    let mut mismatches = Vec::new();
    let mut comments_synced = 0;
    for number in &numbers {
        let s = full(servicenow.as_ref(), number).await?;
        let xk = match twin_key(&node_s, number).await {
            Ok(k) => k,
            Err(e) => {
                mismatches.push(e);
                continue;
            }
        };
        let x = full(other.as_ref(), &xk).await?;
        compare(kind, &s, &x, &mut mismatches);
        comments_synced += x.comments.len();
    }
    let incidents = sn.records(setup::TABLE).len();
    let mut origins = HashMap::<String, usize>::new();
    let mut page = None;
    loop {
        let p = patiently(async || other.search_updated("", 0, page.clone()).await).await?;
        for i in &p.items {
            *origins
                .entry(i.origin.clone().unwrap_or_default())
                .or_default() += 1;
        }
        match p.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    let duplicates =
        origins.values().map(|c| c.saturating_sub(1)).sum::<usize>() + incidents.saturating_sub(n);
    let twins = origins.values().sum::<usize>();
    run.record(
        "compare",
        format!(
            "{n} pairs compared field by field: {} mismatches; {incidents} incidents, {twins} {kind} items, {duplicates} duplicates; {} 429s from ServiceNow; {} pushes from ServiceNow; work notes stayed in ServiceNow",
            mismatches.len(),
            sn.exchanges().iter().filter(|e| e.status == 429).count(),
            sn.deliveries().len(),
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

/// An incident and its twin agree under the default rules: work notes stay out.
fn compare(kind: ConnectorKind, s: &Item, x: &Item, mismatches: &mut Vec<String>) {
    let pair = format!("{}/{}", s.key, x.key);
    let mut check = |what: &str, a: String, b: String| {
        if a != b {
            mismatches.push(format!("{pair}: {what} {a:?} vs {b:?}"));
        }
    };
    check("summary", s.summary.clone(), x.summary.clone());
    check("description", s.description.clone(), x.description.clone());
    let x_status = x.status_name().unwrap_or("");
    check(
        "status",
        other_status(kind, s.status_name().unwrap_or("")).into(),
        match kind {
            ConnectorKind::Ado => stage(x_status),
            _ => x_status,
        }
        .into(),
    );
    check(
        "priority",
        other_priority(kind, s.priority_name().unwrap_or("")).into(),
        x.priority_name().unwrap_or("").into(),
    );
    check(
        "assignee",
        s.assignee_email().unwrap_or("").into(),
        x.assignee_email().unwrap_or("").into(),
    );
    let public = s.comments.iter().filter(|c| !c.internal).count();
    check("comments", public.to_string(), x.comments.len().to_string());
    if x.comments.iter().any(|c| c.body.contains("Gateway logs")) {
        mismatches.push(format!("{pair}: a work note reached {kind}"));
    }
}
