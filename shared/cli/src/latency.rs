//! `twinsync latency`: how long one change takes through a local node pair, from the
//! webhook that names it to the twin written on the other side.
//!
//! Two sandbox trackers and two nodes run in this process, as in the demo. A probe wraps
//! each node's queue: the start of a change is its `ChangeEvent` reaching node A's
//! `outgoing` queue (ingest has verified the webhook), its end is node B's ack of it
//! reaching B's `transport` queue (incoming has written the item and the twin). The trace
//! id that ingest gives a change and that its replica and ack carry pairs the two. One
//! change at a time, so the figures are latency, not throughput under load.
//!
//! Every tracker call goes through a `MeteredTracker`: `--tracker-latency-ms` gives each
//! API request that latency (a tracker across the internet), and the requests are counted
//! by operation, so each kind of change reports the API calls it cost and the time set
//! against its floor: the sequential calls no sync can do without (read the changed item
//! on A, write it on B), each at the tracker's latency.

use crate::demo;
use async_trait::async_trait;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use twinsync_core::{ChangeEvent, TransportMessage};
use twinsync_local::metered::{CallCounts, MeteredTracker};
use twinsync_local::process::{Process, ProcessOptions};
use twinsync_ports::{Decorated, NewMessage, PortResult, Queue, QueueHooks, SendOutcome, queues};

#[derive(clap::Args, Debug)]
pub struct LatencyArgs {
    /// How many creates, edits, comments and attachments to time, one at a time.
    #[arg(long, default_value_t = 200)]
    pub changes: usize,
    /// Each tracker API request takes this long (ms), as across the internet.
    #[arg(long, default_value_t = 0)]
    pub tracker_latency_ms: u64,
    /// Print one JSON object instead of a line per kind of change.
    #[arg(long)]
    pub json: bool,
}

/// The tracker requests no sync of a change can do without, made one after the other:
/// read the changed item on A (the webhook names it, it does not carry it), write it on B.
pub const FLOOR_CALLS: u64 = 2;

/// The requests no create can do without: [`FLOOR_CALLS`], and B's link shown on A.
/// connectors.md asks for "a link to its twin" visible inside each tracker; A learns B's
/// key from the ack, after its one read, so the link is a write of its own. It comes
/// after the twin is written on B, so the end-to-end floor stays [`FLOOR_CALLS`] long.
pub const CREATE_MINIMUM_CALLS: u64 = FLOOR_CALLS + 1;

/// The latency figures of one kind of change, in milliseconds, and its API calls.
#[derive(Debug, Serialize)]
pub struct Figures {
    pub changes: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// `FLOOR_CALLS` at the tracker's latency.
    pub floor_ms: f64,
    /// p50 ÷ floor (none at 0 ms trackers).
    pub p50_over_floor: Option<f64>,
    /// Tracker API requests per change, by operation and tracker ("get_item on a").
    pub calls: std::collections::BTreeMap<String, f64>,
    /// The fewest requests the vendor's API allows for this kind of change.
    pub minimum_calls: u64,
    /// All of them ÷ `minimum_calls`.
    pub calls_over_minimum: f64,
}

#[derive(Debug, Serialize)]
pub struct LatencyReport {
    pub tracker_latency_ms: u64,
    pub create: Figures,
    pub edit: Figures,
    pub comment: Figures,
    pub attachment: Figures,
}

/// A change made to each created item in turn, by the sandbox's own HTTP API.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Edit,
    Comment,
    /// A file on sandbox A's own host: the other node fetches attachments only from the
    /// replica's source tracker.
    Attachment,
}

impl Kind {
    fn request(
        self,
        http: &reqwest::Client,
        url: &str,
        key: &str,
        i: usize,
    ) -> reqwest::RequestBuilder {
        match self {
            Kind::Edit => http
                .patch(format!("{url}/api/items/{key}"))
                .json(&json!({ "summary": format!("Edited for the latency bench ({i})") })),
            Kind::Comment => http
                .post(format!("{url}/api/items/{key}/comments"))
                .json(&json!({ "body": format!("A comment for the latency bench ({i})") })),
            Kind::Attachment => http
                .post(format!("{url}/api/items/{key}/attachments"))
                .json(&json!({
                    "filename": format!("latency-{i}.log"),
                    "mimeType": "text/plain",
                    "size": 2048,
                    "url": format!("{url}/files/latency-{i}.log"),
                })),
        }
    }
}

/// Start and end instants of the changes seen so far, by trace id.
#[derive(Default)]
struct Probe {
    started: Mutex<HashMap<String, Instant>>,
    /// In the order the changes finished: one change at a time, so creates come first.
    finished: Mutex<Vec<(String, Duration)>>,
    acked: Notify,
}

impl Probe {
    /// A change event about to be queued on node A starts its change.
    fn started(&self, queue: &str, body: &str) {
        let now = Instant::now();
        if queue == queues::OUTGOING
            && let Ok(event) = serde_json::from_str::<ChangeEvent>(body)
            && !event.trace_id.is_empty()
            && let Ok(mut started) = self.started.lock()
        {
            started.entry(event.trace_id).or_insert(now);
        }
    }

    /// Node B's ack of a started change, queued, ends it.
    fn finished(&self, queue: &str, body: &str) {
        let now = Instant::now();
        if queue == queues::TRANSPORT
            && let Ok(TransportMessage::Ack(ack)) = serde_json::from_str(body)
            && let Ok(started) = self.started.lock()
            && let Some(start) = started.get(&ack.trace_id)
            && let Ok(mut finished) = self.finished.lock()
            && !finished.iter().any(|(trace, _)| *trace == ack.trace_id)
        {
            finished.push((ack.trace_id, now.duration_since(*start)));
            self.acked.notify_waiters();
        }
    }

    fn count(&self) -> usize {
        self.finished.lock().map(|f| f.len()).unwrap_or(0)
    }

    /// Waits until `n` changes have finished.
    async fn wait_for(&self, n: usize, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let acked = self.acked.notified();
            if self.count() >= n {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("change {n} was not acked within {timeout:?}"));
            }
            let _ = tokio::time::timeout(left, acked).await;
        }
    }

    /// The durations of the changes that finished `from`th to `to`th.
    fn durations(&self, from: usize, to: usize) -> Vec<Duration> {
        self.finished
            .lock()
            .map(|f| {
                f.iter()
                    .skip(from)
                    .take(to - from)
                    .map(|(_, d)| *d)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The probe watching what a node's queue is sent.
struct ProbedSends {
    probe: Arc<Probe>,
}

#[async_trait]
impl QueueHooks for ProbedSends {
    // A change starts before its event is queued: a worker may take it, and the other
    // node ack it, before the send returns.
    async fn send(
        &self,
        inner: &dyn Queue,
        queue: &str,
        message: NewMessage,
    ) -> PortResult<SendOutcome> {
        let body = message.body.clone();
        self.probe.started(queue, &body);
        let outcome = inner.send(queue, message).await?;
        self.probe.finished(queue, &body);
        Ok(outcome)
    }

    async fn send_batch(
        &self,
        inner: &dyn Queue,
        queue: &str,
        messages: Vec<NewMessage>,
    ) -> PortResult<()> {
        let bodies: Vec<String> = messages.iter().map(|m| m.body.clone()).collect();
        for body in &bodies {
            self.probe.started(queue, body);
        }
        inner.send_batch(queue, messages).await?;
        for body in &bodies {
            self.probe.finished(queue, body);
        }
        Ok(())
    }
}

/// p50, p99 and max of `samples`, set against the floor at `latency`, with the calls
/// (totals over the samples) made per change.
fn figures(
    mut samples: Vec<Duration>,
    latency: Duration,
    calls: std::collections::BTreeMap<String, u64>,
    minimum_calls: u64,
) -> Figures {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1_000.0;
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).saturating_sub(1);
        samples.get(i).copied().map_or(0.0, ms)
    };
    let n = samples.len().max(1) as f64;
    let floor_ms = ms(latency) * FLOOR_CALLS as f64;
    let p50_ms = at(0.50);
    let total: u64 = calls.values().sum();
    Figures {
        changes: samples.len(),
        p50_ms,
        p99_ms: at(0.99),
        max_ms: samples.last().copied().map_or(0.0, ms),
        floor_ms,
        p50_over_floor: (floor_ms > 0.0).then(|| p50_ms / floor_ms),
        calls: calls
            .into_iter()
            .map(|(op, c)| (op, c as f64 / n))
            .collect(),
        minimum_calls,
        calls_over_minimum: total as f64 / n / minimum_calls as f64,
    }
}

pub async fn run(args: LatencyArgs) -> Result<ExitCode, String> {
    let latency = Duration::from_millis(args.tracker_latency_ms);
    let report = measure(args.changes.max(1), latency).await?;
    crate::print_report(&report, args.json, |report| {
        [
            ("create", &report.create),
            ("edit", &report.edit),
            ("comment", &report.comment),
            ("attachment", &report.attachment),
        ]
        .into_iter()
        .map(|(kind, f)| {
            let calls: Vec<String> = f
                .calls
                .iter()
                .map(|(op, n)| format!("{op} {n:.2}"))
                .collect();
            format!(
                "latency, webhook received -> twin written, {kind}: {} changes, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; tracker calls per change {:.2}x the minimum of {} ({})",
                f.changes,
                f.p50_ms,
                f.p99_ms,
                f.max_ms,
                f.calls_over_minimum,
                f.minimum_calls,
                calls.join(", ")
            )
        })
        .collect()
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Times `n` creates, then `n` edits, `n` comments and `n` attachments of the created
/// items, one at a time, with trackers answering after `latency`.
pub async fn measure(n: usize, latency: Duration) -> Result<LatencyReport, String> {
    let probe = Arc::new(Probe::default());
    let counts = Arc::new(CallCounts::default());
    let options = ProcessOptions {
        tracker_decorator: Some({
            let counts = counts.clone();
            Arc::new(move |inner| MeteredTracker::wrap(inner, latency, counts.clone()))
        }),
        queue_decorator: Some({
            let probe = probe.clone();
            Arc::new(move |inner| {
                Arc::new(Decorated::new(
                    inner,
                    ProbedSends {
                        probe: probe.clone(),
                    },
                )) as Arc<dyn Queue>
            })
        }),
        ..ProcessOptions::default()
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let secret = uuid::Uuid::new_v4().to_string();
    let process = Process::start(&demo::config(&secret), dir.path(), options)
        .await
        .map_err(|e| e.to_string())?;
    let result = changes(&process, &probe, &counts, n, latency).await;
    process.stop().await;
    result
}

async fn changes(
    process: &Process,
    probe: &Probe,
    counts: &CallCounts,
    n: usize,
    latency: Duration,
) -> Result<LatencyReport, String> {
    let url = process
        .sandbox_urls
        .get("a")
        .ok_or("sandbox a missing")?
        .clone();
    let http = reqwest::Client::new();
    let timeout = Duration::from_secs(60) + latency * 20;
    // The bench's own requests go to the sandbox's HTTP API, not through the nodes'
    // trackers: only the nodes' calls are counted. Each kind ends when the nodes are
    // quiet, so the echoes of its last change are counted with it.
    let settle = async || {
        if process.wait_quiet(timeout).await {
            Ok(counts.snapshot())
        } else {
            Err("the nodes did not settle".to_string())
        }
    };
    // A fresh node polls each connection on its first tick; that poll is not a change's.
    if !twinsync_local::quiet::wait_first_polls(&process.nodes, timeout).await {
        return Err("the nodes did not poll at start".into());
    }
    let start = settle().await?;
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let body = demo::item_body(demo::PROJECT_A, i, "sync");
        keys.push(demo::create_item(&http, &url, body).await?);
        probe.wait_for(i + 1, timeout).await?;
    }
    let mut counted = settle().await?;
    let create = figures(
        probe.durations(0, n),
        latency,
        counts.since(&start),
        CREATE_MINIMUM_CALLS,
    );
    let mut changed = Vec::with_capacity(3);
    for (round, kind) in [Kind::Edit, Kind::Comment, Kind::Attachment]
        .into_iter()
        .enumerate()
    {
        let done = n * (round + 1);
        for (i, key) in keys.iter().enumerate() {
            demo::send_change(kind.request(&http, &url, key, i)).await?;
            probe.wait_for(done + i + 1, timeout).await?;
        }
        let settled = settle().await?;
        let calls = counts.since(&counted);
        changed.push(figures(
            probe.durations(done, done + n),
            latency,
            calls,
            FLOOR_CALLS,
        ));
        counted = settled;
    }
    let mut changed = changed.into_iter();
    let mut next = || changed.next().ok_or("a kind of change was not timed");
    Ok(LatencyReport {
        tracker_latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        create,
        edit: next()?,
        comment: next()?,
        attachment: next()?,
    })
}
