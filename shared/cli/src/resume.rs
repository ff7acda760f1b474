//! `twinsync resume-bench`: how long a paused connection takes to deliver the changes it
//! held, and whether they arrive in order.
//!
//! Two sandbox trackers and two nodes run in this process, as in the demo. ITEMS items
//! are synced, the connection is paused on node A, and each item is edited ROUNDS times,
//! each edit held as its own message (the next round waits until the held queue has
//! them all). Then the connection is activated: the time from activation until both
//! nodes are quiet is the drain, and every twin on B must show its item's last edit.

use crate::demo;
use serde::Serialize;
use serde_json::json;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::{Node, operations};
use twinsync_ports::queues;

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// Items under sync.
    #[arg(long, default_value_t = 100)]
    pub items: usize,
    /// Edits of each item while the connection is paused.
    #[arg(long, default_value_t = 100)]
    pub rounds: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct ResumeReport {
    pub held_changes: u64,
    pub drain_seconds: f64,
    pub changes_per_second: f64,
    /// Every twin on B shows its item's last edit.
    pub in_order: bool,
    pub mismatches: Vec<String>,
}

pub async fn run(args: ResumeArgs) -> Result<ExitCode, String> {
    let report = measure(args.items.max(1), args.rounds.max(1)).await?;
    crate::print_report(&report, args.json, |report| {
        vec![format!(
            "resume of {} held changes: drained in {:.1} s ({:.0} changes/s), {}",
            report.held_changes,
            report.drain_seconds,
            report.changes_per_second,
            if report.in_order {
                "every twin shows its last edit".to_string()
            } else {
                format!("out of order: {}", report.mismatches.join("; "))
            }
        )]
    })?;
    Ok(if report.in_order {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn measure(items: usize, rounds: usize) -> Result<ResumeReport, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let secret = uuid::Uuid::new_v4().to_string();
    let process = Process::start(
        &demo::config(&secret),
        dir.path(),
        ProcessOptions::default(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let result = held_and_resumed(&process, items, rounds).await;
    process.stop().await;
    result
}

async fn held_and_resumed(
    process: &Process,
    items: usize,
    rounds: usize,
) -> Result<ResumeReport, String> {
    let demo::PairParts {
        url_a,
        node_a,
        node_b,
    } = demo::pair_parts(process)?;
    let tracker_b = node_b
        .connection(demo::CONNECTION)
        .await
        .and_then(|c| node_b.tracker(&c.local_instance))
        .map_err(|e| e.to_string())?;
    let http = reqwest::Client::new();
    let quiet = async || {
        if process.wait_quiet(Duration::from_secs(600)).await {
            Ok(())
        } else {
            Err("the nodes did not settle".to_string())
        }
    };
    let keys =
        demo::for_each_limited(items, 16, |i| {
            let (http, url) = (http.clone(), url_a.clone());
            async move {
                demo::create_item(&http, &url, demo::item_body(demo::PROJECT_A, i, "sync")).await
            }
        })
        .await?;
    quiet().await?;
    operations::deactivate(&node_a, demo::CONNECTION)
        .await
        .map_err(|e| e.to_string())?;
    let held = queues::held(demo::CONNECTION);
    for round in 0..rounds {
        demo::for_each_limited(items, 16, |i| {
            let (http, url, key) = (http.clone(), url_a.clone(), keys[i].clone());
            async move {
                let summary = json!({ "summary": summary_of(&key, round) });
                let edit = http.patch(format!("{url}/api/items/{key}")).json(&summary);
                demo::send_change(edit).await.map(|()| key)
            }
        })
        .await?;
        // Each edit is its own held change: the next round waits until it is read.
        let want = ((round + 1) * items) as u64;
        let deadline = Instant::now() + Duration::from_secs(600);
        while depth(&node_a, &held).await? < want {
            if Instant::now() > deadline {
                return Err(format!("round {round}: the edits were not all held"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let held_changes = depth(&node_a, &held).await?;
    let started = Instant::now();
    operations::activate(&node_a, demo::CONNECTION)
        .await
        .map_err(|e| e.to_string())?;
    quiet().await?;
    let drain_seconds = started.elapsed().as_secs_f64();
    let mut mismatches = Vec::new();
    for key in &keys {
        let twin = node_a
            .twins
            .find_by_local(demo::CONNECTION, key)
            .await
            .map_err(|e| e.to_string())?;
        let Some(remote) = twin.and_then(|t| t.remote_key) else {
            mismatches.push(format!("{key}: no twin"));
            continue;
        };
        let item = tracker_b
            .get_item(&remote)
            .await
            .map_err(|e| e.to_string())?;
        let want = summary_of(key, rounds - 1);
        match item {
            Some(item) if item.summary == want => {}
            Some(item) => mismatches.push(format!("{remote} shows {:?} for {want}", item.summary)),
            None => mismatches.push(format!("{remote} is gone")),
        }
    }
    Ok(ResumeReport {
        held_changes,
        drain_seconds,
        changes_per_second: held_changes as f64 / drain_seconds.max(f64::EPSILON),
        in_order: mismatches.is_empty(),
        mismatches,
    })
}

fn summary_of(key: &str, round: usize) -> String {
    format!("{key} held change {round}")
}

async fn depth(node: &Node, queue: &str) -> Result<u64, String> {
    node.queue
        .depth(queue)
        .await
        .map(|d| d.total())
        .map_err(|e| e.to_string())
}
