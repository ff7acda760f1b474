//! ingest: a tracker's webhook (or a poll) becomes ChangeEvents on the `outgoing` queue.

use crate::handlers::arrival::{self, Delivery};
use crate::handlers::to_body;
use crate::{Node, NodeError, NodeResult};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use twinsync_core::{ChangeEvent, Connection, ConnectionStatus, Twin};
use twinsync_ports::{ChangeSignal, NewMessage, WebhookError, queues};

/// Why a webhook was refused; each maps to a 4xx answer.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown tracker instance {0}")]
    UnknownInstance(String),
    #[error("instance {instance} is a {actual} tracker, not {claimed}")]
    WrongConnector {
        instance: String,
        actual: String,
        claimed: String,
    },
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("too many deliveries for instance {instance}; retry after {retry_after_ms} ms")]
    TooMany {
        instance: String,
        retry_after_ms: u64,
    },
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// The webhook deliveries each instance may bring, so a flood on one tracker's route (a
/// misbehaving tracker, someone with the URL) cannot take the node's queues over. A
/// refused delivery is not lost: polling brings the change in. The gate counts its
/// refusals and which of them each connection's poll has since covered, so whoever waits
/// for the node to settle (the local process, a demo) knows when a poll still owes one.
pub struct IngestGate {
    limiter: DefaultKeyedRateLimiter<String>,
    refused: AtomicU64,
    /// Connection id -> the refusals counted when its last completed poll began.
    covered: Mutex<HashMap<String, u64>>,
    /// Time webhooks spent waiting for an apply of their item ([`after_apply`]), in ms.
    apply_waited_ms: AtomicU64,
    /// Instance -> how its last delivery noted by this process went
    /// ([`arrival::note_delivery`]) and when, so the record is read only when that
    /// changes or the note is older than [`NOTE_AGAIN_AFTER_MS`].
    noted: Mutex<HashMap<String, (Delivery, i64)>>,
}

/// How long a process trusts its last note of an instance's deliveries. Someone else
/// may change the record meanwhile: a node started again records its webhooks afresh,
/// and another Lambda instance notes its own deliveries. Noting again once a minute
/// (one record read) bounds how long the record can disagree with deliveries that keep
/// coming: refused ones poll again on the short interval, verified ones go back to the
/// long one.
const NOTE_AGAIN_AFTER_MS: i64 = 60_000;

impl IngestGate {
    /// At least one delivery a minute and one at once: a zero in the settings would
    /// refuse every webhook.
    pub fn per_minute(deliveries: u32, burst: u32) -> Self {
        let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(
                Quota::per_minute(at_least_one(deliveries)).allow_burst(at_least_one(burst)),
            ),
            refused: AtomicU64::new(0),
            covered: Mutex::new(HashMap::new()),
            apply_waited_ms: AtomicU64::new(0),
            noted: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `delivery` is to be noted for `instance`: it differs from the last one
    /// noted here, or that note is a minute old.
    fn to_note(&self, instance: &str, delivery: Delivery, now_ms: i64) -> bool {
        self.noted.lock().map_or(true, |n| match n.get(instance) {
            Some(&(last, at_ms)) => last != delivery || now_ms - at_ms >= NOTE_AGAIN_AFTER_MS,
            None => true,
        })
    }

    fn noted(&self, instance: &str, delivery: Delivery, now_ms: i64) {
        if let Ok(mut noted) = self.noted.lock() {
            noted.insert(instance.to_string(), (delivery, now_ms));
        }
    }

    /// How long webhooks have waited for applies of their items so far: time an ingest
    /// function is billed for, which the cost count prices.
    pub fn apply_waited(&self) -> Duration {
        Duration::from_millis(self.apply_waited_ms.load(Ordering::Relaxed))
    }

    /// Lets one delivery for `instance` through, or says how long to wait.
    pub fn admit(&self, instance: &str) -> Result<(), IngestError> {
        self.limiter
            .check_key(&instance.to_string())
            .map_err(|not_until| {
                self.refused.fetch_add(1, Ordering::SeqCst);
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                IngestError::TooMany {
                    instance: instance.to_string(),
                    retry_after_ms: wait.as_millis().max(1) as u64,
                }
            })
    }

    /// Deliveries refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// A poll of `connection` that began when [`Self::refused`] was `mark` has completed:
    /// every change refused before it began is queued.
    pub fn poll_covers(&self, connection: &str, mark: u64) {
        if let Ok(mut covered) = self.covered.lock() {
            let entry = covered.entry(connection.to_string()).or_default();
            *entry = (*entry).max(mark);
        }
    }

    /// Whether the polls of `connections` have covered every refusal so far.
    pub fn covered_by(&self, connections: &[String]) -> bool {
        let refused = self.refused();
        let Ok(covered) = self.covered.lock() else {
            return false;
        };
        connections
            .iter()
            .all(|c| covered.get(c).copied().unwrap_or(0) >= refused)
    }
}

impl Default for IngestGate {
    fn default() -> Self {
        let settings = crate::NodeSettings::default();
        Self::per_minute(settings.webhooks_per_minute, settings.webhook_burst)
    }
}

/// Verifies a webhook delivery and queues a change per connection using the instance.
/// Returns how many change events were queued.
pub async fn webhook(
    node: &Node,
    connector: &str,
    instance: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<usize, IngestError> {
    let tracker = node
        .trackers
        .get(instance)
        .ok_or_else(|| IngestError::UnknownInstance(instance.to_string()))?;
    if tracker.kind().as_str() != connector {
        return Err(IngestError::WrongConnector {
            instance: instance.to_string(),
            actual: tracker.kind().to_string(),
            claimed: connector.to_string(),
        });
    }
    let now_ms = node.now_ms();
    let verified = tracker.verify_webhook(headers, body, now_ms);
    let delivery = match verified {
        Ok(_) => Delivery::Verified,
        Err(_) => Delivery::Refused,
    };
    if node.ingest_gate.to_note(instance, delivery, now_ms) {
        // A failed note keeps the webhook's answer: the next delivery notes it again.
        match arrival::note_delivery(node, instance, delivery).await {
            Ok(()) => node.ingest_gate.noted(instance, delivery, now_ms),
            Err(e) => tracing::warn!(%instance, error = %e, "noting the webhook delivery failed"),
        }
    }
    let signals = verified?;
    // Counted after the signature: a stranger's flood cannot use the tracker's budget up.
    node.ingest_gate.admit(instance)?;
    Ok(signals_to_changes(node, instance, &signals, false).await?)
}

/// Queues one ChangeEvent per (connection on `instance`, signal). The dedup id is the item
/// and its version, so a webhook and a poll of the same change meet in the dedup window.
pub async fn signals_to_changes(
    node: &Node,
    instance: &str,
    signals: &[ChangeSignal],
    force: bool,
) -> NodeResult<usize> {
    // The waits for applies of one delivery share one bound (`after_apply`).
    let deadline = match node.settings.echo_wait_ms {
        0 => None,
        ms => Some(tokio::time::Instant::now() + Duration::from_millis(ms)),
    };
    // Routes, not connections: each webhook reads them, and a connection's record holds
    // every version's scripts.
    let routes = node.connections.routes().await?;
    let mut queued = 0;
    for route in routes
        .iter()
        .filter(|c| c.local_instance == instance && c.status != ConnectionStatus::Pending)
        // A connection without live sync takes no webhook; its plans read the items.
        .filter(|c| force || c.live)
    {
        queued += queue_checked(node, (&route.id, instance), signals, force, deadline).await?;
    }
    Ok(queued)
}

/// Queues one ChangeEvent per signal for one connection.
pub async fn queue_changes(
    node: &Node,
    connection: &Connection,
    signals: &[ChangeSignal],
    force: bool,
) -> NodeResult<usize> {
    let on = (connection.id.as_str(), connection.local_instance.as_str());
    queue_checked(node, on, signals, force, None).await
}

/// Queues one ChangeEvent per signal for one connection (its id and instance); a signal
/// whose item our incoming handler is writing waits for the write until `deadline`, if
/// any.
async fn queue_checked(
    node: &Node,
    (connection, instance): (&str, &str),
    signals: &[ChangeSignal],
    force: bool,
    deadline: Option<tokio::time::Instant>,
) -> NodeResult<usize> {
    {
        let mut batch = Vec::with_capacity(signals.len());
        let mut traces = Vec::with_capacity(signals.len());
        for s in signals {
            let twin_id = match force {
                true => None,
                false => match seen(node, connection, s, deadline).await {
                    Seen::Echo => continue,
                    Seen::News { twin_id } => twin_id,
                },
            };
            let event = ChangeEvent {
                connection_id: connection.to_string(),
                instance: instance.to_string(),
                item_key: s.item_key.clone(),
                observed_version: s.version,
                delivery_id: s.delivery_id.clone(),
                force,
                trace_id: super::new_trace_id(),
                origin: s.origin.clone(),
                twin_id,
            };
            // A signal without a version (a deletion, a comment's edit) is news each time
            // it is delivered: only a redelivery of the same delivery is a duplicate.
            let dedup_id = match (force, s.version) {
                (true, _) => format!("{connection}:{}:force:{}", s.item_key, s.delivery_id),
                (false, 0) => format!("{connection}:{}:unversioned:{}", s.item_key, s.delivery_id),
                (false, version) => format!("{connection}:{}:{version}", s.item_key),
            };
            traces.push((s.item_key.clone(), event.trace_id.clone()));
            batch.push(NewMessage {
                group_id: event.group_id(),
                dedup_id,
                body: to_body(&event)?,
            });
        }
        let queued = batch.len();
        if queued == 0 {
            return Ok(0);
        }
        node.queue.send_batch(queues::OUTGOING, batch).await?;
        for (key, m) in traces {
            tracing::info!(connection = %connection, item = %key, trace_id = %m, "change queued");
        }
        Ok(queued)
    }
}

/// What ingest's look at a signal's twin says of it.
enum Seen {
    /// The tracker telling us of our own write, or of a version already sent and
    /// acknowledged: not queued, which saves a queue message and an outgoing run per
    /// synced change (the write's webhook).
    Echo,
    /// Queued, with the twin record found, which outgoing then reads by id.
    News { twin_id: Option<String> },
}

/// Looks up a signal's twin: only a signal with a version can be recognised as an echo.
/// A twin being written (`applying_until_ms`) is waited for until `deadline`, if any,
/// and is otherwise left to outgoing, which waits for the write to finish. A failed
/// lookup queues the change, as before.
async fn seen(
    node: &Node,
    connection: &str,
    signal: &ChangeSignal,
    deadline: Option<tokio::time::Instant>,
) -> Seen {
    if signal.version == 0 {
        // No lookup: it could not tell an echo, and would cost more than it saves.
        return Seen::News { twin_id: None };
    }
    match node.twins.find_by_local(connection, &signal.item_key).await {
        Ok(Some(t)) => {
            let t = match deadline {
                Some(deadline) => after_apply(node, t, deadline).await,
                None => t,
            };
            let echo = t.applying_until_ms <= node.now_ms() && !t.is_news(signal.version);
            if echo {
                tracing::debug!(connection = %connection, item = %signal.item_key, version = signal.version, "own write; not queued");
                return Seen::Echo;
            }
            Seen::News {
                twin_id: Some(t.id),
            }
        }
        Ok(None) => Seen::News { twin_id: None },
        Err(e) => {
            tracing::warn!(connection = %connection, item = %signal.item_key, error = %e, "twin lookup failed; the change is queued");
            Seen::News { twin_id: None }
        }
    }
}

/// The twin once the apply writing its item is over, or as it is at `deadline`.
///
/// A tracker often sends the webhook of our own write before the apply that made it has
/// recorded it (the tracker answers after it notifies). Queued, that echo costs a queue
/// hop and an outgoing run, which waits for the write anyway and then drops it: on AWS
/// a send, a receive, a delete and an invocation. Waiting here costs the ingest
/// function's time instead, which at 128 MB passes the hop's price only after about a
/// second: hence the functions' bound of 1 s (`NodeSettings::echo_wait_ms`; a local node
/// does not wait, its hop being cheap). The twin is read again by id, sooner at first,
/// since the write is usually nearly done. A person's edit made
/// during the write is still news afterwards (its version is not the one recorded), and
/// an apply that failed gives its lease back without recording, so neither is dropped.
async fn after_apply(node: &Node, twin: Twin, deadline: tokio::time::Instant) -> Twin {
    use backon::{BackoffBuilder, ExponentialBuilder};
    let started = tokio::time::Instant::now();
    if twin.lease_wait(node.now_ms()).is_none() || started >= deadline {
        return twin;
    }
    // backon's backoff is the schedule of the looks; each comes after its pause, since
    // the twin was just read.
    let pauses = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(5))
        .with_max_delay(Duration::from_millis(100))
        .with_total_delay(Some(deadline - started))
        .without_max_times()
        .build();
    let mut latest = twin;
    for pause in pauses {
        tokio::time::sleep(pause).await;
        match node.twins.get(&latest.id).await {
            Ok(Some(t)) => {
                let over = t.lease_wait(node.now_ms()).is_none();
                latest = t;
                if over {
                    break;
                }
            }
            // Gone or unreadable meanwhile: what was read last decides, as without the wait.
            Ok(None) | Err(_) => break,
        }
    }
    let waited = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    node.ingest_gate
        .apply_waited_ms
        .fetch_add(waited, Ordering::Relaxed);
    latest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_covered_by_polls_begun_after_them() {
        let gate = IngestGate::per_minute(1, 2);
        let both = ["c1".to_string(), "c2".to_string()];
        assert!(gate.covered_by(&both), "nothing refused yet");
        assert!(gate.admit("i").is_ok() && gate.admit("i").is_ok());
        assert!(matches!(gate.admit("i"), Err(IngestError::TooMany { .. })));
        assert!(gate.admit("other").is_ok(), "the limit is per instance");
        assert_eq!(gate.refused(), 1);
        // (poll of c1 begun at mark, poll of c2 begun at mark, covered)
        let cases = [(0, 0, false), (1, 0, false), (0, 1, false), (1, 1, true)];
        for (c1, c2, want) in cases {
            let gate = IngestGate::per_minute(1, 1);
            let _ = gate.admit("i");
            let _ = gate.admit("i");
            gate.poll_covers("c1", c1);
            gate.poll_covers("c2", c2);
            assert_eq!(gate.covered_by(&both), want, "{c1} {c2}");
        }
        // A later poll with an older mark does not undo a newer one.
        gate.poll_covers("c1", 1);
        gate.poll_covers("c1", 0);
        gate.poll_covers("c2", 1);
        assert!(gate.covered_by(&both));
    }
}
