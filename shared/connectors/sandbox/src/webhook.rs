//! Webhook signatures: `X-Sandbox-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>`
//! with `X-Sandbox-Timestamp` (unix seconds) and `X-Sandbox-Delivery` (a uuid).

use serde::{Deserialize, Serialize};
use twinsync_connector_kit::http;
use twinsync_ports::{ChangeSignal, WebhookError};

pub const SIGNATURE: &str = "x-sandbox-signature";
pub const TIMESTAMP: &str = "x-sandbox-timestamp";
pub const DELIVERY: &str = "x-sandbox-delivery";

/// How far a webhook's timestamp may be from now, either way.
pub const WINDOW_SECS: i64 = 300;

/// The body of a webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    pub event: String,
    pub delivery_id: String,
    pub timestamp: i64,
    pub item: WebhookItem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookItem {
    pub key: String,
    pub project: String,
    pub version: u64,
    pub updated_ms: i64,
    /// The origin marker a sync stamped on the item, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// The signature header value for a body: HMAC-SHA256 over `timestamp.body`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    format!(
        "sha256={}",
        http::hmac_sha256_hex(secret, &[ts.as_bytes(), b".", body])
    )
}

use twinsync_ports::webhook_header as header;

/// Checks a delivery: headers present, timestamp in the window, signature equal in
/// constant time, then the payload. Returns the change it announces.
pub fn verify(
    secret: &str,
    headers: &[(String, String)],
    body: &[u8],
    now_ms: i64,
) -> Result<ChangeSignal, WebhookError> {
    let signature = header(headers, SIGNATURE)?;
    let timestamp = header(headers, TIMESTAMP)?;
    let delivery = header(headers, DELIVERY)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::Malformed(format!("timestamp {timestamp:?} is not a number")))?;
    if (now_ms / 1000 - ts).abs() > WINDOW_SECS {
        return Err(WebhookError::Stale(ts));
    }
    let hex_sig = signature
        .strip_prefix("sha256=")
        .ok_or(WebhookError::BadSignature)?;
    let signed_ts = ts.to_string();
    if !http::hmac_sha256_verify(secret, &[signed_ts.as_bytes(), b".", body], hex_sig) {
        return Err(WebhookError::BadSignature);
    }
    let payload: WebhookPayload =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if payload.item.key.is_empty() {
        return Err(WebhookError::Malformed("item.key is empty".into()));
    }
    Ok(ChangeSignal {
        item_key: payload.item.key,
        project: payload.item.project,
        version: payload.item.version,
        delivery_id: if payload.delivery_id.is_empty() {
            delivery.to_string()
        } else {
            payload.delivery_id
        },
        origin: payload.item.origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret";

    fn body() -> Vec<u8> {
        serde_json::to_vec(&WebhookPayload {
            event: "item.updated".into(),
            delivery_id: "d-1".into(),
            timestamp: 1_000,
            item: WebhookItem {
                key: "DEMO-1".into(),
                project: "DEMO".into(),
                version: 4,
                updated_ms: 1,
                origin: Some("twinsync:demo:SUPPORT-7".into()),
            },
        })
        .unwrap()
    }

    fn headers(ts: i64, sig: String) -> Vec<(String, String)> {
        vec![
            ("X-Sandbox-Signature".into(), sig),
            ("x-sandbox-timestamp".into(), ts.to_string()),
            ("X-SANDBOX-DELIVERY".into(), "d-1".into()),
        ]
    }

    #[test]
    fn verify_table() {
        let now_ms = 1_000_000;
        let ts = now_ms / 1000;
        let good = body();
        let mut tampered = good.clone();
        tampered[10] ^= 1;
        let malformed = b"{\"event\":1}".to_vec();
        let drop = |name: &str| {
            headers(ts, sign(SECRET, ts, &good))
                .into_iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
                .collect::<Vec<_>>()
        };
        type Case = (
            &'static str,
            Vec<(String, String)>,
            Vec<u8>,
            Result<(), WebhookError>,
        );
        let cases: Vec<Case> = vec![
            (
                "valid",
                headers(ts, sign(SECRET, ts, &good)),
                good.clone(),
                Ok(()),
            ),
            (
                "wrong secret",
                headers(ts, sign("other", ts, &good)),
                good.clone(),
                Err(WebhookError::BadSignature),
            ),
            (
                "tampered body",
                headers(ts, sign(SECRET, ts, &good)),
                tampered,
                Err(WebhookError::BadSignature),
            ),
            (
                "not hex",
                headers(ts, "sha256=zz".into()),
                good.clone(),
                Err(WebhookError::BadSignature),
            ),
            (
                "stale",
                headers(ts - 301, sign(SECRET, ts - 301, &good)),
                good.clone(),
                Err(WebhookError::Stale(ts - 301)),
            ),
            (
                "future",
                headers(ts + 301, sign(SECRET, ts + 301, &good)),
                good.clone(),
                Err(WebhookError::Stale(ts + 301)),
            ),
            (
                "no signature",
                drop(SIGNATURE),
                good.clone(),
                Err(WebhookError::MissingHeader(SIGNATURE)),
            ),
            (
                "no timestamp",
                drop(TIMESTAMP),
                good.clone(),
                Err(WebhookError::MissingHeader(TIMESTAMP)),
            ),
            (
                "no delivery",
                drop(DELIVERY),
                good.clone(),
                Err(WebhookError::MissingHeader(DELIVERY)),
            ),
        ];
        for (name, h, b, want) in cases {
            let got = verify(SECRET, &h, &b, now_ms).map(|_| ());
            assert_eq!(got, want, "{name}");
        }
        let got = verify(
            SECRET,
            &headers(ts, sign(SECRET, ts, &malformed)),
            &malformed,
            now_ms,
        );
        assert!(matches!(got, Err(WebhookError::Malformed(_))), "{got:?}");
        let signal = verify(SECRET, &headers(ts, sign(SECRET, ts, &good)), &good, now_ms).unwrap();
        assert_eq!(
            (
                signal.item_key.as_str(),
                signal.version,
                signal.origin.as_deref()
            ),
            ("DEMO-1", 4, Some("twinsync:demo:SUPPORT-7"))
        );
    }
}
