//! Jira webhooks: `jira:issue_created`, `jira:issue_updated`, `jira:issue_deleted`,
//! `comment_created`, `comment_updated` and `comment_deleted`. A deletion announces no
//! new version (its `updated` can be our own last write's), so the item is always read:
//! the read that finds it gone is what starts the removal.
//!
//! An admin webhook with a secret signs each delivery: `X-Hub-Signature: sha256=<hex
//! HMAC-SHA256(secret, body)>`, checked in constant time. Webhooks registered through the
//! REST API (by an OAuth app) carry no signature: a node takes unsigned deliveries only
//! when its config says `allow_unsigned = true` on purpose, and then as a signal only (the
//! outgoing handler reads the item itself and sends nothing when it has not changed, so a
//! forged or replayed delivery costs one read).
//!
//! Jira retries a failed delivery with the same `X-Atlassian-Webhook-Identifier`, which
//! becomes the dedup id; a late delivery names an older `updated` than the item has, and
//! the read finds the item as it is now.

use crate::mapping::millis;
use serde_json::Value;
use twinsync_connector_kit::http;
use twinsync_ports::{ChangeSignal, WebhookError, webhook_header as header};

pub const SIGNATURE: &str = "x-hub-signature";
pub const IDENTIFIER: &str = "x-atlassian-webhook-identifier";

/// The events a registration asks for.
pub const EVENTS: [&str; 6] = [
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
];

/// The signature header value for a body.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", http::hmac_sha256_hex(secret, &[body]))
}

/// Whether deliveries without a signature are taken, when no secret is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsigned {
    Refused,
    Allowed,
}

impl Unsigned {
    pub fn from_setting(allow_unsigned: bool) -> Self {
        if allow_unsigned {
            Unsigned::Allowed
        } else {
            Unsigned::Refused
        }
    }
}

/// Checks a delivery and says which issue it announces.
pub fn verify(
    secret: &str,
    unsigned: Unsigned,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<ChangeSignal>, WebhookError> {
    if secret.is_empty() && unsigned == Unsigned::Refused {
        return Err(WebhookError::Unsigned(
            "this Jira instance has no webhook_secret and allow_unsigned is not set",
        ));
    }
    if !secret.is_empty() {
        let given = header(headers, SIGNATURE)?
            .strip_prefix("sha256=")
            .ok_or(WebhookError::BadSignature)?;
        if !http::hmac_sha256_verify(secret, &[body], given) {
            return Err(WebhookError::BadSignature);
        }
    }
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("Jira webhook payload: {e}")))?;
    let event = payload["webhookEvent"].as_str().ok_or_else(|| {
        WebhookError::Malformed("Jira webhook payload has no webhookEvent".into())
    })?;
    if !EVENTS.contains(&event) {
        return Ok(Vec::new());
    }
    let issue = &payload["issue"];
    let key = issue["key"]
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| WebhookError::Malformed(format!("{event} payload has no issue key")))?;
    let updated = issue["fields"]["updated"]
        .as_str()
        .or(payload["comment"]["updated"].as_str())
        .map(millis)
        .unwrap_or(0);
    let project = issue["fields"]["project"]["key"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            key.rsplit_once('-')
                .map(|(p, _)| p)
                .unwrap_or("")
                .to_string()
        });
    let delivery = match header(headers, IDENTIFIER) {
        Ok(id) => format!("jira:{id}"),
        Err(_) => format!(
            "jira:{key}:{updated}:{}",
            payload["timestamp"].as_i64().unwrap_or(0)
        ),
    };
    let version = if event.ends_with("deleted") {
        0
    } else {
        updated.max(0) as u64
    };
    Ok(vec![ChangeSignal {
        origin: None,
        item_key: key.to_string(),
        project,
        version,
        delivery_id: delivery,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn deliveries_are_checked_and_read() {
        let updated = br#"{"timestamp":1,"webhookEvent":"jira:issue_updated","issue":{"id":"1","key":"DEMO-4","fields":{"updated":"2026-11-23T10:14:01.123+0000","project":{"key":"DEMO"}}}}"#;
        let comment = br#"{"timestamp":2,"webhookEvent":"comment_created","comment":{"id":"9","updated":"2026-11-23T10:15:00.000+0000"},"issue":{"id":"1","key":"DEMO-4","fields":{}}}"#;
        let other = br#"{"timestamp":3,"webhookEvent":"worklog_updated"}"#;
        let signed = |b: &[u8]| sign("s3cret", b);
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a [u8],
            Vec<(String, String)>,
            Result<usize, WebhookError>,
        );
        let cases: Vec<Case> = vec![
            (
                "signed update",
                "s3cret",
                updated,
                headers(&[("X-Hub-Signature", &signed(updated)), (IDENTIFIER, "w-1")]),
                Ok(1),
            ),
            (
                "bad signature",
                "s3cret",
                updated,
                headers(&[("X-Hub-Signature", &signed(comment))]),
                Err(WebhookError::BadSignature),
            ),
            (
                "missing signature",
                "s3cret",
                updated,
                headers(&[]),
                Err(WebhookError::MissingHeader(SIGNATURE)),
            ),
            (
                "unsigned, no secret, allowed",
                "",
                comment,
                headers(&[]),
                Ok(1),
            ),
            ("other event", "", other, headers(&[]), Ok(0)),
        ];
        for (name, secret, body, h, want) in cases {
            let got = verify(secret, Unsigned::Allowed, &h, body).map(|s| s.len());
            assert_eq!(got, want, "{name}");
        }
        // Unless allowed on purpose, a Jira instance without a secret takes nothing.
        let refused = verify("", Unsigned::Refused, &headers(&[]), comment);
        assert!(
            matches!(refused, Err(WebhookError::Unsigned(_))),
            "{refused:?}"
        );
        let s = verify(
            "s3cret",
            Unsigned::Refused,
            &headers(&[("X-Hub-Signature", &signed(updated)), (IDENTIFIER, "w-1")]),
            updated,
        )
        .unwrap_or_default();
        assert_eq!(s[0].item_key, "DEMO-4");
        assert_eq!(s[0].project, "DEMO");
        assert_eq!(s[0].delivery_id, "jira:w-1");
        assert_eq!(s[0].version, 1_795_428_841_123);
        let deleted = br#"{"timestamp":4,"webhookEvent":"jira:issue_deleted","issue":{"id":"1","key":"DEMO-4","fields":{"updated":"2026-11-23T10:14:01.123+0000"}}}"#;
        let d = verify("", Unsigned::Allowed, &[], deleted).unwrap_or_default();
        assert_eq!(
            (d[0].item_key.as_str(), d[0].version),
            ("DEMO-4", 0),
            "a deletion is always read"
        );
        let c = verify("", Unsigned::Allowed, &[], comment).unwrap_or_default();
        assert_eq!(
            (c[0].project.as_str(), c[0].version),
            ("DEMO", 1_795_428_900_000)
        );
        assert!(verify("", Unsigned::Allowed, &[], b"{}").is_err());
    }
}
