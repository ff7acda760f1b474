//! What the tracker connectors share.
//!
//! [`RateGate`]: every request of a connector passes it. It holds the connector's own
//! budget (`governor`), the time the tracker told us to wait (a 429's `Retry-After`, an
//! exhausted window), the time spent waiting, and the number of calls, for metrics.

pub mod answer;
pub mod http;
pub mod outbound;
mod shown;
pub mod target;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use twinsync_ports::{PortError, Refusal};

pub use shown::ShownMarks;

/// The longest the budget may hold a request in the worker; longer waits go back to the
/// queue as `RateLimited`, so a worker is not tied up.
pub const MAX_BUDGET_WAIT: Duration = Duration::from_secs(2);

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug)]
pub struct RateGate {
    budget: DefaultDirectRateLimiter,
    blocked_until_ms: AtomicI64,
    calls: AtomicU64,
    throttled_ms: AtomicU64,
}

impl RateGate {
    pub fn per_minute(requests: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            budget: RateLimiter::direct(Quota::per_minute(requests).allow_burst(burst)),
            blocked_until_ms: AtomicI64::new(0),
            calls: AtomicU64::new(0),
            throttled_ms: AtomicU64::new(0),
        }
    }

    /// A gate of `requests` a minute, `burst` at once, as a config gives them; zero is
    /// refused with the key that says it.
    pub fn from_config(requests: u32, burst: u32) -> Result<Self, String> {
        let requests = NonZeroU32::new(requests)
            .ok_or_else(|| "requests_per_minute must be above 0".to_string())?;
        let burst = NonZeroU32::new(burst).ok_or_else(|| "burst must be above 0".to_string())?;
        Ok(Self::per_minute(requests, burst))
    }

    /// Lets one request through, or says how long to wait: while the tracker holds us
    /// off, or when our own budget would hold the worker longer than `MAX_BUDGET_WAIT`.
    pub async fn admit(&self) -> Result<(), PortError> {
        let now = now_ms();
        let blocked = self.blocked_until_ms.load(Ordering::Relaxed);
        if blocked > now {
            return Err(self.throttled((blocked - now) as u64));
        }
        if self.budget.check().is_err() {
            let started = std::time::Instant::now();
            if tokio::time::timeout(MAX_BUDGET_WAIT, self.budget.until_ready())
                .await
                .is_err()
            {
                return Err(self.throttled(MAX_BUDGET_WAIT.as_millis() as u64));
            }
            self.throttled_ms
                .fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        twinsync_ports::requests::note();
        Ok(())
    }

    /// Holds every further request until `until_ms`: trackers count refused calls too.
    pub fn block_until(&self, until_ms: i64) {
        self.blocked_until_ms.fetch_max(until_ms, Ordering::Relaxed);
    }

    /// The error that sends a message back to its queue for `wait_ms`, counted as time
    /// spent throttled.
    pub fn throttled(&self, wait_ms: u64) -> PortError {
        self.throttled_ms.fetch_add(wait_ms, Ordering::Relaxed);
        PortError::RateLimited {
            retry_after_ms: wait_ms,
            refused: Refusal::Whole,
        }
    }

    /// The error for a tracker's request for a wait that does not say the request was
    /// refused (a 503 with `Retry-After`): a wait all the same, counted as throttled,
    /// but not proof that nothing was written.
    pub fn asked_to_wait(&self, wait_ms: u64) -> PortError {
        self.throttled_ms.fetch_add(wait_ms, Ordering::Relaxed);
        PortError::RateLimited {
            retry_after_ms: wait_ms,
            refused: Refusal::Unknown,
        }
    }

    pub fn throttled_ms(&self) -> u64 {
        self.throttled_ms.load(Ordering::Relaxed)
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// The error of a call a create makes after its creating request went through (a
/// status's transition, a read-back): the item exists, so a rate limit here must not
/// read as the create refused whole (`Tracker::create_refused_whole`), which would let
/// the retry create a second item without looking for the first. It stays a wait; the
/// gate holds every later call for it.
pub fn after_create(error: PortError) -> PortError {
    match error {
        PortError::RateLimited { retry_after_ms, .. } => PortError::RateLimited {
            retry_after_ms,
            refused: Refusal::Unknown,
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn after_a_create_a_rate_limit_is_no_refusal_of_it() {
        let n = |v| NonZeroU32::new(v).unwrap();
        let gate = RateGate::per_minute(n(600), n(2));
        // (error, refused whole as it came, refused whole once the item exists)
        let table = [
            (gate.throttled(1_500), true, false),
            (gate.asked_to_wait(1_500), false, false),
            (PortError::Unavailable("502".into()), false, false),
            (PortError::Rejected("400".into()), false, false),
        ];
        for (error, before, after) in table {
            assert_eq!(error.refused_whole(), before, "{error}");
            let later = after_create(error.clone());
            assert_eq!(later.refused_whole(), after, "{later}");
            // A wait stays a wait.
            assert_eq!(later.retry_after_ms(), error.retry_after_ms(), "{later}");
        }
    }

    #[tokio::test]
    async fn a_block_holds_every_request_and_counts_the_wait() {
        let n = |v| NonZeroU32::new(v).unwrap();
        let gate = RateGate::per_minute(n(600), n(2));
        gate.admit().await.unwrap();
        assert_eq!(gate.calls(), 1);
        gate.block_until(now_ms() + 5_000);
        gate.block_until(now_ms() + 1_000); // An earlier end does not shorten the block.
        match gate.admit().await {
            Err(PortError::RateLimited { retry_after_ms, .. }) => {
                assert!(
                    (4_000..=5_000).contains(&retry_after_ms),
                    "{retry_after_ms}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(gate.calls(), 1, "a refused request is no call");
        assert!(gate.throttled_ms() >= 4_000);
    }

    #[tokio::test]
    async fn an_exhausted_budget_sends_the_request_back() {
        let n = |v| NonZeroU32::new(v).unwrap();
        // One request a minute: the second would wait far longer than MAX_BUDGET_WAIT.
        let gate = RateGate::per_minute(n(1), n(1));
        gate.admit().await.unwrap();
        assert!(matches!(
            gate.admit().await,
            Err(PortError::RateLimited { .. })
        ));
    }
}
