//! Azure DevOps' rate-limit headers as waits
//! (<https://learn.microsoft.com/en-us/azure/devops/integrate/concepts/rate-limits>):
//! a 429 (or a 503 with `Retry-After`) sends the message back to its queue for the wait
//! asked; `Retry-After` on an answer that succeeded, or `X-RateLimit-Remaining: 0` with
//! `X-RateLimit-Reset`, holds the next calls; `X-RateLimit-Delay` (how long Azure DevOps
//! already delayed this call) is counted as time spent throttled. `X-RateLimit-Resource`
//! names the limit in the log.

use reqwest::header::HeaderMap;
use twinsync_connector_kit::{RateGate, http, now_ms};
use twinsync_ports::PortError;

/// The wait after a 429 that names none.
const DEFAULT_RETRY_MS: u64 = 10_000;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads the limits of an answer with `status`; the error that waits when the call itself
/// was refused for the rate (a 429 refused it whole; a 503 says less), `None` when its
/// answer stands.
pub(super) fn read(
    gate: &RateGate,
    instance: &str,
    status: u16,
    headers: &HeaderMap,
) -> Option<PortError> {
    let now = now_ms();
    let retry_after = http::retry_after_ms(header(headers, "retry-after"), now);
    let resource = header(headers, "x-ratelimit-resource").unwrap_or("");
    if let Some(delay_ms) = header(headers, "x-ratelimit-delay")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
        .map(|d| (d * 1_000.0).min(http::MAX_WAIT_MS as f64) as u64)
    {
        tracing::info!(%instance, resource, delay_ms, "Azure DevOps delayed a call");
        // Counted only: the call was delayed, not refused.
        drop(gate.throttled(delay_ms));
    }
    if status == 429 || (status == 503 && retry_after.is_some()) {
        let wait = retry_after.unwrap_or(DEFAULT_RETRY_MS);
        // Every further call waits too: the refused ones count against the limit.
        gate.block_until(now.saturating_add(wait as i64));
        tracing::warn!(%instance, status, resource, wait_ms = wait, "Azure DevOps rate limit");
        return Some(match status {
            429 => gate.throttled(wait),
            _ => gate.asked_to_wait(wait),
        });
    }
    if let Some(wait) = retry_after {
        gate.block_until(now.saturating_add(wait as i64));
        tracing::info!(%instance, resource, wait_ms = wait, "Azure DevOps asks to slow down");
    } else if header(headers, "x-ratelimit-remaining").and_then(|v| v.trim().parse::<f64>().ok())
        == Some(0.0)
        && let Some(reset) =
            header(headers, "x-ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok())
    {
        let wait = http::wait_until_reset_ms(reset, now);
        gate.block_until(now.saturating_add(wait as i64));
        tracing::info!(%instance, resource, wait_ms = wait, "Azure DevOps limit used up until its reset");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::num::NonZeroU32;

    fn gate() -> RateGate {
        let n = |v| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        RateGate::per_minute(n(600), n(10))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(*k, v);
            }
        }
        h
    }

    #[tokio::test]
    async fn headers_become_waits() {
        let g = gate();
        assert_eq!(read(&g, "i", 200, &headers(&[])), None);
        assert!(g.admit().await.is_ok());
        // A delayed call is counted, not refused.
        assert_eq!(
            read(&g, "i", 200, &headers(&[("x-ratelimit-delay", "0.5")])),
            None
        );
        assert_eq!(g.throttled_ms(), 500);
        assert!(g.admit().await.is_ok());
        // A 429 is refused for its Retry-After and holds the next calls.
        let wait = read(
            &g,
            "i",
            429,
            &headers(&[
                ("retry-after", "3"),
                ("x-ratelimit-resource", "WorkItemTracking"),
            ]),
        );
        assert_eq!(
            wait.as_ref().and_then(PortError::retry_after_ms),
            Some(3_000)
        );
        assert!(
            wait.is_some_and(|e| e.refused_whole()),
            "a 429 refused the call whole"
        );
        assert!(matches!(
            g.admit().await,
            Err(PortError::RateLimited { .. })
        ));
        // A 429 without a wait waits the default.
        let waited = |status, pairs| read(&gate(), "i", status, &headers(pairs));
        let wait = waited(429, &[]);
        assert_eq!(
            wait.as_ref().and_then(PortError::retry_after_ms),
            Some(DEFAULT_RETRY_MS)
        );
        // A 503 with a wait is a wait too, but no proof that nothing was written.
        let wait = waited(503, &[("retry-after", "2")]);
        assert_eq!(
            wait.as_ref().and_then(PortError::retry_after_ms),
            Some(2_000)
        );
        assert!(wait.is_some_and(|e| !e.refused_whole()));
        assert_eq!(waited(503, &[]), None, "a 503 without one is an outage");
        // A used-up window holds the next calls until its reset; the answer stands.
        let g = gate();
        let reset = (now_ms() / 1_000 + 30).to_string();
        assert_eq!(
            read(
                &g,
                "i",
                200,
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset)
                ])
            ),
            None
        );
        assert!(matches!(
            g.admit().await,
            Err(PortError::RateLimited { .. })
        ));
        let g = gate();
        assert_eq!(read(&g, "i", 200, &headers(&[("retry-after", "2")])), None);
        assert!(matches!(
            g.admit().await,
            Err(PortError::RateLimited { .. })
        ));
    }
}
