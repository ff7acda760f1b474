//! Zendesk webhooks. Each delivery is signed: `X-Zendesk-Webhook-Signature` is the base64
//! HMAC-SHA256, under the webhook's signing secret, of the
//! `X-Zendesk-Webhook-Signature-Timestamp` value followed by the raw body
//! (<https://developer.zendesk.com/documentation/webhooks/verifying/>). It is checked in
//! constant time, and a timestamp outside [`WINDOW_MS`] is refused so a captured
//! delivery cannot be replayed later.
//!
//! Two payloads announce a ticket: the body of the trigger `register_webhook` makes
//! (`{"ticket_id": "{{ticket.id}}", ...}`) and the event webhooks' (`zen:event-type:ticket.*`,
//! the ticket id in `detail.id`). Either is a signal only: the ticket is read fresh.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use twinsync_ports::{ChangeSignal, WebhookError, webhook_header as header};

pub const SIGNATURE: &str = "x-zendesk-webhook-signature";
pub const TIMESTAMP: &str = "x-zendesk-webhook-signature-timestamp";
pub const INVOCATION: &str = "x-zendesk-webhook-invocation-id";

/// How far a delivery's timestamp may be from now, either way.
pub const WINDOW_MS: i64 = 5 * 60_000;

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.as_bytes());
    mac.update(body);
    Some(mac)
}

/// The signature header value for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    mac(secret, timestamp, body)
        .map(|m| base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Checks a delivery and says which ticket it announces.
pub fn verify(
    secret: &str,
    headers: &[(String, String)],
    body: &[u8],
    now_ms: i64,
) -> Result<Vec<ChangeSignal>, WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::Unsigned(
            "this Zendesk instance has no webhook signing secret yet (register_webhook reads it)",
        ));
    }
    let given = header(headers, SIGNATURE)?;
    let timestamp = header(headers, TIMESTAMP)?;
    let given = base64::engine::general_purpose::STANDARD
        .decode(given.trim())
        .map_err(|_| WebhookError::BadSignature)?;
    let ok = mac(secret, timestamp, body).is_some_and(|m| m.verify_slice(&given).is_ok());
    if !ok {
        return Err(WebhookError::BadSignature);
    }
    let at = crate::mapping::millis(timestamp.trim());
    if at == 0 || (now_ms - at).abs() > WINDOW_MS {
        return Err(WebhookError::Stale(at / 1000));
    }
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("Zendesk webhook payload: {e}")))?;
    let Some(ticket) = ticket_of(&payload) else {
        return Ok(Vec::new());
    };
    let updated = payload["updated_at"]
        .as_str()
        .or(payload["detail"]["updated_at"].as_str())
        .map(crate::mapping::millis)
        .filter(|ms| *ms > 0)
        .unwrap_or(at);
    let invocation = header(headers, INVOCATION).ok();
    let delivery_id = invocation
        .map(str::to_string)
        .unwrap_or_else(|| format!("zendesk:{ticket}:{updated}"));
    // The node deduplicates changes by item and version, and Zendesk's times have
    // one-second resolution: two edits in one second would be one change. Each delivery
    // (a retry keeps its invocation id) gets a version of its own within its second.
    let within_second = invocation.map(|id| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(id, &mut h);
        std::hash::Hasher::finish(&h) % 1000
    });
    Ok(vec![ChangeSignal {
        origin: None,
        item_key: ticket,
        project: payload["group"].as_str().unwrap_or("").to_string(),
        version: (updated.max(0) / 1000 * 1000) as u64 + within_second.unwrap_or(0),
        delivery_id,
    }])
}

/// The ticket id a payload names: ours, or an event webhook's about a ticket.
fn ticket_of(payload: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) => {
            Some(s.clone())
        }
        Value::Number(n) => n.as_u64().map(|n| n.to_string()),
        _ => None,
    };
    if let Some(id) = text(&payload["ticket_id"]) {
        return Some(id);
    }
    let event = payload["type"].as_str()?;
    event
        .starts_with("zen:event-type:ticket.")
        .then(|| text(&payload["detail"]["id"]))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_428_841_000;
    const AT: &str = "2026-11-23T10:14:01Z";

    fn headers(sig: &str, at: &str) -> Vec<(String, String)> {
        vec![
            ("X-Zendesk-Webhook-Signature".into(), sig.into()),
            ("X-Zendesk-Webhook-Signature-Timestamp".into(), at.into()),
            ("X-Zendesk-Webhook-Invocation-Id".into(), "inv-1".into()),
        ]
    }

    #[test]
    fn signed_deliveries_pass_and_the_rest_are_refused() {
        let body =
            br#"{"ticket_id": "42", "group": "Support", "updated_at": "2026-11-23T10:14:01Z"}"#;
        let sig = sign("s3cret", AT, body);
        let got = verify("s3cret", &headers(&sig, AT), body, NOW).map_err(|e| e.to_string());
        let signals = got.unwrap_or_default();
        assert_eq!(signals.len(), 1);
        assert_eq!(signals[0].item_key, "42");
        assert_eq!(signals[0].project, "Support");
        assert_eq!(signals[0].delivery_id, "inv-1");
        // Two deliveries in one second are two changes; a retry of one is the same.
        let other: Vec<(String, String)> = headers(&sig, AT)
            .into_iter()
            .map(|(k, v)| {
                if k.ends_with("Invocation-Id") {
                    (k, "inv-2".into())
                } else {
                    (k, v)
                }
            })
            .collect();
        let second = verify("s3cret", &other, body, NOW).map_err(|e| e.to_string());
        let second = second.unwrap_or_default();
        assert_ne!(second[0].version, signals[0].version);
        assert_eq!(second[0].version / 1000, signals[0].version / 1000);
        let again = verify("s3cret", &headers(&sig, AT), body, NOW).unwrap_or_default();
        assert_eq!(again[0].version, signals[0].version);
        type Case<'a> = (&'a str, Vec<(String, String)>, &'a [u8], i64, &'a str);
        let cases: [Case; 6] = [
            ("other", headers(&sig, AT), body, NOW, "does not match"),
            (
                "s3cret",
                headers(&sig, AT),
                b"{\"ticket_id\": \"43\"}",
                NOW,
                "does not match",
            ),
            (
                "s3cret",
                headers("bm90IGl0", AT),
                body,
                NOW,
                "does not match",
            ),
            (
                "s3cret",
                headers(&sig, AT),
                body,
                NOW + WINDOW_MS + 1_000,
                "outside",
            ),
            (
                "s3cret",
                headers(&sig, AT)[..1].to_vec(),
                body,
                NOW,
                "missing header",
            ),
            ("", headers(&sig, AT), body, NOW, "unsigned"),
        ];
        for (secret, h, b, now, says) in cases {
            let err = verify(secret, &h, b, now).err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(says)),
                "{says}: {err:?}"
            );
        }
    }

    #[test]
    fn the_timestamp_is_part_of_the_signature() {
        let body = br#"{"ticket_id": "42"}"#;
        let later = "2026-11-23T10:14:02Z";
        let sig = sign("s3cret", AT, body);
        assert!(verify("s3cret", &headers(&sig, later), body, NOW).is_err());
    }
}
