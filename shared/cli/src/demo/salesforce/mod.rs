//! `twinsync demo --pair salesforce-sandbox` and `--pair salesforce-github`: people open
//! Cases in a fake Salesforce org (each with a public and a private comment), and they
//! reach the other tracker (a sandbox or the fake GitHub); an edit and a comment follow;
//! the other side closes one; both sides edit one at once. Both fakes speak HTTPS with
//! the demo's CA and answer some requests with 503s; the Salesforce node gets Outbound
//! Messages and polls with SOQL.

pub mod setup;

use super::ca::DemoCa;
use super::common::{
    DemoArgs, DemoReport, PEOPLE, PROJECT_B, Pair, for_each_limited, full, patiently, twin_key,
};
use super::jira_github::setup::login;
use super::runner::{self, Outcome, Runner};
use serde_json::json;
use setup::Person;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_core::{ConnectorKind, Item, ItemUpdate};
use twinsync_fakes::deliveries::Deliveries;
use twinsync_fakes::github::FakeGithub;
use twinsync_fakes::salesforce::{FakeSalesforce, Fault};
use twinsync_github::UserEntry;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::config::{
    ConnectionSection, GithubSection, InstanceSection, NodeSection, ProcessConfig, ProjectSection,
    SandboxSection, TriggerSection,
};

const CONNECTION: &str = super::common::CONNECTION;
const REPO: &str = "acme/support";
const GITHUB_BOT: &str = "ghp-twinsync-sf-bot";

/// The other side's name for a Case status under the default rules.
fn other_status(other: ConnectorKind, status: &str) -> &'static str {
    match (other, status) {
        (ConnectorKind::Github, "Closed") => "closed",
        (ConnectorKind::Github, _) => "open",
        (_, "Closed") => "Done",
        (_, "Working" | "Escalated") => "In Progress",
        _ => "Open",
    }
}

fn node(id: &str, instance: InstanceSection, connection: ConnectionSection) -> NodeSection {
    NodeSection {
        id: id.into(),
        data_dir: id.into(),
        listen: "127.0.0.1:0".into(),
        admin_listen: "127.0.0.1:0".into(),
        // Outbound Messages and webhooks bring the changes; polling is the safety net.
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
    let remote_kind = if local == ConnectorKind::Salesforce {
        ConnectorKind::Sandbox
    } else {
        ConnectorKind::Salesforce
    };
    ConnectionSection {
        id: CONNECTION.into(),
        name: "Demo: Salesforce pair".into(),
        instance: instance.into(),
        remote_node: remote.into(),
        target_project: target.into(),
        // The pair's default maps: a config names no pair, so they are spelled out here.
        helper_maps: Some(twinsync_rules::defaults::for_pair(local, remote_kind).helper_maps)
            .filter(|m| *m != twinsync_core::NodeHelperMaps::default()),
        trigger: vec![TriggerSection {
            id: None,
            query: trigger.into(),
        }],
        ..Default::default()
    }
}

/// Both nodes: node-s with the Salesforce org, node-x with the other tracker.
pub fn config(salesforce: InstanceSection, other: InstanceSection) -> ProcessConfig {
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
        _ => (vec![], REPO.to_string(), "labels = escalate".to_string()),
    };
    let other_id = other.id.clone();
    ProcessConfig {
        sandbox,
        node: vec![
            node(
                "node-s",
                salesforce,
                connection(
                    "salesforce",
                    "node-x",
                    "Case",
                    "labels = sync AND status != Closed",
                    ConnectorKind::Salesforce,
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

async fn start_github(ca: &DemoCa) -> Result<FakeGithub, String> {
    let mut tokens = vec![(GITHUB_BOT.to_string(), "twinsync-bot".to_string())];
    tokens.extend(
        PEOPLE
            .iter()
            .map(|(e, _)| (format!("ghp-{}", login(e)), login(e))),
    );
    FakeGithub::start_on(
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
    .map_err(|e| e.to_string())
}

/// The sandbox of this process the `salesforce-sandbox` pair syncs with.
pub fn sandbox_instance() -> InstanceSection {
    InstanceSection {
        id: "sandbox-b".into(),
        connector: ConnectorKind::Sandbox,
        base_url: "sandbox:b".into(),
        webhook_secret: "salesforce-demo-sandbox-secret".into(),
        register_webhook: true,
        ..Default::default()
    }
}

fn other_instance(github: Option<&FakeGithub>, ca: &DemoCa) -> InstanceSection {
    match github {
        Some(g) => InstanceSection {
            ca_file: Some(ca.file.clone()),
            id: "github".into(),
            connector: ConnectorKind::Github,
            base_url: g.url.clone(),
            webhook_secret: "github-hook-secret".into(),
            token: Some(GITHUB_BOT.into()),
            register_webhook: true,
            github: Some(GithubSection {
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
            }),
            ..Default::default()
        },
        None => sandbox_instance(),
    }
}

pub async fn scenario(args: &DemoArgs) -> Result<DemoReport, String> {
    let started = Instant::now();
    let ca = DemoCa::new()?;
    let sf = setup::start(&ca).await?;
    let github = match args.pair {
        Pair::SalesforceGithub => Some(start_github(&ca).await?),
        _ => None,
    };
    let config = config(
        setup::instance("salesforce", &sf, Some(&ca.file)),
        other_instance(github.as_ref(), &ca),
    );
    let (process, _dir) = runner::start(args, &config, ProcessOptions::default()).await?;
    let node_url = process
        .node_urls
        .get("node-s")
        .cloned()
        .ok_or("node-s has no public URL")?;
    setup::point_outbound(&sf, &node_url, "salesforce");
    let mut hooks = process.webhooks();
    hooks.push(sf.webhooks());
    hooks.extend(github.as_ref().map(|g| g.webhooks()));
    let result = steps(
        &process,
        &sf,
        hooks,
        ca.client()?,
        args,
        Runner::new(started),
    )
    .await;
    process.stop().await;
    result
}

async fn steps(
    process: &Process,
    sf: &FakeSalesforce,
    hooks: Vec<Arc<Deliveries>>,
    http: reqwest::Client,
    args: &DemoArgs,
    mut run: Runner,
) -> Result<DemoReport, String> {
    let node_s = process.node("node-s").ok_or("node-s missing")?.clone();
    let node_x = process.node("node-x").ok_or("node-x missing")?.clone();
    let nodes = vec![node_s.clone(), node_x.clone()];
    let salesforce = node_s.tracker("salesforce").map_err(|e| e.to_string())?;
    let other_id = if args.pair == Pair::SalesforceGithub {
        "github"
    } else {
        "sandbox-b"
    };
    let other = node_x.tracker(other_id).map_err(|e| e.to_string())?;
    let kind = other.kind();
    let timeout = Duration::from_secs(120 + (args.items as u64) / 4);
    // A CaseComment sends no Outbound Message (and may land just after the read its
    // Case's message caused): polling brings it, so each settle polls first.
    let settle = || async {
        // A poll that fails here (a limit answer) is the scheduler's to repeat.
        if let Ok(connection) = node_s.connection(CONNECTION).await {
            twinsync_node::handlers::scheduler::poll(&node_s, &connection)
                .await
                .ok();
        }
        twinsync_local::quiet::wait_quiet(&nodes, &hooks, timeout).await
    };
    let mut people = Vec::new();
    for (email, _) in PEOPLE {
        people.push(Person::login(&http, &sf.url, email).await?);
    }
    let mut user_ids = HashMap::new();
    for p in &people {
        user_ids.insert(p.email.clone(), people[0].user_id(&p.email).await?);
    }
    let user_ids = Arc::new(user_ids);
    let n = args.items.max(3);
    // The org pushes back now and then: every 40th request is a 503, and a limit at the start.
    sf.inject([Fault::Unavailable(1), Fault::RequestLimit(Some(1))]);

    // 1. People open Cases, each with a public and a private comment.
    let ids = for_each_limited(n, 4, |i| {
        let person = people[i % people.len()].clone();
        let owner = user_ids.get(PEOPLE[(i + 1) % PEOPLE.len()].0).cloned();
        let priority = ["Low", "Medium", "High"][i % 3];
        async move {
            let id = person
                .open_case(json!({
                    "Subject": format!("Checkout fails for order #{i}"),
                    "Description": format!("Adding item {i} to the cart and paying with a card fails with HTTP 502."),
                    "Priority": priority, "Origin": "Web", "OwnerId": owner,
                    "SuppliedEmail": person.email, "SuppliedName": "Customer",
                }))
                .await?;
            person.comment(&id, &format!("We are looking into it (#{i})."), true).await?;
            person.comment(&id, &format!("Gateway logs show timeouts (#{i})."), false).await?;
            Ok(id)
        }
    })
    .await?;
    run.settle(settle()).await;
    run.record(
        "open in Salesforce",
        format!("{n} Cases, each with a public and a private comment, opened in Salesforce over HTTPS; {} Outbound Messages so far", sf.deliveries().len()),
    );

    // 2. An edit and a status change in Salesforce, and a comment.
    people[1]
        .update(
            &ids[2],
            json!({"Subject": "Checkout fails for order #2 (all cards)", "Status": "Working"}),
        )
        .await?;
    people[2].comment(&ids[2], "Also on mobile.", true).await?;
    run.settle(settle()).await;
    run.record(
        "edit + comment in Salesforce",
        format!(
            "{}: subject edited, status Working, one more comment",
            ids[2]
        ),
    );

    // 3. The other side closes a Case's twin with a comment.
    let x0 = twin_key(&node_s, &ids[0]).await?;
    let done = ItemUpdate {
        status: Some(
            if kind == ConnectorKind::Github {
                "closed"
            } else {
                "Done"
            }
            .into(),
        ),
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
    let closed = full(salesforce.as_ref(), &ids[0]).await?;
    run.record(
        "close on the other side",
        format!(
            "{kind} {x0} closed with a comment -> Case {} status {:?}",
            ids[0],
            closed.status_name()
        ),
    );

    // 4. Both sides edit the same Case at once: different fields merge.
    let x1 = twin_key(&node_s, &ids[1]).await?;
    let describe = ItemUpdate {
        description: Some("Only card payments fail; PayPal works.".into()),
        ..ItemUpdate::default()
    };
    let (rs, rx) = tokio::join!(
        people[0].update(
            &ids[1],
            json!({"Subject": "Checkout fails for order #1 (card payments only)"})
        ),
        patiently(async || other.update_item(&x1, &describe).await),
    );
    rs?;
    rx?;
    run.settle(settle()).await;
    run.record(
        "concurrent edit, two fields",
        format!(
            "Salesforce changed the subject of {} while {kind} changed the description of {x1}",
            ids[1]
        ),
    );

    // 5. Compare every pair and count items per origin on both sides.
    let mut mismatches = Vec::new();
    let mut comments_synced = 0;
    let mut synced_marks = 0;
    for id in &ids {
        let s = full(salesforce.as_ref(), id).await?;
        let xk = match twin_key(&node_s, id).await {
            Ok(k) => k,
            Err(e) => {
                mismatches.push(e);
                continue;
            }
        };
        let x = full(other.as_ref(), &xk).await?;
        compare(kind, &s, &x, &mut mismatches);
        comments_synced += x.comments.len();
        let case = sf
            .cases()
            .into_iter()
            .find(|c| c["Id"] == json!(id))
            .unwrap_or_default();
        if case
            .get("Twinsync_Status__c")
            .and_then(|v| v.as_str())
            .is_some_and(|t| t.starts_with("twinsync: synced"))
        {
            synced_marks += 1;
        }
    }
    let cases = sf.cases().len();
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
        origins.values().map(|c| c.saturating_sub(1)).sum::<usize>() + cases.saturating_sub(n);
    let twins = origins.values().sum::<usize>();
    run.record(
        "compare",
        format!(
            "{n} pairs compared field by field: {} mismatches; {cases} Cases, {twins} {kind} items, {duplicates} duplicates; {synced_marks} Cases show their sync status; {} limit answers from Salesforce; {} Outbound Messages; private comments stayed in Salesforce",
            mismatches.len(),
            sf.exchanges().iter().filter(|e| e.status == 503 || e.status == 403).count(),
            sf.deliveries().len(),
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

/// A Case and its twin agree under the default rules: private comments stay out.
fn compare(kind: ConnectorKind, s: &Item, x: &Item, mismatches: &mut Vec<String>) {
    let pair = format!("{}/{}", s.key, x.key);
    let mut check = |what: &str, a: String, b: String| {
        if a != b {
            mismatches.push(format!("{pair}: {what} {a:?} vs {b:?}"));
        }
    };
    check("summary", s.summary.clone(), x.summary.clone());
    check("description", s.description.clone(), x.description.clone());
    check(
        "status",
        other_status(kind, s.status_name().unwrap_or("")).into(),
        x.status_name().unwrap_or("").into(),
    );
    if kind == ConnectorKind::Sandbox {
        check(
            "priority",
            s.priority_name().unwrap_or("").into(),
            x.priority_name().unwrap_or("").into(),
        );
    }
    check(
        "assignee",
        s.assignee_email().unwrap_or("").into(),
        x.assignee_email().unwrap_or("").into(),
    );
    let public = s.comments.iter().filter(|c| !c.internal).count();
    check("comments", public.to_string(), x.comments.len().to_string());
    if x.comments.iter().any(|c| c.body.contains("Gateway logs")) {
        mismatches.push(format!("{pair}: a private comment reached {kind}"));
    }
}
