//! Bulk jobs: Bulk Exalate, Bulk Sync and Bulk Connect as durable records the scheduler
//! works through a page at a time. The record says how far it got (its cursor), so a
//! crash resumes at the page it was on; each item's change carries the job's id, so a
//! page done again meets its first sends in the queue's deduplication.

use crate::CoreError;
use serde::{Deserialize, Serialize};

/// The errors a job keeps (the newest); the count of all is `failed`.
pub const KEPT_ERRORS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Every item the connection's active triggers match, under sync now.
    Exalate,
    /// Every twin of the connection, sent again.
    Sync,
    /// Relink of each pair: (local key, remote key).
    Connect { pairs: Vec<(String, String)> },
    /// Relink of every item the triggers match with the other side's one item that
    /// carries the same value in `field` (`summary`, `key` or `cf.NAME`).
    ConnectByField { field: String },
}

impl JobKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            JobKind::Exalate => "bulk exalate",
            JobKind::Sync => "bulk sync",
            JobKind::Connect { .. } => "bulk connect",
            JobKind::ConnectByField { .. } => "bulk connect by field",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Running,
    Done,
    Cancelled,
}

/// Where a job goes on: the trigger it is on and the tracker's page token (Exalate), or
/// how many twins or pairs it has done (Sync, Connect).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobCursor {
    pub trigger: usize,
    pub page: Option<String>,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub connection_id: String,
    #[serde(flatten)]
    pub kind: JobKind,
    pub status: JobStatus,
    /// Items to do, when known before the end (Exalate learns it as it pages).
    pub total: Option<u64>,
    /// Items done (queued or linked), and of those, how many failed.
    pub done: u64,
    pub failed: u64,
    pub errors: Vec<String>,
    pub cursor: JobCursor,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub finished_ms: Option<i64>,
}

/// What one page of a job did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobPage {
    pub done: u64,
    pub errors: Vec<String>,
    /// The cursor after the page; `None` when the job has nothing left.
    pub next: Option<JobCursor>,
}

impl Job {
    pub fn new(id: String, connection_id: String, kind: JobKind, now_ms: i64) -> Self {
        let total = match &kind {
            JobKind::Connect { pairs } => Some(pairs.len() as u64),
            _ => None,
        };
        Self {
            id,
            connection_id,
            kind,
            status: JobStatus::Running,
            total,
            done: 0,
            failed: 0,
            errors: Vec::new(),
            cursor: JobCursor::default(),
            created_ms: now_ms,
            updated_ms: now_ms,
            finished_ms: None,
        }
    }

    /// Records a page: progress, errors (the newest kept), and the cursor or the end.
    pub fn record(&mut self, page: JobPage, now_ms: i64) {
        self.done += page.done;
        self.failed += page.errors.len() as u64;
        self.errors.extend(page.errors);
        let extra = self.errors.len().saturating_sub(KEPT_ERRORS);
        self.errors.drain(..extra);
        self.updated_ms = now_ms;
        match page.next {
            Some(cursor) => self.cursor = cursor,
            None => {
                self.status = JobStatus::Done;
                self.total = Some(self.done);
                self.finished_ms = Some(now_ms);
            }
        }
    }

    /// Stops a running job; its pages done stay done.
    pub fn cancel(&mut self, now_ms: i64) -> Result<(), CoreError> {
        if self.status != JobStatus::Running {
            return Err(CoreError::InvalidConfig(format!(
                "job {} is {:?}, not running",
                self.id, self.status
            )));
        }
        self.status = JobStatus::Cancelled;
        self.updated_ms = now_ms;
        self.finished_ms = Some(now_ms);
        Ok(())
    }

    /// Items per second since the job was created, until it finished.
    pub fn rate_per_s(&self, now_ms: i64) -> f64 {
        let end = self.finished_ms.unwrap_or(now_ms);
        let secs = (end - self.created_ms).max(1) as f64 / 1_000.0;
        self.done as f64 / secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_counts_pages_keeps_the_newest_errors_and_ends() {
        let mut job = Job::new("j".into(), "c".into(), JobKind::Sync, 0);
        let page = |done: u64, errors: usize, offset: Option<u64>| JobPage {
            done,
            errors: (0..errors).map(|i| format!("e{i}")).collect(),
            next: offset.map(|offset| JobCursor {
                offset,
                ..JobCursor::default()
            }),
        };
        // (page, done after, failed after, kept errors, status, cursor offset)
        let steps = [
            (page(50, 0, Some(50)), 50, 0, 0, JobStatus::Running, 50),
            (
                page(50, 15, Some(100)),
                100,
                15,
                15,
                JobStatus::Running,
                100,
            ),
            (
                page(50, 15, Some(150)),
                150,
                30,
                KEPT_ERRORS,
                JobStatus::Running,
                150,
            ),
            (page(7, 0, None), 157, 30, KEPT_ERRORS, JobStatus::Done, 150),
        ];
        for (i, (p, done, failed, kept, status, offset)) in steps.into_iter().enumerate() {
            job.record(p, (i as i64 + 1) * 1_000);
            assert_eq!(
                (
                    job.done,
                    job.failed,
                    job.errors.len(),
                    job.status,
                    job.cursor.offset
                ),
                (done, failed, kept, status, offset),
                "step {i}"
            );
        }
        assert_eq!(job.errors.last().map(String::as_str), Some("e14"));
        assert_eq!(job.total, Some(157));
        assert_eq!(job.finished_ms, Some(4_000));
        assert!((job.rate_per_s(99_000) - 157.0 / 4.0).abs() < 1e-9);
        assert!(
            job.cancel(5_000).is_err(),
            "a finished job cannot be cancelled"
        );
    }

    #[test]
    fn a_running_job_can_be_cancelled_once() {
        let kind = JobKind::Connect {
            pairs: vec![("A-1".into(), "B-1".into())],
        };
        let mut job = Job::new("j".into(), "c".into(), kind, 0);
        assert_eq!(job.total, Some(1));
        job.cancel(10).unwrap();
        assert_eq!(job.status, JobStatus::Cancelled);
        assert!(job.cancel(11).is_err());
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["kind"], "connect");
        assert_eq!(json["pairs"][0][0], "A-1");
    }
}
