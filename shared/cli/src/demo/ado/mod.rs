//! `twinsync demo --pair ado-sandbox`: the demo scenario between the fake Azure DevOps
//! (over HTTPS, see `twinsync_fakes::ado`) and the sandbox tracker, both in this
//! process. People create and edit work items through the REST API with their own PATs;
//! the nodes sync with the bot's. The fake answers some requests with 429s, and one step
//! has someone edit a work item just as the node writes it (the rev test).

pub mod setup;

use super::ca::DemoCa;
use super::common::{
    CONNECTION, DemoArgs, DemoReport, PEOPLE, PROJECT_A, for_each_limited, full, twin_key,
};
use super::runner::{self, Outcome, Runner};
use serde_json::json;
use setup::{AdoPerson, PROJECT};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use twinsync_core::{ConnectorKind, Item, ItemUpdate, User};
use twinsync_fakes::ado::{FakeAdo, Fault};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_local::quiet::wait_quiet;
use twinsync_node::config::{
    ConnectionSection, InstanceSection, NodeSection, ProcessConfig, ProjectSection, SandboxSection,
    TriggerSection,
};

/// The project path segment of the fake's REST URLs.
const PROJECT_PATH: &str = "Fabrikam%20Fiber";

fn node(id: &str, instance: InstanceSection, connection: ConnectionSection) -> NodeSection {
    NodeSection {
        id: id.into(),
        data_dir: id.into(),
        // Service hooks bring the changes; polling is the safety net.
        poll_interval_ms: 5_000,
        instance: vec![instance],
        connection: vec![connection],
        ..Default::default()
    }
}

fn connection(instance: &str, remote: &str, target: &str, trigger: &str) -> ConnectionSection {
    ConnectionSection {
        id: CONNECTION.into(),
        name: "Demo: Azure DevOps <-> sandbox".into(),
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

/// Both nodes: the sandbox's maps Azure DevOps' state names to its own (the pair's
/// default maps), Azure DevOps' rules judge the sandbox's names by meaning.
pub fn config(ado: InstanceSection) -> ProcessConfig {
    let mut to_ado = connection(
        "sandbox-a",
        "node-d",
        PROJECT_A,
        "project = DEMO AND labels = sync",
    );
    to_ado.helper_maps = Some(
        twinsync_rules::defaults::for_pair(ConnectorKind::Sandbox, ConnectorKind::Ado).helper_maps,
    );
    let sandbox = InstanceSection {
        id: "sandbox-a".into(),
        connector: ConnectorKind::Sandbox,
        base_url: "sandbox:a".into(),
        webhook_secret: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    ProcessConfig {
        sandbox: vec![SandboxSection {
            id: "a".into(),
            listen: "127.0.0.1:0".into(),
            db: Some("sandbox-a.db".into()),
            token: None,
            projects: vec![ProjectSection {
                key: PROJECT_A.into(),
                name: "Demo".into(),
                statuses: None,
                priorities: None,
            }],
            budget: None,
        }],
        node: vec![
            node("node-a", sandbox, to_ado),
            node(
                "node-d",
                ado,
                connection("ado", "node-a", PROJECT, "labels = sync"),
            ),
        ],
    }
}

pub async fn scenario(args: &DemoArgs) -> Result<DemoReport, String> {
    let started = Instant::now();
    let ca = DemoCa::new()?;
    let fake = setup::start_fake(&ca).await?;
    let (process, _dir) = runner::start(
        args,
        &config(setup::instance("ado", &fake, Some(&ca.file))),
        ProcessOptions::default(),
    )
    .await?;
    let result = steps(&process, &fake, ca.client()?, args, Runner::new(started)).await;
    process.stop().await;
    result
}

/// Waits until the fake and the sandbox have no webhook delivery on its way and both
/// nodes' queues are empty.
async fn settle(process: &Process, fake: &FakeAdo, timeout: Duration) -> bool {
    let mut hooks = process.webhooks();
    hooks.push(fake.webhooks());
    wait_quiet(&process.nodes, &hooks, timeout).await
}

/// The sandbox's status for an Azure DevOps state, as the pair's maps say.
fn sandbox_status(state: &str) -> &str {
    match state {
        "New" => "Open",
        "Active" => "In Progress",
        _ => "Done",
    }
}

/// The sandbox's priority for an Azure DevOps priority, as the default rules say.
fn sandbox_priority(priority: &str) -> &str {
    match priority {
        "1" => "Highest",
        "2" => "High",
        "3" => "Medium",
        _ => "Low",
    }
}

/// A work item and its sandbox twin agree under the default rules.
fn compare(d: &Item, s: &Item, mismatches: &mut Vec<String>) {
    let pair = format!("#{}/{}", d.key, s.key);
    let mut check = |what: &str, a: Option<&str>, b: Option<&str>| {
        if a != b {
            mismatches.push(format!("{pair}: {what} {a:?} vs {b:?}"));
        }
    };
    check("summary", Some(&d.summary), Some(&s.summary));
    check("description", Some(&d.description), Some(&s.description));
    check(
        "status",
        d.status_name().map(sandbox_status),
        s.status_name(),
    );
    check(
        "priority",
        d.priority_name().map(sandbox_priority),
        s.priority_name(),
    );
    check("assignee", d.assignee_email(), s.assignee_email());
    let (da, sa) = (d.labels.join(","), s.labels.join(","));
    check("labels", Some(&da), Some(&sa));
    let (dc, sc) = (d.comments.len().to_string(), s.comments.len().to_string());
    check("comments", Some(&dc), Some(&sc));
}

async fn steps(
    process: &Process,
    fake: &FakeAdo,
    http: reqwest::Client,
    args: &DemoArgs,
    mut run: Runner,
) -> Result<DemoReport, String> {
    let node_a = process.node("node-a").ok_or("node-a missing")?.clone();
    let node_d = process.node("node-d").ok_or("node-d missing")?.clone();
    let sandbox = node_a.tracker("sandbox-a").map_err(|e| e.to_string())?;
    let ado = node_d.tracker("ado").map_err(|e| e.to_string())?;
    let people: Vec<AdoPerson> = PEOPLE
        .iter()
        .map(|(email, _)| AdoPerson {
            http: http.clone(),
            org_url: fake.org_url(),
            email: email.to_string(),
        })
        .collect();
    let timeout = Duration::from_secs(120 + (args.items as u64) / 4);
    let n = args.items.max(3);

    // The organization pushes back now and then, as a real one under load does: every
    // 40th request is a 429, and two more come now.
    fake.inject([Fault::TooManyRequests(1), Fault::TooManyRequests(2)]);

    // 1. People create work items in Azure DevOps, each with a comment; they reach the
    // sandbox.
    let from = fake.exchanges().len();
    let keys = for_each_limited(n, 4, |i| {
        let person = people[i % people.len()].clone();
        let assignee = PEOPLE[(i + 1) % PEOPLE.len()].0;
        async move {
            let created = person
                .call(
                    reqwest::Method::POST,
                    &format!("/{PROJECT_PATH}/_apis/wit/workitems/$Task?api-version=7.1"),
                    Some(json!([
                        {"op": "add", "path": "/fields/System.Title", "value": format!("Checkout fails for order #{i}")},
                        {"op": "add", "path": "/fields/System.Description", "value": format!("<h2>Steps</h2><ol><li>Add item {i} to the cart</li><li>Pay with <strong>card</strong></li></ol><p><code>HTTP 502</code> from <code>/pay</code>.</p>")},
                        {"op": "add", "path": "/fields/System.Tags", "value": format!("sync; team-{}", i % 4)},
                        {"op": "add", "path": "/fields/Microsoft.VSTS.Common.Priority", "value": 1 + i % 4},
                        {"op": "add", "path": "/fields/System.AssignedTo", "value": assignee},
                    ])),
                )
                .await?;
            let id = created["id"].as_i64().ok_or("Azure DevOps gave no id")?;
            person
                .call(
                    reqwest::Method::POST,
                    &format!("/{PROJECT_PATH}/_apis/wit/workItems/{id}/comments?api-version=7.1-preview.4"),
                    Some(json!({"text": format!("<p>Customer <b>Acme</b> is affected (#{i}).</p>")})),
                )
                .await?;
            Ok(id.to_string())
        }
    })
    .await?;
    run.settle(settle(process, fake, timeout)).await;
    let calls = fake.exchanges()[from..]
        .iter()
        .filter(|e| e.caller == setup::BOT_EMAIL && !e.template.ends_with("/wiql"))
        .count() as f64
        / n as f64;
    run.record(
        "create in Azure DevOps",
        format!("{n} work items with a comment created over HTTPS (the demo's CA); {calls:.1} Azure DevOps calls per item by the node"),
    );

    // 2. The sandbox side closes one with a comment: the work item moves to Closed.
    let s0 = twin_key(&node_d, &keys[0]).await?;
    let ana = User {
        email: PEOPLE[0].0.into(),
        display_name: PEOPLE[0].1.into(),
    };
    sandbox
        .update_item(
            &s0,
            &ItemUpdate {
                status: Some("Done".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    sandbox
        .add_comment(
            &s0,
            "Fixed by the gateway timeout change.",
            Some(&ana),
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
    run.settle(settle(process, fake, timeout)).await;
    let d0 = full(ado.as_ref(), &keys[0]).await?;
    run.record(
        "close + comment in the sandbox",
        format!(
            "{s0} done with a comment -> #{} is {:?} with {} comments",
            keys[0],
            d0.status_name().unwrap_or("-"),
            d0.comments.len()
        ),
    );

    // 3. Someone edits a work item in Azure DevOps just as the node writes it: the
    // node's write fails its rev test (412), is read again and merged, nothing lost.
    let s1 = twin_key(&node_d, &keys[1]).await?;
    let id1: i64 = keys[1].parse().map_err(|_| "bad work item id")?;
    fake.edit_before_next_patch(
        id1,
        "System.Description",
        json!("<p>Reproduced on <em>mobile</em> too.</p>"),
    );
    sandbox
        .update_item(
            &s1,
            &ItemUpdate {
                summary: Some("Checkout fails for order #1 (all cards)".into()),
                ..ItemUpdate::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    run.settle(settle(process, fake, timeout)).await;
    let d1 = full(ado.as_ref(), &keys[1]).await?;
    let refused = fake.exchanges().iter().filter(|e| e.status == 412).count();
    run.record(
        "concurrent edit (rev test)",
        format!("sandbox renamed #{} while someone edited its description in Azure DevOps: {refused} write refused with 412, then merged -> {:?} / {:?}", keys[1], d1.summary, d1.description),
    );

    // 4. Compare every pair; count items per origin on the sandbox side.
    let mut mismatches = Vec::new();
    let mut comments_synced = 0;
    for key in &keys {
        let d = full(ado.as_ref(), key).await?;
        let sk = match twin_key(&node_d, key).await {
            Ok(k) => k,
            Err(e) => {
                mismatches.push(e);
                continue;
            }
        };
        let s = full(sandbox.as_ref(), &sk).await?;
        compare(&d, &s, &mut mismatches);
        comments_synced += d.comments.len().min(s.comments.len());
    }
    let mut origins = HashMap::<String, usize>::new();
    let mut page = None;
    let mut sandbox_items = 0;
    loop {
        let p = sandbox
            .search_updated("project = DEMO", 0, page)
            .await
            .map_err(|e| e.to_string())?;
        for i in &p.items {
            sandbox_items += 1;
            *origins
                .entry(i.origin.clone().unwrap_or_default())
                .or_default() += 1;
        }
        match p.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    let ado_items = fake.item_count(PROJECT);
    let duplicates =
        origins.values().map(|c| c.saturating_sub(1)).sum::<usize>() + ado_items.saturating_sub(n);
    let links = keys
        .iter()
        .filter_map(|k| k.parse::<i64>().ok())
        .filter(|id| {
            fake.relations(*id).iter().any(|r| {
                r["rel"] == "Hyperlink" && r["attributes"]["comment"] == "twinsync: synced"
            })
        })
        .count();
    run.record(
        "compare",
        format!(
            "{n} pairs compared field by field: {} mismatches; {ado_items} work items, {sandbox_items} sandbox items, {duplicates} duplicates; {links} work items link their twin as synced; {} 429s from Azure DevOps; {} service hook deliveries",
            mismatches.len(),
            fake.exchanges().iter().filter(|e| e.status == 429).count(),
            fake.deliveries().len(),
        ),
    );
    if links < n {
        mismatches.push(format!(
            "only {links} of {n} work items show their twin as synced"
        ));
    }
    Ok(run.report(Outcome {
        items: n,
        items_a_to_b: sandbox_items,
        comments_synced,
        duplicates,
        mismatches,
        ..Outcome::default()
    }))
}
