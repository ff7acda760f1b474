//! Service hook deliveries (`workitem.created`, `workitem.updated`,
//! `workitem.commented`, `workitem.deleted`). Azure DevOps signs nothing: the subscription sends the Basic
//! credentials and the `X-Twinsync-Secret` header it was registered with, and a delivery
//! is taken when either matches, compared in constant time. A delivery is a signal only:
//! the item is read fresh in the next step.
//!
//! Azure DevOps retries a failed delivery with the same event `id`, which becomes the
//! dedup id.

use base64::Engine;
use serde_json::Value;
use subtle::ConstantTimeEq;
use twinsync_ports::{ChangeSignal, WebhookError};

/// The header a subscription sends its secret in.
pub const SECRET_HEADER: &str = "x-twinsync-secret";

/// The events a subscription is made for.
pub const EVENTS: [&str; 4] = [
    "workitem.created",
    "workitem.updated",
    "workitem.commented",
    "workitem.deleted",
];

fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether the delivery carries the subscription's credentials.
fn authentic(user: &str, secret: &str, headers: &[(String, String)]) -> bool {
    if let Some(given) = header(headers, SECRET_HEADER)
        && same(given.trim().as_bytes(), secret.as_bytes())
    {
        return true;
    }
    let Some(basic) = header(headers, "authorization").and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    same(basic.trim().as_bytes(), expected.as_bytes())
}

/// Checks a delivery and says which work item it announces.
pub fn verify(
    user: &str,
    secret: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<ChangeSignal>, WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::Unsigned(
            "this Azure DevOps instance has no webhook_secret to check deliveries against",
        ));
    }
    if header(headers, SECRET_HEADER).is_none() && header(headers, "authorization").is_none() {
        return Err(WebhookError::MissingHeader("authorization"));
    }
    if !authentic(user, secret, headers) {
        return Err(WebhookError::BadSignature);
    }
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("service hook payload: {e}")))?;
    let event = payload["eventType"]
        .as_str()
        .ok_or_else(|| WebhookError::Malformed("service hook payload has no eventType".into()))?;
    if !EVENTS.contains(&event) {
        return Ok(Vec::new());
    }
    let resource = &payload["resource"];
    // An update names the item in `workItemId` and carries the revision; a create or a
    // comment is the item itself.
    let (id, fields, rev) = match resource["workItemId"].as_i64() {
        Some(id) => (
            id,
            &resource["revision"]["fields"],
            resource["revision"]["rev"]
                .as_u64()
                .or(resource["rev"].as_u64()),
        ),
        None => (
            resource["id"]
                .as_i64()
                .ok_or_else(|| WebhookError::Malformed(format!("{event} has no work item id")))?,
            &resource["fields"],
            resource["rev"].as_u64(),
        ),
    };
    let delivery = match payload["id"].as_str() {
        Some(event_id) => format!("ado:{event_id}"),
        None => format!("ado:{id}:{}", rev.unwrap_or(0)),
    };
    Ok(vec![ChangeSignal {
        origin: None,
        item_key: id.to_string(),
        project: fields["System.TeamProject"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        // A deletion names the item's last revision, maybe our own write's: always read.
        version: if event == "workitem.deleted" {
            0
        } else {
            rev.unwrap_or(0)
        },
        delivery_id: delivery,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn credentials_are_checked_and_payloads_read() {
        let body = br#"{"id":"e1","eventType":"workitem.updated","resource":{"workItemId":5,"rev":3,"revision":{"id":5,"rev":3,"fields":{"System.TeamProject":"Demo"}}}}"#;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("twinsync:s3cret")
        );
        for headers in [
            h(&[("Authorization", basic.as_str())]),
            h(&[("X-Twinsync-Secret", "s3cret")]),
        ] {
            let signals = verify("twinsync", "s3cret", &headers, body).unwrap_or_default();
            assert_eq!(signals.len(), 1);
            assert_eq!(
                (
                    signals[0].item_key.as_str(),
                    signals[0].version,
                    signals[0].project.as_str(),
                    signals[0].delivery_id.as_str()
                ),
                ("5", 3, "Demo", "ado:e1")
            );
        }
        let refusals = [
            (h(&[("X-Twinsync-Secret", "wrong")]), "signature"),
            (
                h(&[("Authorization", "Basic dHdpbnN5bmM6d3Jvbmc=")]),
                "signature",
            ),
            (h(&[]), "missing header"),
        ];
        for (headers, why) in refusals {
            let err = verify("twinsync", "s3cret", &headers, body)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(why), "{why}: {err}");
        }
        assert!(matches!(
            verify("twinsync", "", &h(&[("X-Twinsync-Secret", "")]), body),
            Err(WebhookError::Unsigned(_))
        ));
    }
}
