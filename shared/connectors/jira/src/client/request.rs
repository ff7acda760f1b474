//! One Jira request: the rate gate, auth, the answer read, and Retry-After turned into a
//! wait for every later call; and the paged reads built on it (comments, JQL search).

use super::{DEFAULT_RETRY_MS, JiraTracker, explain};
use crate::mapping::{FIELDS, ORIGIN_PROPERTY};
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use twinsync_connector_kit::outbound;
use twinsync_connector_kit::{http, now_ms};
use twinsync_ports::{PortError, PortResult};

impl JiraTracker {
    /// One request: budget, auth, send, limits, status → error. Returns the body
    /// (`Null` for 204).
    pub(super) async fn send(&self, request: RequestBuilder) -> PortResult<Value> {
        self.gate.admit().await?;
        let resp = request
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                PortError::Unavailable(format!(
                    "jira {}: {}",
                    self.instance,
                    outbound::describe(&e)
                ))
            })?;
        let status = resp.status().as_u16();
        let retry_after_ms = http::retry_after_ms(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            now_ms(),
        );
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
                        PortError::Rejected(format!("unexpected answer from Jira: {e}"))
                    })
                }
            }
            429 | 503 if status == 429 || retry_after_ms.is_some() => {
                let wait = retry_after_ms.unwrap_or(DEFAULT_RETRY_MS);
                // Every further call waits too: Jira counts the ones it refuses.
                self.gate.block_until(now_ms().saturating_add(wait as i64));
                tracing::warn!(instance = %self.instance, status, wait_ms = wait, "Jira rate limit");
                Err(self.throttled(wait))
            }
            s => Err(http::status_error(
                s,
                &format!("jira {}", self.instance),
                &explain(&text),
            )),
        }
    }

    pub(super) async fn comments(&self, key: &str) -> PortResult<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            let page = self
                .send(
                    self.http
                        .get(self.api(&format!("/issue/{key}/comment")))
                        .query(&[
                            ("startAt", out.len().to_string()),
                            ("maxResults", "100".to_string()),
                            ("expand", "properties".to_string()),
                        ]),
                )
                .await?;
            let list = page["comments"].as_array().cloned().unwrap_or_default();
            let total = page["total"].as_u64().unwrap_or(0) as usize;
            let empty = list.is_empty();
            out.extend(list);
            if empty || out.len() >= total {
                return Ok(out);
            }
        }
    }

    /// One page of a JQL search (the enhanced endpoint, `nextPageToken` paging) with the
    /// fields a read needs and their names.
    pub(super) async fn search(
        &self,
        jql: &str,
        page: Option<String>,
        max: u32,
    ) -> PortResult<Value> {
        let body = json!({
            "jql": jql,
            "fields": FIELDS.split(',').collect::<Vec<_>>(),
            "properties": [ORIGIN_PROPERTY],
            "expand": "names",
            "maxResults": max,
        });
        self.search_page(body, page).await
    }

    /// One page of the enhanced search with `body`, from `page` on.
    pub(super) async fn search_page(
        &self,
        mut body: Value,
        page: Option<String>,
    ) -> PortResult<Value> {
        if let Some(token) = page {
            body["nextPageToken"] = json!(token);
        }
        self.send(self.http.post(self.api("/search/jql")).json(&body))
            .await
    }
}
