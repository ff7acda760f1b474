//! The push of ServiceNow changes. ServiceNow has no signed webhooks of its own: the
//! business rule in `docs/servicenow-push.md` posts this JSON with `RESTMessageV2` after
//! each insert or update of a record:
//!
//! ```json
//! {"table": "incident", "sys_id": "…", "number": "INC0010001", "operation": "update",
//!  "sys_updated_on": "2026-11-23 10:14:01", "sys_mod_count": "3", "sent_at": 1795428841123}
//! ```
//!
//! with `X-Twinsync-Signature`: the Base64 HMAC-SHA256 of the body under the shared key,
//! made by `CertificateEncryption.generateMac` (which takes the key Base64-encoded). The
//! signature is checked in constant time and `sent_at` must be within five minutes, so a
//! captured push cannot be replayed later. A push is a signal only: the item is read
//! fresh. Polling stays on for pushes that never came.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use twinsync_ports::{ChangeSignal, WebhookError, webhook_header as header};

pub const SIGNATURE: &str = "x-twinsync-signature";

/// How far `sent_at` may be from the node's clock.
pub const WINDOW_MS: i64 = 5 * 60_000;

fn mac(secret: &str) -> Option<Hmac<Sha256>> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).ok()
}

/// The signature header value for a body, as the business rule computes it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    match mac(secret) {
        Some(mut m) => {
            m.update(body);
            base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
        }
        None => String::new(),
    }
}

/// The payload the business rule sends for a record (`sent_at` in ms since the epoch).
pub fn payload(table: &str, record: &Value, operation: &str, sent_at: i64) -> Value {
    let text = |name: &str| crate::mapping::field(record, name);
    serde_json::json!({
        "table": table,
        "sys_id": text("sys_id"),
        "number": text("number"),
        "operation": operation,
        "sys_updated_on": text("sys_updated_on"),
        "sys_mod_count": text("sys_mod_count"),
        "sent_at": sent_at,
    })
}

/// Checks a push and says which record of `table` changed; pushes about other tables are
/// taken and ignored.
pub fn verify(
    secret: &str,
    table: &str,
    headers: &[(String, String)],
    body: &[u8],
    now_ms: i64,
) -> Result<Vec<ChangeSignal>, WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::Unsigned(
            "this ServiceNow instance has no webhook_secret: its triggers are polled only",
        ));
    }
    let given = base64::engine::general_purpose::STANDARD
        .decode(header(headers, SIGNATURE)?.trim())
        .map_err(|_| WebhookError::BadSignature)?;
    let mut expected = mac(secret).ok_or(WebhookError::BadSignature)?;
    expected.update(body);
    // `verify_slice` compares in constant time.
    expected
        .verify_slice(&given)
        .map_err(|_| WebhookError::BadSignature)?;
    let push: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("ServiceNow push: {e}")))?;
    let sent_at = push["sent_at"]
        .as_i64()
        .ok_or_else(|| WebhookError::Malformed("ServiceNow push has no sent_at".into()))?;
    if (now_ms - sent_at).abs() > WINDOW_MS {
        return Err(WebhookError::Stale(sent_at));
    }
    if push["table"].as_str() != Some(table) {
        return Ok(Vec::new());
    }
    let field = |name: &str| push[name].as_str().unwrap_or("").to_string();
    let number = field("number");
    if number.is_empty() {
        return Err(WebhookError::Malformed(
            "ServiceNow push has no number".into(),
        ));
    }
    let version = field("sys_mod_count").parse().unwrap_or(0);
    Ok(vec![ChangeSignal {
        origin: None,
        delivery_id: format!("servicenow:{}:{version}", field("sys_id")),
        item_key: number,
        project: table.to_string(),
        version,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_428_841_123;

    fn signed(secret: &str, body: &[u8]) -> Vec<(String, String)> {
        vec![("X-Twinsync-Signature".into(), sign(secret, body))]
    }

    #[test]
    fn pushes_are_checked_and_read() {
        let record = json!({"sys_id": "9d385017c611228701d22104cc95c371", "number": "INC0010001",
            "sys_updated_on": "2026-11-23 10:14:01", "sys_mod_count": "3"});
        let body = payload("incident", &record, "update", NOW).to_string();
        let body = body.as_bytes();
        let other = payload("problem", &record, "update", NOW).to_string();
        let late = payload("incident", &record, "update", NOW - WINDOW_MS - 1).to_string();
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a [u8],
            Vec<(String, String)>,
            Result<usize, WebhookError>,
        );
        let cases: Vec<Case> = vec![
            ("signed", "k3y", body, signed("k3y", body), Ok(1)),
            (
                "other key",
                "k3y",
                body,
                signed("other", body),
                Err(WebhookError::BadSignature),
            ),
            (
                "not base64",
                "k3y",
                body,
                vec![(SIGNATURE.into(), "%%".into())],
                Err(WebhookError::BadSignature),
            ),
            (
                "no header",
                "k3y",
                body,
                vec![],
                Err(WebhookError::MissingHeader(SIGNATURE)),
            ),
            (
                "other table",
                "k3y",
                other.as_bytes(),
                signed("k3y", other.as_bytes()),
                Ok(0),
            ),
        ];
        for (name, secret, b, h, want) in cases {
            let got = verify(secret, "incident", &h, b, NOW).map(|s| s.len());
            assert_eq!(got, want, "{name}");
        }
        let stale = verify(
            "k3y",
            "incident",
            &signed("k3y", late.as_bytes()),
            late.as_bytes(),
            NOW,
        );
        assert!(matches!(stale, Err(WebhookError::Stale(_))), "{stale:?}");
        let unsigned = verify("", "incident", &[], body, NOW);
        assert!(
            matches!(unsigned, Err(WebhookError::Unsigned(_))),
            "{unsigned:?}"
        );
        let s = verify("k3y", "incident", &signed("k3y", body), body, NOW).unwrap_or_default();
        assert_eq!(s[0].item_key, "INC0010001");
        assert_eq!(s[0].project, "incident");
        assert_eq!(s[0].version, 3);
        assert_eq!(
            s[0].delivery_id,
            "servicenow:9d385017c611228701d22104cc95c371:3"
        );
    }
}
