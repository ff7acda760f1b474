//! The local runner: drives the handlers from the SQLite queues with tokio tasks, the way
//! Lambda event source mappings drive them from SQS. Every task is supervised: one that
//! ends by panic is logged and started again.

use futures::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use twinsync_node::Node;
use twinsync_node::batch::{Outcome, dead_letter, panic_message, process_batch};
use twinsync_node::config::NodeSection;
use twinsync_node::handlers::scheduler;
use twinsync_ports::{Wait, queues};

/// How the runner polls.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Concurrent consumers per queue; FIFO groups keep per-twin order regardless.
    pub workers_per_queue: usize,
    pub batch_size: usize,
    /// The longest a consumer of an empty queue sleeps. A send to the queue wakes it at
    /// once and a delayed message when it is due, so this only bounds the wait for
    /// queues that cannot notify (and for writers in another process).
    pub idle_ms: u64,
    pub scheduler_every_ms: u64,
    /// How often the scheduler polls, by how an instance's changes arrive.
    pub poll_intervals: scheduler::PollIntervals,
    pub driver: Driver,
}

/// What drives the node's handlers besides the scheduler, which runs either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// This runner: it consumes the queues and pulls from the peers that cannot push.
    Runner,
    /// Lambda-like functions elsewhere (the emulator tests' event source mappings): they
    /// consume the queues, and nothing pulls, since the functions never do. A pull loop
    /// here would list the connections twice a second, reads the functions do not make.
    Functions,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            workers_per_queue: 4,
            batch_size: 10,
            idle_ms: 1_000,
            scheduler_every_ms: 1_000,
            poll_intervals: NodeSection::default().poll_intervals(),
            driver: Driver::Runner,
        }
    }
}

/// Running workers of one node. Dropping it does not stop them; call [`Runner::stop`].
pub struct Runner {
    stop: Stop,
    tasks: Vec<JoinHandle<()>>,
}

/// How long a worker that panicked waits before it starts again, so one that panics at
/// once does not spin.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

impl Runner {
    pub fn start(node: Arc<Node>, settings: RunnerSettings) -> Self {
        let stop = Stop::default();
        let mut tasks = Vec::new();
        let here = settings.driver == Driver::Runner;
        for queue in queues::HANDLED.into_iter().filter(|_| here) {
            for n in 0..settings.workers_per_queue.max(1) {
                let (node, settings, s) = (node.clone(), settings.clone(), stop.clone());
                tasks.push(supervise(format!("{queue} {n}"), &stop, move || {
                    consume(node.clone(), queue, settings.clone(), s.clone())
                }));
            }
        }
        if here {
            let (n, s) = (node.clone(), stop.clone());
            tasks.push(supervise("pull".into(), &stop, move || {
                pull(n.clone(), s.clone())
            }));
        }
        let s = stop.clone();
        tasks.push(supervise("scheduler".into(), &stop, move || {
            schedule(node.clone(), settings.clone(), s.clone())
        }));
        Self { stop, tasks }
    }

    /// Stops taking new messages and waits for the batches in hand.
    pub async fn stop(self) {
        self.stop.set();
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Stops at once, like a killed process: batches in hand stay in flight and are
    /// redelivered after their visibility timeout.
    pub fn abort(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Receives and processes one batch; returns how many messages it handled.
pub async fn run_once(node: &Node, queue: &str, batch_size: usize) -> usize {
    let batch = match node
        .queue
        .receive(queue, batch_size, node.settings.visibility_ms)
        .await
    {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(queue, error = %e, "receive failed");
            return 0;
        }
    };
    if batch.is_empty() {
        return 0;
    }
    // Keep the batch invisible while we work on it: a slow tracker must not let a message
    // reach a second worker while the first is still writing it.
    let outcomes = {
        let work = process_batch(node, queue, &batch);
        tokio::pin!(work);
        let every = Duration::from_millis((node.settings.visibility_ms / 3).max(100) as u64);
        loop {
            tokio::select! {
                outcomes = &mut work => break outcomes,
                _ = tokio::time::sleep(every) => extend(node, queue, &batch).await,
            }
        }
    };
    // The handled messages leave in one delete (one commit locally), the rest one by one.
    let (done, rest): (Vec<_>, Vec<_>) = batch
        .iter()
        .zip(outcomes)
        .partition(|(_, outcome)| matches!(outcome, Outcome::Done));
    let receipts: Vec<String> = done.iter().map(|(m, _)| m.receipt.clone()).collect();
    let deleted = node.queue.delete_batch(queue, &receipts).await;
    for ((message, _), result) in done.iter().zip(deleted) {
        unsettled(queue, message, result);
    }
    for (message, outcome) in rest {
        let result = settle(node, queue, message, outcome).await;
        unsettled(queue, message, result);
    }
    batch.len()
}

/// Settles one message by its outcome: back to its queue, to the dead letters, or (a
/// handled one, which `run_once` deletes with its batch instead) deleted.
async fn settle(
    node: &Node,
    queue: &str,
    message: &twinsync_ports::QueueMessage,
    outcome: Outcome,
) -> twinsync_ports::PortResult<()> {
    match outcome {
        Outcome::Done => node.queue.delete(queue, &message.receipt).await,
        Outcome::Retry { after_ms, .. } => {
            node.queue
                .change_visibility(queue, &message.receipt, after_ms)
                .await
        }
        Outcome::Postponed { after_ms, .. } => {
            node.queue.postpone(queue, &message.receipt, after_ms).await
        }
        // It was not tried, so the receive is not counted against it either.
        Outcome::NotProcessed { after_ms } => {
            node.queue.postpone(queue, &message.receipt, after_ms).await
        }
        Outcome::DeadLetter { reason } => match dead_letter(node, queue, message, &reason).await {
            Ok(()) => node.queue.delete(queue, &message.receipt).await,
            Err(e) => Err(e),
        },
    }
}

fn unsettled(
    queue: &str,
    message: &twinsync_ports::QueueMessage,
    result: twinsync_ports::PortResult<()>,
) {
    if let Err(e) = result {
        tracing::warn!(queue, id = %message.id, error = %e, "could not settle a message; it will be redelivered");
    }
}

/// Pushes the visibility of messages in hand out by another timeout.
async fn extend(node: &Node, queue: &str, batch: &[twinsync_ports::QueueMessage]) {
    for message in batch {
        if let Err(e) = node
            .queue
            .change_visibility(queue, &message.receipt, node.settings.visibility_ms)
            .await
        {
            tracing::warn!(queue, id = %message.id, error = %e, "could not extend a message's visibility");
        }
    }
}

/// Spawns the worker `start` makes and keeps it running until the runner stops: a worker
/// that ends by panic (a bug outside a message's handling, which fails only that message)
/// is logged and started again. The worker runs in the spawned task itself, so aborting
/// the task ends it.
fn supervise<W, F>(name: String, stop: &Stop, start: W) -> JoinHandle<()>
where
    W: Fn() -> F + Send + 'static,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = stop.clone();
    tokio::spawn(async move {
        loop {
            match AssertUnwindSafe(start()).catch_unwind().await {
                Ok(()) => return,
                Err(_) if stop.is_set() => return,
                Err(panic) => {
                    let reason = panic_message(panic.as_ref());
                    tracing::error!(worker = %name, %reason, "worker panicked; restarted");
                    stop.or(tokio::time::sleep(RESTART_PAUSE)).await;
                }
            }
        }
    })
}

async fn consume(node: Arc<Node>, queue: &'static str, settings: RunnerSettings, stop: Stop) {
    while !stop.is_set() {
        let seen = node.queue.activity(queue);
        if run_once(&node, queue, settings.batch_size).await > 0 {
            continue;
        }
        let wait = async {
            let woke = node
                .queue
                .wait_for_work(queue, seen, settings.idle_ms)
                .await;
            if woke == Wait::Unsupported {
                tokio::time::sleep(Duration::from_millis(settings.idle_ms)).await;
            }
        };
        stop.or(wait).await;
    }
}

/// For private connections on this node: long-polls the public node for our messages.
async fn pull(node: Arc<Node>, stop: Stop) {
    while !stop.is_set() {
        let connections = node.connections.list().await.unwrap_or_default();
        let pulling: Vec<_> = connections
            .into_iter()
            .filter(|c| c.status != twinsync_core::ConnectionStatus::Deactivated)
            .filter(|c| c.link.as_ref().is_some_and(|l| l.pulls))
            .collect();
        if pulling.is_empty() {
            stop.or(tokio::time::sleep(Duration::from_millis(500)))
                .await;
            continue;
        }
        let mut got = 0;
        for c in &pulling {
            match twinsync_node::link::pull_once(&node, c, 1_000).await {
                Ok(n) => got += n,
                Err(e) => {
                    tracing::warn!(connection = %c.id, error = %e, "pull failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        if got == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn schedule(node: Arc<Node>, settings: RunnerSettings, stop: Stop) {
    let polling = scheduler::Polling::new(settings.poll_intervals);
    while !stop.is_set() {
        if let Err(e) = scheduler::tick(&node, &polling).await {
            tracing::warn!(error = %e, "scheduler tick failed");
        }
        // Bulk jobs take what is left of the scheduler's turn.
        let budget = i64::try_from(settings.scheduler_every_ms).unwrap_or(1_000);
        if let Err(e) = twinsync_node::jobs::run_pages(&node, budget).await {
            tracing::warn!(error = %e, "bulk job page failed");
        }
        let pause = Duration::from_millis(settings.scheduler_every_ms);
        stop.or(tokio::time::sleep(pause)).await;
    }
}

/// The runner's stop signal: set once, and every wait of a worker ends on it at once, so
/// an idle worker needs no wake-ups of its own to notice it.
#[derive(Clone, Default)]
struct Stop(Arc<tokio::sync::watch::Sender<bool>>);

impl Stop {
    fn set(&self) {
        self.0.send_replace(true);
    }

    fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Runs `work` until it ends or the runner stops.
    async fn or(&self, work: impl std::future::Future<Output = ()>) {
        let mut stopped = self.0.subscribe();
        tokio::select! {
            () = work => {}
            _ = stopped.wait_for(|s| *s) => {}
        }
    }
}
