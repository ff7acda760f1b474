//! `twinsync rate-bench`: a bulk sync into a tracker that allows so many requests a
//! minute, and how much of that budget the sync used.
//!
//! Two sandbox trackers and two nodes run in this process, as in the demo. Sandbox B
//! answers 429 past the budget, as a hosted tracker does, and node B keeps the same
//! budget for it. ITEMS items are created on A at once. Achieved ÷ budget is the
//! requests B served from the first item until A holds every twin as synced, over what
//! the budget allows in that time (the burst plus the rate). A 429 that became a failure
//! shows as a twin in error or a dead letter; none may.

use crate::demo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use twinsync_local::metered::{CallCounts, MeteredTracker};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::Node;
use twinsync_ports::{TwinQuery, queues};
use twinsync_sandbox::Budget;

#[derive(clap::Args, Debug)]
pub struct RateArgs {
    /// Items created on A and synced to B.
    #[arg(long, default_value_t = 40)]
    pub items: usize,
    /// Sandbox B's budget: requests a minute.
    #[arg(long, default_value_t = 100)]
    pub requests_per_minute: u32,
    /// Sandbox B's budget: requests at once.
    #[arg(long, default_value_t = 10)]
    pub burst: u32,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct RateReport {
    pub items: usize,
    pub requests_per_minute: u32,
    pub burst: u32,
    /// From the first item until every twin is synced.
    pub seconds: f64,
    /// Requests B served and refused with a 429 in that time.
    pub served: u64,
    pub refused: u64,
    /// What the budget allows in that time: the burst plus the rate.
    pub allowed: f64,
    pub achieved_over_budget: f64,
    /// Twins in error and dead letters on either node.
    pub failures: u64,
    /// Every item has its twin on B.
    pub synced: usize,
    /// The requests node B made of sandbox B in that time, by operation: what each item
    /// cost of the budget.
    pub calls: BTreeMap<String, u64>,
}

pub async fn run(args: RateArgs) -> Result<ExitCode, String> {
    let report = measure(&args).await?;
    crate::print_report(&report, args.json, |report| {
        let calls: Vec<String> = report
            .calls
            .iter()
            .map(|(operation, n)| format!("{operation} {n}"))
            .collect();
        vec![
            format!(
                "{} items into a tracker allowing {}/min (burst {}): {:.0} s, {} requests served, {} refused, {:.2} of the budget, {} failures, {} of {} synced",
                report.items,
                report.requests_per_minute,
                report.burst,
                report.seconds,
                report.served,
                report.refused,
                report.achieved_over_budget,
                report.failures,
                report.synced,
                report.items
            ),
            format!("calls in that time: {}", calls.join(", ")),
        ]
    })?;
    Ok(if report.failures == 0 && report.synced == report.items {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn measure(args: &RateArgs) -> Result<RateReport, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let secret = uuid::Uuid::new_v4().to_string();
    let budget = Budget {
        requests_per_minute: args.requests_per_minute.max(1),
        burst: args.burst.max(1),
    };
    let mut config = demo::config(&secret);
    for sandbox in config.sandbox.iter_mut().filter(|s| s.id == "b") {
        sandbox.budget = Some(budget);
    }
    for node in config.node.iter_mut().filter(|n| n.id == "node-b") {
        for instance in &mut node.instance {
            instance.budget = Some(budget);
        }
    }
    // Counted, not slowed: the budget is the only limit here.
    let counts = Arc::new(CallCounts::default());
    let options = ProcessOptions {
        tracker_decorator: Some({
            let counts = counts.clone();
            Arc::new(move |inner| MeteredTracker::wrap(inner, Duration::ZERO, counts.clone()))
        }),
        ..ProcessOptions::default()
    };
    let process = Process::start(&config, dir.path(), options)
        .await
        .map_err(|e| e.to_string())?;
    let result = bulk_under_budget(&process, args.items.max(1), budget, &counts).await;
    process.stop().await;
    result
}

async fn bulk_under_budget(
    process: &Process,
    items: usize,
    budget: Budget,
    counts: &CallCounts,
) -> Result<RateReport, String> {
    let url_a = process.sandbox_urls.get("a").ok_or("sandbox a missing")?;
    let requests = process
        .sandbox_requests
        .get("b")
        .ok_or("sandbox b missing")?
        .clone();
    // The window starts with the burst full: wait until the set-up's calls are paid back.
    tokio::time::sleep(Duration::from_secs_f64(
        60.0 * f64::from(budget.burst) / f64::from(budget.requests_per_minute),
    ))
    .await;
    let before = requests.counts();
    let calls_before = counts.snapshot();
    let started = Instant::now();
    let http = reqwest::Client::new();
    demo::for_each_limited(items, 16, |i| {
        let (http, url) = (http.clone(), url_a.clone());
        async move { demo::create_item(&http, &url, demo::item_body(demo::PROJECT_A, i, "sync")).await }
    })
    .await?;
    // The work is done when A holds every twin as synced (B's ack came back). The
    // window ends there: B's polling goes on after it, on a budget the bulk no longer
    // needs.
    let node_a = process.node("node-a").ok_or("node-a missing")?;
    while synced_twins(node_a).await? < items {
        if started.elapsed() > Duration::from_secs(3_600) {
            return Err("the items were not all synced within an hour".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let after = requests.counts();
    let calls = counts
        .since(&calls_before)
        .into_iter()
        .filter(|(operation, _)| operation.ends_with(" on sandbox-b"))
        .collect();
    if !process.wait_quiet(Duration::from_secs(600)).await {
        return Err("the nodes did not settle".into());
    }
    let served = after.served - before.served;
    let allowed = f64::from(budget.burst) + f64::from(budget.requests_per_minute) * seconds / 60.0;
    let mut failures = 0;
    for node in &process.nodes {
        failures += failures_on(node).await?;
    }
    let node_b = process.node("node-b").ok_or("node-b missing")?;
    Ok(RateReport {
        items,
        requests_per_minute: budget.requests_per_minute,
        burst: budget.burst,
        seconds,
        served,
        refused: after.refused - before.refused,
        allowed,
        achieved_over_budget: served as f64 / allowed.max(1.0),
        failures,
        synced: synced_twins(node_b).await?,
        calls,
    })
}

async fn failures_on(node: &Node) -> Result<u64, String> {
    let errors = node
        .twins
        .list(&TwinQuery {
            status: Some("error".into()),
            limit: 100_000,
            ..TwinQuery::default()
        })
        .await
        .map_err(|e| e.to_string())?
        .len() as u64;
    let mut dead = 0;
    for queue in queues::HANDLED.iter().chain([&queues::ACK]) {
        dead += node
            .queue
            .depth(&queues::dlq(queue))
            .await
            .map_err(|e| e.to_string())?
            .total();
    }
    Ok(errors + dead)
}

async fn synced_twins(node: &Node) -> Result<usize, String> {
    node.twins
        .list(&TwinQuery {
            connection_id: Some(demo::CONNECTION.into()),
            status: Some("synced".into()),
            limit: 100_000,
            ..TwinQuery::default()
        })
        .await
        .map(|t| t.len())
        .map_err(|e| e.to_string())
}
