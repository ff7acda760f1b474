//! HTTP plumbing every connector needs the same way: a tracker's answer status as a port
//! error, its wait headers as milliseconds, and HMAC-SHA256 signatures of webhook bodies.
//!
//! Header values come from the network: they are parsed with saturating arithmetic and
//! capped, so a garbled or hostile header can neither overflow nor park a queue for years.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use twinsync_ports::PortError;

/// The longest wait a tracker's header can impose; a longer one is taken as this.
pub const MAX_WAIT_MS: u64 = 3_600_000;

/// The shortest wait a rate limit means: a `Retry-After: 0` still asks for a pause.
pub const MIN_WAIT_MS: u64 = 1_000;

/// The port error for a tracker's non-success status, for the statuses all trackers mean
/// the same way. Rate limits (429, and 403 or 503 with wait headers) are each connector's
/// own: they say how long to wait in their own headers.
pub fn status_error(status: u16, what: &str, reason: &str) -> PortError {
    match status {
        404 | 410 => PortError::NotFound(reason.to_string()),
        409 => PortError::Conflict(reason.to_string()),
        s if s >= 500 => PortError::Unavailable(format!("{what}: {s}: {reason}")),
        s => PortError::Rejected(format!("{what}: {s}: {reason}")),
    }
}

/// An item answer is about the item asked for, by the id it carries: one about another
/// item (a proxy's cache, a vendor bug) or about none (`{}`, `[]`, an empty body) is
/// refused, never read under the key asked for.
pub fn same_item(vendor: &str, asked: &str, answered: Option<String>) -> Result<(), PortError> {
    match answered {
        Some(id) if id == asked => Ok(()),
        Some(id) => Err(PortError::Rejected(format!(
            "unexpected answer from {vendor}: item {id} for {asked}"
        ))),
        None => Err(PortError::Rejected(format!(
            "unexpected answer from {vendor}: no item id for {asked}"
        ))),
    }
}

/// `Retry-After` (RFC 9110, 10.2.3) in milliseconds: delay-seconds or an HTTP-date,
/// between [`MIN_WAIT_MS`] and [`MAX_WAIT_MS`]. None when absent or unreadable.
pub fn retry_after_ms(value: Option<&str>, now_ms: i64) -> Option<u64> {
    let value = value?.trim();
    let ms = match value.parse::<u64>() {
        Ok(secs) => secs.saturating_mul(1_000),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            let at_ms = at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(0)
        }
    };
    Some(ms.clamp(MIN_WAIT_MS, MAX_WAIT_MS))
}

/// The wait until a window resets at `reset_epoch_seconds` (`x-ratelimit-reset`), between
/// [`MIN_WAIT_MS`] and [`MAX_WAIT_MS`].
pub fn wait_until_reset_ms(reset_epoch_seconds: i64, now_ms: i64) -> u64 {
    let wait = reset_epoch_seconds
        .saturating_mul(1_000)
        .saturating_sub(now_ms);
    u64::try_from(wait)
        .unwrap_or(0)
        .clamp(MIN_WAIT_MS, MAX_WAIT_MS)
}

/// Hex HMAC-SHA256 of `parts` (joined, no separator) under `secret`.
pub fn hmac_sha256_hex(secret: &str, parts: &[&[u8]]) -> String {
    mac(secret, parts)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `given_hex` is the HMAC-SHA256 of `parts` under `secret`, compared in
/// constant time.
pub fn hmac_sha256_verify(secret: &str, parts: &[&[u8]], given_hex: &str) -> bool {
    let Ok(given) = hex::decode(given_hex.trim()) else {
        return false;
    };
    mac(secret, parts).is_some_and(|m| m.verify_slice(&given).is_ok())
}

fn mac(secret: &str, parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_700_000_000_000;

    #[test]
    fn an_answer_is_about_the_item_asked_for() {
        let table = [
            (Some("12"), Ok(())),
            (Some("13"), Err("item 13 for 12")),
            (None, Err("no item id for 12")),
        ];
        for (answered, want) in table {
            let got = same_item("Tracker", "12", answered.map(str::to_string));
            match (got, want) {
                (Ok(()), Ok(())) => {}
                (Err(PortError::Rejected(m)), Err(says)) if m.contains(says) => {}
                (got, _) => panic!("{answered:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn retry_after_table() {
        let table: [(Option<&str>, Option<u64>); 9] = [
            (None, None),
            (Some("nonsense"), None),
            (Some("120"), Some(120_000)),
            (Some(" 2 "), Some(2_000)),
            // A pause is a pause, however short.
            (Some("0"), Some(MIN_WAIT_MS)),
            // Neither overflows nor parks a queue for years.
            (Some("18446744073709551615"), Some(MAX_WAIT_MS)),
            (Some("99999999"), Some(MAX_WAIT_MS)),
            // An HTTP-date 90 s from now, and one in the past.
            (Some("Tue, 14 Nov 2023 22:14:50 GMT"), Some(90_000)),
            (Some("Thu, 01 Jan 1970 00:00:00 GMT"), Some(MIN_WAIT_MS)),
        ];
        for (header, want) in table {
            assert_eq!(retry_after_ms(header, NOW_MS), want, "{header:?}");
        }
    }

    #[test]
    fn reset_waits_saturate_and_are_capped() {
        let now_s = NOW_MS / 1_000;
        for (reset, want) in [
            (now_s + 30, 30_000),
            (now_s - 30, MIN_WAIT_MS),
            (i64::MAX, MAX_WAIT_MS),
            (i64::MIN, MIN_WAIT_MS),
        ] {
            assert_eq!(wait_until_reset_ms(reset, NOW_MS), want, "{reset}");
        }
    }

    #[test]
    fn statuses_become_port_errors() {
        for (status, retryable, kind) in [
            (404, false, "not found"),
            (410, false, "not found"),
            (409, true, "conditional write failed"),
            (500, true, "unavailable"),
            (503, true, "unavailable"),
            (400, false, "rejected"),
            (422, false, "rejected"),
        ] {
            let e = status_error(status, "tracker t", "why");
            assert_eq!(e.is_retryable(), retryable, "{status}: {e}");
            assert!(e.to_string().contains(kind), "{status}: {e}");
        }
    }

    #[test]
    fn signatures_round_trip_and_refuse_tampering() {
        let sig = hmac_sha256_hex("s3cret", &[b"12345.", b"{\"a\":1}"]);
        assert_eq!(sig.len(), 64);
        assert!(hmac_sha256_verify("s3cret", &[b"12345.{\"a\":1}"], &sig));
        assert!(!hmac_sha256_verify("other", &[b"12345.{\"a\":1}"], &sig));
        assert!(!hmac_sha256_verify("s3cret", &[b"12345.{\"a\":2}"], &sig));
        assert!(!hmac_sha256_verify(
            "s3cret",
            &[b"12345.{\"a\":1}"],
            "not hex"
        ));
    }
}
