//! The one step runner the three demo pairs share. A pair starts its process with
//! [`start`], then for each step acts on the trackers, waits until the pair has settled
//! ([`Runner::settle`]) and records what happened ([`Runner::record`]); [`Runner::report`]
//! turns the steps and the final comparison into the [`DemoReport`].

use super::common::{DemoArgs, DemoReport, Step};
use std::future::Future;
use std::time::Instant;
use tempfile::TempDir;
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_node::config::ProcessConfig;

/// Starts the pair's process in `--data-dir` or a temporary directory. The directory
/// guard must live as long as the process.
pub(crate) async fn start(
    args: &DemoArgs,
    config: &ProcessConfig,
    options: ProcessOptions,
) -> Result<(Process, TempDir), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let process = Process::start(config, &dir, options)
        .await
        .map_err(|e| e.to_string())?;
    Ok((process, tmp))
}

/// What the last step found when it compared both trackers.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The items the scenario created; the rate is counted over them.
    pub items: usize,
    pub items_a_to_b: usize,
    pub items_b_to_a: usize,
    pub comments_synced: usize,
    pub duplicates: usize,
    pub conflicts: usize,
    pub mismatches: Vec<String>,
}

/// Times the steps and remembers whether every wait for the pair to settle succeeded:
/// a demo that did not settle has not converged, whatever the comparison says.
pub(crate) struct Runner {
    started: Instant,
    step_started: Instant,
    step_settled: bool,
    all_settled: bool,
    steps: Vec<Step>,
}

impl Runner {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            step_started: Instant::now(),
            step_settled: true,
            all_settled: true,
            steps: Vec::new(),
        }
    }

    /// Waits for the pair to settle (`wait` says whether it did in time).
    pub async fn settle(&mut self, wait: impl Future<Output = bool>) -> bool {
        let settled = wait.await;
        self.step_settled &= settled;
        self.all_settled &= settled;
        settled
    }

    /// Records the step that ends now; its time runs from the end of the one before.
    pub fn record(&mut self, step: &str, detail: String) {
        let detail = if self.step_settled {
            detail
        } else {
            format!("{detail} (queues did NOT drain in time)")
        };
        self.steps.push(Step {
            step: step.into(),
            ms: self.step_started.elapsed().as_millis(),
            detail,
        });
        self.step_started = Instant::now();
        self.step_settled = true;
    }

    pub fn report(self, outcome: Outcome) -> DemoReport {
        let elapsed = self.started.elapsed();
        DemoReport {
            converged: self.all_settled && outcome.mismatches.is_empty(),
            items_a_to_b: outcome.items_a_to_b,
            items_b_to_a: outcome.items_b_to_a,
            comments_synced: outcome.comments_synced,
            duplicates: outcome.duplicates,
            conflicts: outcome.conflicts,
            mismatches: outcome.mismatches,
            elapsed_ms: elapsed.as_millis(),
            items_per_second: outcome.items as f64 / elapsed.as_secs_f64().max(0.001),
            steps: self.steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_that_did_not_settle_says_so_and_the_demo_has_not_converged() {
        let cases = [
            (vec![true, true], true, ""),
            (vec![true, false], false, " (queues did NOT drain in time)"),
        ];
        for (waits, converged, suffix) in cases {
            let mut run = Runner::new(Instant::now());
            for w in waits {
                run.settle(async move { w }).await;
            }
            run.record("edit", "done".into());
            run.record("verify", "ok".into());
            let report = run.report(Outcome {
                items: 2,
                ..Outcome::default()
            });
            assert_eq!(report.converged, converged);
            assert_eq!(report.steps[0].detail, format!("done{suffix}"));
            assert_eq!(report.steps[1].detail, "ok", "a new step starts settled");
        }
    }

    #[tokio::test]
    async fn a_mismatch_means_not_converged() {
        let run = Runner::new(Instant::now());
        let report = run.report(Outcome {
            mismatches: vec!["A-1/B-1: summary".into()],
            ..Outcome::default()
        });
        assert!(!report.converged);
    }
}
