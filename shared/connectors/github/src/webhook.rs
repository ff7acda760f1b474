//! GitHub webhooks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, the
//! event in `X-GitHub-Event` and a unique `X-GitHub-Delivery`, which becomes the change's
//! dedup id (a redelivery of the same delivery is dropped by the queue).
//!
//! GitHub puts no timestamp in a delivery, so there is no freshness window: a replayed
//! delivery only re-announces an item, and the outgoing handler reads the item itself and
//! sends nothing when it has not changed.

use crate::mapping::{GhIssue, key_of, version};
use serde::Deserialize;
use twinsync_connector_kit::http;
use twinsync_ports::{ChangeSignal, WebhookError};

pub const SIGNATURE: &str = "x-hub-signature-256";
pub const EVENT: &str = "x-github-event";
pub const DELIVERY: &str = "x-github-delivery";

/// The signature header value for a body.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", http::hmac_sha256_hex(secret, &[body]))
}

use twinsync_ports::webhook_header as header;

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    action: String,
    issue: Option<GhIssue>,
    repository: Option<Repository>,
}

/// Checks a delivery (signature in constant time, then the payload) and says which issue
/// it announces. `ping` and events about pull requests announce nothing.
pub fn verify(
    secret: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<ChangeSignal>, WebhookError> {
    if secret.is_empty() {
        // An unsigned hook would let anyone announce changes; refuse rather than trust.
        return Err(WebhookError::Malformed(
            "no webhook_secret is configured for this GitHub instance".into(),
        ));
    }
    let signature = header(headers, SIGNATURE)?;
    let event = header(headers, EVENT)?;
    let delivery = header(headers, DELIVERY)?;
    let given = signature
        .strip_prefix("sha256=")
        .ok_or(WebhookError::BadSignature)?;
    if !http::hmac_sha256_verify(secret, &[body], given) {
        return Err(WebhookError::BadSignature);
    }

    match event {
        "issues" | "issue_comment" => {}
        // `ping` (sent when a hook is made) and every other event: accepted, nothing to do.
        _ => return Ok(Vec::new()),
    }
    let payload: Payload = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("{event} payload: {e}")))?;
    let issue = payload
        .issue
        .ok_or_else(|| WebhookError::Malformed(format!("{event} payload has no issue")))?;
    // Every issue has a number; without one the key would name no issue ("o/r#0").
    if issue.number == 0 {
        return Err(WebhookError::Malformed(format!(
            "{event} payload's issue has no number"
        )));
    }
    if issue.is_pull_request() {
        return Ok(Vec::new());
    }
    let repo = match payload.repository {
        Some(r) => r.full_name,
        None => issue.repo(),
    };
    // The issue in a comment's edit or deletion, or in an issue's deletion, does not show
    // the change (its version may be our own last write's): such an item is always read.
    let version = match (event, payload.action.as_str()) {
        ("issue_comment", "edited" | "deleted") | ("issues", "deleted") => 0,
        _ => version(&issue),
    };
    Ok(vec![ChangeSignal {
        origin: None,
        item_key: key_of(&repo, issue.number),
        project: repo,
        version,
        delivery_id: format!("github:{delivery}"),
    }])
}
