//! Requests to Redmine (the API key, status → error, Retry-After) and the names it knows
//! by id, looked up once.

use super::{Lookups, RedmineTracker};
use crate::mapping::{IdName, RmUser};
use serde::de::DeserializeOwned;
use serde_json::Value;
use twinsync_connector_kit::outbound::{self};
use twinsync_connector_kit::{http, now_ms};
use twinsync_ports::{PortError, PortResult};

impl RedmineTracker {
    pub(super) async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> PortResult<(reqwest::StatusCode, String)> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        twinsync_ports::requests::note();
        let resp = req
            .header("X-Redmine-API-Key", &self.config.api_key)
            .send()
            .await
            .map_err(|e| {
                PortError::Unavailable(format!(
                    "redmine {}: {}",
                    self.instance,
                    outbound::describe(&e)
                ))
            })?;
        let status = resp.status();
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
        match status.as_u16() {
            200..=299 => Ok((status, text)),
            404 => Err(PortError::NotFound(text)),
            409 => Err(PortError::Conflict(text)),
            429 => Err(PortError::RateLimited {
                retry_after_ms: retry_after_ms.unwrap_or(http::MIN_WAIT_MS),
                refused: twinsync_ports::Refusal::Whole,
            }),
            s if s >= 500 => Err(PortError::Unavailable(format!(
                "redmine {}: {status}",
                self.instance
            ))),
            // Redmine explains validation failures as {"errors": [...]}.
            _ => Err(PortError::Rejected(format!(
                "redmine {}: {status}: {text}",
                self.instance
            ))),
        }
    }
    pub(super) async fn json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> PortResult<T> {
        let (_, text) = self.send(req).await?;
        serde_json::from_str(&text)
            .map_err(|e| PortError::Rejected(format!("unexpected answer from redmine: {e}")))
    }
    pub(super) async fn lookups(&self) -> PortResult<Lookups> {
        let mut guard = self.lookups.lock().await;
        if let Some(l) = guard.as_ref() {
            return Ok(l.clone());
        }
        let list = |v: &Value, key: &str| -> Vec<IdName> {
            serde_json::from_value(v[key].clone()).unwrap_or_default()
        };
        let s: Value = self
            .json(self.http.get(self.url("/issue_statuses.json")))
            .await?;
        let p: Value = self
            .json(
                self.http
                    .get(self.url("/enumerations/issue_priorities.json")),
            )
            .await?;
        let t: Value = self.json(self.http.get(self.url("/trackers.json"))).await?;
        let mut users = Vec::new();
        let mut offset = 0;
        loop {
            let page: Value = match self
                .json(
                    self.http
                        .get(self.url(&format!("/users.json?status=1&limit=100&offset={offset}"))),
                )
                .await
            {
                Ok(v) => v,
                Err(PortError::Rejected(_) | PortError::NotFound(_)) => break,
                Err(e) => return Err(e),
            };
            let batch: Vec<RmUser> =
                serde_json::from_value(page["users"].clone()).unwrap_or_default();
            offset += batch.len();
            let done =
                batch.is_empty() || offset as u64 >= page["total_count"].as_u64().unwrap_or(0);
            users.extend(batch);
            if done {
                break;
            }
        }
        let custom_fields = match self
            .json::<Value>(self.http.get(self.url("/custom_fields.json")))
            .await
        {
            Ok(v) => v["custom_fields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f["customized_type"] == "issue")
                .filter_map(|f| serde_json::from_value(f).ok())
                .collect(),
            Err(PortError::Rejected(_) | PortError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        let l = Lookups {
            statuses: list(&s, "issue_statuses"),
            priorities: list(&p, "issue_priorities"),
            trackers: list(&t, "trackers"),
            users,
            custom_fields,
        };
        *guard = Some(l.clone());
        Ok(l)
    }
}
