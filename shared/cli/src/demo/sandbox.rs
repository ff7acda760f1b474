//! The sandbox pair (the default): two sandbox trackers, two nodes, one connection, a
//! real two-way sync. Everything runs in this process but over the real paths: HTTP to
//! the trackers, signed webhooks into the nodes, SQLite queues between the handlers.

use super::common::{
    CONNECTION, DemoArgs, DemoReport, PEOPLE, PROJECT_A, PROJECT_B, create_item, for_each_limited,
    full, item_body, twin_key,
};
use super::runner::{self, Outcome, Runner};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_core::{Item, ItemUpdate, SyncEventKind, User};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::config::{
    ConnectionSection, InstanceSection, NodeSection, ProcessConfig, ProjectSection, SandboxSection,
    TriggerSection,
};
use twinsync_node::{Node, operations};
use twinsync_ports::Tracker;

fn statuses_a() -> Vec<String> {
    ["Open", "In Progress", "Done"].map(String::from).to_vec()
}

fn statuses_b() -> Vec<String> {
    ["To Do", "Doing", "Closed"].map(String::from).to_vec()
}

/// B's status for A's, and back.
fn map_a_to_b(s: &str) -> String {
    let i = statuses_a().iter().position(|x| x == s).unwrap_or(0);
    statuses_b()[i].clone()
}

pub fn config(secret: &str) -> ProcessConfig {
    let maps = |from: Vec<String>, to: Vec<String>| twinsync_core::NodeHelperMaps {
        statuses: from.into_iter().zip(to).collect(),
        ..Default::default()
    };
    let node =
        |id: &str, inst: &str, sandbox: &str, project: &str, trigger: &str, helper| NodeSection {
            id: id.into(),
            data_dir: id.into(),
            listen: "127.0.0.1:0".into(),
            admin_listen: "127.0.0.1:0".into(),
            poll_interval_ms: 5_000,
            instance: vec![InstanceSection {
                id: inst.into(),
                connector: twinsync_core::ConnectorKind::Sandbox,
                base_url: format!("sandbox:{sandbox}"),
                webhook_secret: secret.into(),
                register_webhook: true,
                ..Default::default()
            }],
            connection: vec![ConnectionSection {
                id: CONNECTION.into(),
                name: "Demo: DEMO <-> SUPPORT".into(),
                instance: inst.into(),
                remote_node: if id == "node-a" { "node-b" } else { "node-a" }.into(),
                target_project: project.into(),
                helper_maps: Some(helper),
                trigger: vec![TriggerSection {
                    id: None,
                    query: trigger.into(),
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
    ProcessConfig {
        sandbox: vec![
            SandboxSection {
                id: "a".into(),
                listen: "127.0.0.1:0".into(),
                db: Some("sandbox-a.db".into()),
                token: None,
                projects: vec![ProjectSection {
                    key: PROJECT_A.into(),
                    name: "Demo".into(),
                    statuses: Some(statuses_a()),
                    priorities: None,
                }],
                budget: None,
            },
            SandboxSection {
                id: "b".into(),
                listen: "127.0.0.1:0".into(),
                db: Some("sandbox-b.db".into()),
                token: None,
                projects: vec![ProjectSection {
                    key: PROJECT_B.into(),
                    name: "Support".into(),
                    statuses: Some(statuses_b()),
                    priorities: None,
                }],
                budget: None,
            },
        ],
        node: vec![
            node(
                "node-a",
                "sandbox-a",
                "a",
                PROJECT_A,
                "project = DEMO AND labels = sync",
                maps(statuses_b(), statuses_a()),
            ),
            node(
                "node-b",
                "sandbox-b",
                "b",
                PROJECT_B,
                "project = SUPPORT AND labels = escalate",
                maps(statuses_a(), statuses_b()),
            ),
        ],
    }
}

async fn all_items(tracker: &dyn Tracker) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut page = None;
    loop {
        let p = tracker
            .search_updated("", 0, page)
            .await
            .map_err(|e| e.to_string())?;
        for i in p.items {
            // Listings may be summaries; read each in full for comments.
            items.push(i);
        }
        match p.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    Ok(items)
}

pub struct Pairing {
    /// A key -> B key, found by the origin markers sync stamped on created items.
    pub pairs: Vec<(String, String)>,
    pub duplicates: usize,
    pub a_to_b: usize,
    pub b_to_a: usize,
}

pub async fn pair_up(a: &dyn Tracker, b: &dyn Tracker) -> Result<Pairing, String> {
    pair_up_on(a, b, CONNECTION).await
}

/// Pairs items by the origin markers of `connection`.
pub async fn pair_up_on(
    a: &dyn Tracker,
    b: &dyn Tracker,
    connection: &str,
) -> Result<Pairing, String> {
    let prefix = Node::origin_prefix(connection);
    let items_a = all_items(a).await?;
    let items_b = all_items(b).await?;
    let mut pairs = Vec::new();
    let mut duplicates = 0;
    let mut a_to_b = 0;
    let mut b_to_a = 0;
    let mut by_origin: HashMap<String, Vec<String>> = HashMap::new();
    for i in &items_b {
        if let Some(src) = i.origin.as_deref().and_then(|o| o.strip_prefix(&prefix)) {
            by_origin
                .entry(src.to_string())
                .or_default()
                .push(i.key.clone());
        }
    }
    for i in &items_a {
        if let Some(b_keys) = by_origin.get(&i.key) {
            duplicates += b_keys.len() - 1;
            pairs.push((i.key.clone(), b_keys[0].clone()));
            a_to_b += 1;
        }
    }
    let mut a_by_origin: HashMap<String, Vec<String>> = HashMap::new();
    for i in &items_a {
        if let Some(src) = i.origin.as_deref().and_then(|o| o.strip_prefix(&prefix)) {
            a_by_origin
                .entry(src.to_string())
                .or_default()
                .push(i.key.clone());
        }
    }
    for i in &items_b {
        if let Some(a_keys) = a_by_origin.get(&i.key) {
            duplicates += a_keys.len() - 1;
            pairs.push((a_keys[0].clone(), i.key.clone()));
            b_to_a += 1;
        }
    }
    Ok(Pairing {
        pairs,
        duplicates,
        a_to_b,
        b_to_a,
    })
}

/// Compares every pair field by field; returns the mismatches and the synced comments.
pub async fn compare(
    a: &dyn Tracker,
    b: &dyn Tracker,
    pairs: &[(String, String)],
) -> Result<(Vec<String>, usize, usize), String> {
    let mut mismatches = Vec::new();
    let mut comments = 0;
    let mut duplicate_comments = 0;
    for (ka, kb) in pairs {
        let ia = full(a, ka).await?;
        let ib = full(b, kb).await?;
        let mut diff = Vec::new();
        if ia.summary != ib.summary {
            diff.push("summary");
        }
        if ia.description != ib.description {
            diff.push("description");
        }
        if ia.status_name().map(map_a_to_b) != ib.status_name().map(str::to_string) {
            diff.push("status");
        }
        if ia.priority_name() != ib.priority_name() {
            diff.push("priority");
        }
        let mut la = ia.labels.clone();
        la.sort();
        let mut lb = ib.labels.clone();
        lb.sort();
        if la != lb {
            diff.push("labels");
        }
        if ia.assignee_email() != ib.assignee_email() {
            diff.push("assignee");
        }
        let bodies = |i: &Item| {
            let mut m: BTreeMap<String, usize> = BTreeMap::new();
            for c in &i.comments {
                *m.entry(c.body.clone()).or_default() += 1;
            }
            m
        };
        let (ca, cb) = (bodies(&ia), bodies(&ib));
        if ca != cb {
            diff.push("comments");
        }
        duplicate_comments += ca.values().chain(cb.values()).filter(|n| **n > 1).count();
        comments += ia.comments.len().min(ib.comments.len());
        if !diff.is_empty() {
            mismatches.push(format!("{ka} <-> {kb}: {}", diff.join(", ")));
        }
    }
    Ok((mismatches, comments, duplicate_comments))
}

async fn count_conflicts(nodes: &[Arc<Node>]) -> usize {
    let mut n = 0;
    for node in nodes {
        if let Ok(events) = node.twins.events(Some(CONNECTION), None, 100_000).await {
            n += events
                .iter()
                .filter(|e| e.kind == SyncEventKind::Conflict)
                .count();
        }
    }
    n
}

/// Runs the whole scenario and reports it. Public for the end-to-end tests, which pass
/// fault-injecting options.
pub async fn scenario(args: &DemoArgs, options: &ProcessOptions) -> Result<DemoReport, String> {
    let started = Instant::now();
    let secret = uuid::Uuid::new_v4().to_string();
    let (process, _dir) = runner::start(args, &config(&secret), options.clone()).await?;
    let result = steps(&process, args, Runner::new(started)).await;
    process.stop().await;
    result
}

async fn steps(process: &Process, args: &DemoArgs, mut run: Runner) -> Result<DemoReport, String> {
    let node_a = process.node("node-a").ok_or("node-a missing")?.clone();
    let node_b = process.node("node-b").ok_or("node-b missing")?.clone();
    let nodes = vec![node_a.clone(), node_b.clone()];
    let a = node_a.tracker("sandbox-a").map_err(|e| e.to_string())?;
    let b = node_b.tracker("sandbox-b").map_err(|e| e.to_string())?;
    let url_a = process
        .sandbox_urls
        .get("a")
        .ok_or("sandbox a missing")?
        .clone();
    let url_b = process
        .sandbox_urls
        .get("b")
        .ok_or("sandbox b missing")?
        .clone();
    let http = reqwest::Client::new();
    let timeout = Duration::from_secs(120 + (args.items as u64) / 20);
    let n = args.items.max(3);
    let n_b = (n / 10).max(2);

    // 1. Items in A (and a few in B), each with two comments.
    let keys_a = for_each_limited(n, 16, |i| {
        let http = http.clone();
        let url = url_a.clone();
        let a = a.clone();
        async move {
            let key = create_item(&http, &url, item_body(PROJECT_A, i, "sync")).await?;
            for (j, text) in [
                "First seen after the 2.3 deploy.",
                "Customer **Acme** is affected.",
            ]
            .iter()
            .enumerate()
            {
                let (email, name) = PEOPLE[(i + j) % 3];
                a.add_comment(
                    &key,
                    &format!("{text} (#{i})"),
                    Some(&User {
                        email: email.into(),
                        display_name: name.into(),
                    }),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?;
            }
            Ok(key)
        }
    })
    .await?;
    let keys_b = for_each_limited(n_b, 8, |i| {
        let http = http.clone();
        let url = url_b.clone();
        async move { create_item(&http, &url, item_body(PROJECT_B, 10_000 + i, "escalate")).await }
    })
    .await?;
    // One item outside the trigger: it must stay where it is.
    let outsider = create_item(&http, &url_a, item_body(PROJECT_A, 99_999, "internal")).await?;
    run.settle(process.wait_quiet(timeout)).await;
    let refused: u64 = process
        .nodes
        .iter()
        .map(|node| node.ingest_gate.refused())
        .sum();
    let polled = match refused {
        0 => String::new(),
        n => format!("; {n} webhooks over the nodes' limit, brought in by polling"),
    };
    run.record(
        "create and sync",
        format!(
            "{n} items created in A (DEMO, label sync) and {n_b} in B (SUPPORT, label escalate), 2 comments each in A{polled}"
        ),
    );

    // 2. An edit on B flows back to A.
    let b1 = twin_key(&node_a, &keys_a[0]).await?;
    let doing = ItemUpdate {
        status: Some("Doing".into()),
        ..Default::default()
    };
    b.update_item(&b1, &doing)
        .await
        .map_err(|e| e.to_string())?;
    let bo = User {
        email: "bo@example.com".into(),
        display_name: "Bo Chen".into(),
    };
    b.add_comment(
        &b1,
        "Reproduced on staging; fix in review.",
        Some(&bo),
        None,
    )
    .await
    .map_err(|e| e.to_string())?;
    run.settle(process.wait_quiet(timeout)).await;
    let a1 = full(a.as_ref(), &keys_a[0]).await?;
    run.record(
        "edit on B",
        format!(
            "{b1}: status Doing + a comment -> {} is now {:?} with {} comments",
            keys_a[0],
            a1.status_name().unwrap_or("-"),
            a1.comments.len(),
        ),
    );

    // 3. Both sides edit the same item at once: different fields merge.
    let b2 = twin_key(&node_a, &keys_a[1]).await?;
    let (ua, ub) = (
        ItemUpdate {
            summary: Some("Checkout fails for order #1 (card payments only)".into()),
            ..Default::default()
        },
        ItemUpdate {
            priority: Some("Highest".into()),
            ..Default::default()
        },
    );
    let (ra, rb) = tokio::join!(a.update_item(&keys_a[1], &ua), b.update_item(&b2, &ub));
    ra.map_err(|e| e.to_string())?;
    rb.map_err(|e| e.to_string())?;
    run.settle(process.wait_quiet(timeout)).await;
    let (m2a, m2b) = (
        full(a.as_ref(), &keys_a[1]).await?,
        full(b.as_ref(), &b2).await?,
    );
    run.record(
        "concurrent edit, two fields",
        format!(
            "A changed the summary while B changed the priority of the same item -> A: {:?}/{:?}, B: {:?}/{:?}",
            m2a.summary,
            m2a.priority_name().unwrap_or("-"),
            m2b.summary,
            m2b.priority_name().unwrap_or("-"),
        ),
    );

    // 4. Both sides change the same field while the connection is paused on both nodes,
    // so the two changes cross when it resumes and the connection's policy decides on
    // each node. Made live, the edits raced the sync of the first one: on a busy machine
    // A's change could reach B before B's edit did, and B's then followed it unopposed.
    let b3 = twin_key(&node_a, &keys_a[2]).await?;
    for node in &nodes {
        operations::deactivate(node, CONNECTION)
            .await
            .map_err(|e| e.to_string())?;
    }
    let (ua, ub) = (
        ItemUpdate {
            status: Some("Done".into()),
            ..Default::default()
        },
        ItemUpdate {
            status: Some("Doing".into()),
            ..Default::default()
        },
    );
    let (ra, rb) = tokio::join!(a.update_item(&keys_a[2], &ua), b.update_item(&b3, &ub));
    ra.map_err(|e| e.to_string())?;
    rb.map_err(|e| e.to_string())?;
    // Each change waits in its node's held queue; then both go.
    run.settle(process.wait_quiet(timeout)).await;
    for node in &nodes {
        operations::activate(node, CONNECTION)
            .await
            .map_err(|e| e.to_string())?;
    }
    run.settle(process.wait_quiet(timeout)).await;
    let (m3a, m3b) = (
        full(a.as_ref(), &keys_a[2]).await?,
        full(b.as_ref(), &b3).await?,
    );
    run.record(
        "concurrent edit, same field",
        format!(
            "A set Done while B set Doing, paused on both -> A: {:?}, B: {:?} (newest wins)",
            m3a.status_name().unwrap_or("-"),
            m3b.status_name().unwrap_or("-"),
        ),
    );

    // 5. Verify everything, field by field.
    let pairing = pair_up(a.as_ref(), b.as_ref()).await?;
    let (mut problems, comments, duplicate_comments) =
        compare(a.as_ref(), b.as_ref(), &pairing.pairs).await?;
    let paired_a = |k: &String| pairing.pairs.iter().any(|(ka, _)| ka == k);
    let paired_b = |k: &String| pairing.pairs.iter().any(|(_, kb)| kb == k);
    if !keys_a.iter().all(paired_a) || !keys_b.iter().all(paired_b) {
        problems.push("not every item reached the other side".into());
    }
    if paired_a(&outsider) {
        problems.push(format!("{outsider} synced although no trigger matches it"));
    }
    if duplicate_comments > 0 {
        problems.push(format!("{duplicate_comments} duplicated comments"));
    }
    run.record(
        "verify",
        format!(
            "{} pairs compared field by field (summary, description, status via map, priority, labels, assignee, comments); {} problems",
            pairing.pairs.len(),
            problems.len()
        ),
    );
    Ok(run.report(Outcome {
        items: pairing.a_to_b + pairing.b_to_a,
        items_a_to_b: pairing.a_to_b,
        items_b_to_a: pairing.b_to_a,
        comments_synced: comments,
        duplicates: pairing.duplicates + duplicate_comments,
        conflicts: count_conflicts(&nodes).await,
        mismatches: problems,
    }))
}
