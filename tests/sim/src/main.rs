//! `twinsync-sim`: runs seeds of the simulation (`scripts/sim` calls it).
//!
//! ```sh
//! twinsync-sim --seeds 100000           # seeds 0..100000 on every core
//! twinsync-sim --replay 4711            # one seed, its whole trace
//! ```

use clap::Parser;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use twinsync_sim::{Faults, Generator, Report, Size, run_seed};

#[derive(Parser)]
#[command(about = "Deterministic simulation of two nodes, their queues and trackers under faults")]
struct Args {
    /// How many seeds to run.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Steps per seed before the world settles.
    #[arg(long, default_value_t = Size::default().steps)]
    steps: usize,
    /// The schedule generator (a regression seed names the one that found its bug).
    #[arg(long, value_enum, default_value_t = Generator::LATEST)]
    generator: Generator,
    /// Runs this one seed and prints its whole trace.
    #[arg(long)]
    replay: Option<u64>,
    /// Writes the totals as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // The nodes' own logs, for a replay: RUST_LOG=info twinsync-sim --replay N.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .without_time()
            .init();
    }
    let size = Size {
        steps: args.steps,
        generator: args.generator,
    };
    if let Some(seed) = args.replay {
        let report = run_seed(seed, size);
        for line in &report.trace {
            println!("{line}");
        }
        return verdict(&[report]);
    }
    let started = Instant::now();
    let next = AtomicU64::new(args.from);
    let end = args.from.saturating_add(args.seeds);
    let failed: Mutex<Vec<Report>> = Mutex::new(Vec::new());
    let faults: Mutex<Faults> = Mutex::new(Faults::default());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        return;
                    }
                    let report = run_seed(seed, size);
                    if let Ok(mut f) = faults.lock() {
                        f.add(&report.faults);
                    }
                    if !report.broken.is_empty() {
                        eprintln!("seed {seed} FAILED: {}", report.broken[0]);
                        if let Ok(mut f) = failed.lock() {
                            f.push(report);
                        }
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_default();
    let faults = faults.into_inner().unwrap_or_default();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} seeds ({}..{end}, {} steps each) in {secs:.1} s: {} passed, {} failed",
        args.seeds,
        args.from,
        args.steps,
        args.seeds - failed.len() as u64,
        failed.len()
    );
    println!(
        "faults injected: {}",
        serde_json::to_string(&faults).unwrap_or_default()
    );
    if let Some(path) = &args.json {
        let body = serde_json::json!({
            "seeds": args.seeds, "from": args.from, "steps": args.steps, "seconds": secs,
            "failed": failed.iter().map(|r| r.seed).collect::<Vec<_>>(), "faults": faults,
        });
        if let Err(e) = std::fs::write(path, body.to_string()) {
            eprintln!("could not write {}: {e}", path.display());
        }
    }
    verdict(&failed)
}

/// Prints each failed seed (its broken invariants and the end of its trace) and says
/// whether all passed.
fn verdict(reports: &[Report]) -> std::process::ExitCode {
    let mut ok = true;
    for r in reports.iter().filter(|r| !r.broken.is_empty()) {
        ok = false;
        println!("\nseed {} broke {} invariants:", r.seed, r.broken.len());
        for b in r.broken.iter().take(20) {
            println!("  {b}");
        }
        println!("last steps:");
        for line in r.trace.iter().rev().take(25).rev() {
            println!("  {line}");
        }
        println!("replay: scripts/sim --replay {}", r.seed);
    }
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
