//! The REST client (API v2) and the `Tracker` implementation.
//!
//! Every request goes through [`ZendeskTracker::send`]: the connector's own budget first
//! (a `RateGate`; the incremental export has a gate of its own, as Zendesk limits it
//! apart to 10 requests a minute), then Zendesk's answer read for its limits. A 429
//! becomes `PortError::RateLimited` with the `Retry-After` wait; an exhausted window
//! (`ratelimit-remaining: 0`) holds every further request until it resets. `directory`
//! knows people, groups and fields; `writes` builds creates and updates; `hooks`
//! registers the webhook and its trigger; `tracker` is the `Tracker` implementation.

mod directory;
mod hooks;
mod tracker;
mod writes;

use crate::ZendeskError;
use crate::config::ZendeskConfig;
use crate::mapping::Directory;
use reqwest::RequestBuilder;
use serde_json::Value;
use std::num::NonZeroU32;
use std::sync::RwLock;
use std::time::Duration;
use twinsync_connector_kit::outbound::{self, ClientOptions};
use twinsync_connector_kit::target::Reach;
use twinsync_connector_kit::{RateGate, http, now_ms};
use twinsync_ports::{PortError, PortResult};

/// The wait a 429 without `Retry-After` gets.
const DEFAULT_RETRY_MS: u64 = 10_000;

/// Which budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    Api,
    Export,
}

pub struct ZendeskTracker {
    instance: String,
    config: ZendeskConfig,
    authorization: String,
    http: reqwest::Client,
    gate: RateGate,
    export_gate: RateGate,
    /// People, groups and field titles seen so far.
    directory: tokio::sync::Mutex<Directory>,
    /// Whether the groups and ticket fields were listed once.
    loaded: std::sync::atomic::AtomicBool,
    /// User ids by email (`None`: searched, nobody found).
    emails: tokio::sync::Mutex<std::collections::HashMap<String, Option<u64>>>,
    /// The webhook's signing secret: from the config, or read by `register_webhook`.
    signing_secret: RwLock<String>,
    /// What each ticket last showed of its sync (`show_sync`): the node tells it on every
    /// apply and ack, and a ticket update is written only when that changes.
    shown: twinsync_connector_kit::ShownMarks,
}

/// Zendesk explains errors as `{"error": "RecordInvalid", "description": ...,
/// "details": {"field": [{"description": ...}]}}`, or `{"error": {"title", "message"}}`.
pub fn explain(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return text.chars().take(200).collect();
    };
    let mut parts = Vec::new();
    match &v["error"] {
        Value::String(e) => parts.push(e.clone()),
        Value::Object(o) => {
            for k in ["title", "message"] {
                if let Some(s) = o.get(k).and_then(Value::as_str) {
                    parts.push(s.to_string());
                }
            }
        }
        _ => {}
    }
    if let Some(d) = v["description"].as_str() {
        parts.push(d.to_string());
    }
    for list in v["details"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
    {
        for d in list.as_array().into_iter().flatten() {
            if let Some(s) = d["description"].as_str() {
                parts.push(s.to_string());
            }
        }
    }
    parts.join(": ")
}

fn header_u64(headers: &reqwest::header::HeaderMap, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        headers
            .get(*n)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    })
}

impl ZendeskTracker {
    pub fn new(instance: impl Into<String>, config: ZendeskConfig) -> Result<Self, ZendeskError> {
        config.check()?;
        let http = outbound::client(
            &ClientOptions::with_timeout(Duration::from_secs(60))
                .ca_file(config.ca_file.as_deref())
                .reach(Reach::for_base_url(&config.base_url)),
        )
        .map_err(|e| ZendeskError::Http(e.to_string()))?;
        let n = |v: u32, what: &str| {
            NonZeroU32::new(v)
                .ok_or_else(|| ZendeskError::Config(format!("{what} must be above 0")))
        };
        let gate = RateGate::per_minute(
            n(config.requests_per_minute, "requests_per_minute")?,
            n(config.burst, "burst")?,
        );
        let export = n(config.export_per_minute, "export_per_minute")?;
        Ok(Self {
            instance: instance.into(),
            authorization: config.authorization(),
            signing_secret: RwLock::new(config.webhook_secret.clone()),
            shown: twinsync_connector_kit::ShownMarks::default(),
            config: ZendeskConfig {
                base_url: config.base_url.trim_end_matches('/').to_string(),
                ..config
            },
            http,
            gate,
            // No burst: Zendesk counts the export's limit over any minute, so the
            // requests are spread evenly over it.
            export_gate: RateGate::per_minute(export, NonZeroU32::MIN),
            directory: tokio::sync::Mutex::new(Directory::default()),
            loaded: std::sync::atomic::AtomicBool::new(false),
            emails: tokio::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/v2{path}", self.config.base_url)
    }

    /// The agent UI's address of ticket `key`.
    fn ticket_url(&self, key: &str) -> String {
        format!("{}/agent/tickets/{key}", self.config.base_url)
    }

    fn secret(&self) -> String {
        self.signing_secret
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    async fn send(&self, request: RequestBuilder) -> PortResult<Value> {
        self.send_on(Budget::Api, request).await
    }

    /// One request: budget, auth, send, limits, status → error. Returns the body
    /// (`Null` for an empty one).
    async fn send_on(&self, budget: Budget, request: RequestBuilder) -> PortResult<Value> {
        let gate = match budget {
            Budget::Api => &self.gate,
            Budget::Export => &self.export_gate,
        };
        gate.admit().await?;
        let resp = request
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                PortError::Unavailable(format!(
                    "zendesk {}: {}",
                    self.instance,
                    outbound::describe(&e)
                ))
            })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let retry_after_ms = http::retry_after_ms(
            headers.get("retry-after").and_then(|v| v.to_str().ok()),
            now_ms(),
        );
        // An exhausted window holds every further request until it resets.
        if header_u64(&headers, &["ratelimit-remaining", "x-rate-limit-remaining"]) == Some(0) {
            let reset_s = header_u64(&headers, &["ratelimit-reset"]).unwrap_or(1);
            let wait = reset_s
                .saturating_mul(1000)
                .clamp(http::MIN_WAIT_MS, http::MAX_WAIT_MS);
            gate.block_until(now_ms().saturating_add(wait as i64));
        }
        let text = resp
            .text()
            .await
            .map_err(|e| PortError::Unavailable(e.to_string()))?;
        match status {
            200..=299 => {
                if text.trim().is_empty() {
                    Ok(Value::Null)
                } else {
                    serde_json::from_str(&text).map_err(|e| {
                        PortError::Rejected(format!("unexpected answer from Zendesk: {e}"))
                    })
                }
            }
            429 => {
                let wait = retry_after_ms.unwrap_or(DEFAULT_RETRY_MS);
                // Zendesk counts refused calls too: every further call waits.
                gate.block_until(now_ms().saturating_add(wait as i64));
                tracing::warn!(instance = %self.instance, wait_ms = wait, "Zendesk rate limit");
                Err(gate.throttled(wait))
            }
            // A wait all the same, but no proof that nothing was written.
            503 if retry_after_ms.is_some() => {
                let wait = retry_after_ms.unwrap_or(DEFAULT_RETRY_MS);
                gate.block_until(now_ms().saturating_add(wait as i64));
                Err(gate.asked_to_wait(wait))
            }
            s => Err(http::status_error(
                s,
                &format!("zendesk {}", self.instance),
                &explain(&text),
            )),
        }
    }

    /// Every page of a cursor-paginated listing (`page[size]`, `meta.has_more`,
    /// `links.next`), the array under `key` of each, with sideloads merged.
    async fn list_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
        key: &str,
    ) -> PortResult<Vec<Value>> {
        let mut out = Vec::new();
        let mut url = reqwest::Url::parse_with_params(&self.api(path), query)
            .map_err(|e| PortError::Rejected(format!("listing url: {e}")))?;
        url.query_pairs_mut().append_pair("page[size]", "100");
        let mut next = Some(url.to_string());
        while let Some(u) = next.take() {
            // A next link goes only to this instance: the token is not sent elsewhere.
            if !twinsync_connector_kit::target::same_origin(&u, &self.config.base_url) {
                return Err(PortError::Rejected(format!(
                    "next page {u:?} is not on this Zendesk"
                )));
            }
            let page = self.send(self.http.get(&u)).await?;
            self.learn(&page).await;
            out.extend(page[key].as_array().cloned().unwrap_or_default());
            if page["meta"]["has_more"].as_bool() == Some(true) {
                next = page["links"]["next"].as_str().map(str::to_string);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_zendesk_writes_them() {
        let cases = [
            (
                r#"{"error":"RecordNotFound","description":"Not found"}"#,
                "RecordNotFound: Not found",
            ),
            (
                r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"status":[{"description":"Status: closed prevents ticket update"}]}}"#,
                "RecordInvalid: Record validation errors: Status: closed prevents ticket update",
            ),
            (
                r#"{"error":{"title":"Forbidden","message":"You do not have access"}}"#,
                "Forbidden: You do not have access",
            ),
            ("gateway exploded", "gateway exploded"),
        ];
        for (body, want) in cases {
            assert_eq!(explain(body), want);
        }
    }
}
