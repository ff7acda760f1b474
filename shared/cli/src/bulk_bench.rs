//! `twinsync bulk-bench`: how fast a Bulk Exalate brings ITEMS existing items under sync.
//!
//! Two sandbox trackers and two nodes run in this process, as in the demo, but node A's
//! connection takes no live changes (`live = false`), so the items created in A first
//! stay where they are, as items that exist before a connection does. Then Bulk Exalate
//! runs on A: the time from the operation until both nodes are quiet is the figure, and
//! every item must have its twin in B with the same summary. Unlike `demo --items`, no
//! webhook flood and no poll interval is in the measurement: it is the pipeline's rate.
//! The nodes' webhook limit is lifted (see [`measure`]).

use crate::demo;
use serde::Serialize;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::bulk;

#[derive(clap::Args, Debug)]
pub struct BulkArgs {
    /// Items in tracker A before the Bulk Exalate.
    #[arg(long, default_value_t = 10_000)]
    pub items: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct BulkReport {
    pub items: usize,
    /// Changes the Bulk Exalate queued.
    pub queued: usize,
    pub seconds: f64,
    pub items_per_second: f64,
    /// Every item has a twin in B with its summary.
    pub converged: bool,
    pub mismatches: Vec<String>,
}

pub async fn run(args: BulkArgs) -> Result<ExitCode, String> {
    let report = measure(args.items.max(1)).await?;
    crate::print_report(&report, args.json, |report| {
        let mut lines = vec![format!(
            "bulk exalate of {} items: {:.1} s, {:.1} items/s",
            report.items, report.seconds, report.items_per_second
        )];
        lines.extend(report.mismatches.iter().take(10).cloned());
        lines
    })?;
    Ok(if report.converged {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn measure(items: usize) -> Result<BulkReport, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let secret = uuid::Uuid::new_v4().to_string();
    let mut config = demo::config(&secret);
    for connection in config
        .node
        .iter_mut()
        .filter(|n| n.id == "node-a")
        .flat_map(|n| n.connection.iter_mut())
    {
        connection.live = Some(false);
    }
    // The echoes of B's creates are webhooks to B's node, far over its flood limit; the
    // limit is lifted so they are taken as they come rather than left to a later poll,
    // whose interval would then be part of the figure.
    let options = ProcessOptions {
        node: twinsync_node::NodeSettings {
            webhooks_per_minute: u32::MAX,
            webhook_burst: u32::MAX,
            ..twinsync_node::NodeSettings::default()
        },
        ..ProcessOptions::default()
    };
    let process = Process::start(&config, dir.path(), options)
        .await
        .map_err(|e| e.to_string())?;
    let result = exalated(&process, items).await;
    process.stop().await;
    result
}

async fn exalated(process: &Process, items: usize) -> Result<BulkReport, String> {
    let demo::PairParts {
        url_a,
        node_a,
        node_b,
    } = demo::pair_parts(process)?;
    let tracker_a = node_a.tracker("sandbox-a").map_err(|e| e.to_string())?;
    let tracker_b = node_b.tracker("sandbox-b").map_err(|e| e.to_string())?;
    let http = reqwest::Client::new();
    let timeout = Duration::from_secs(600 + items as u64 / 10);
    demo::for_each_limited(items, 16, |i| {
        let (http, url) = (http.clone(), url_a.clone());
        async move {
            demo::create_item(&http, &url, demo::item_body(demo::PROJECT_A, i, "sync")).await
        }
    })
    .await?;
    // The creations' webhooks reach a connection that takes no live change.
    if !process.wait_quiet(timeout).await {
        return Err("the nodes did not settle after the items were created".into());
    }
    let started = Instant::now();
    let queued = bulk::bulk_exalate(&node_a, demo::CONNECTION)
        .await
        .map_err(|e| e.to_string())?;
    let settled = process.wait_quiet(timeout).await;
    let seconds = started.elapsed().as_secs_f64();
    let pairing = demo::pair_up(tracker_a.as_ref(), tracker_b.as_ref()).await?;
    let mut mismatches = Vec::new();
    if !settled {
        mismatches.push(format!("the nodes did not settle within {timeout:?}"));
    }
    if pairing.a_to_b != items {
        mismatches.push(format!("{} of {items} items reached B", pairing.a_to_b));
    }
    let (problems, _, _) =
        demo::compare(tracker_a.as_ref(), tracker_b.as_ref(), &pairing.pairs).await?;
    mismatches.extend(problems);
    Ok(BulkReport {
        items,
        queued,
        seconds,
        items_per_second: items as f64 / seconds.max(f64::EPSILON),
        converged: mismatches.is_empty(),
        mismatches,
    })
}
