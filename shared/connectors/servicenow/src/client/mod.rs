//! The Table and Attachment API client and the `Tracker` implementation.
//!
//! Every request goes through [`ServiceNowTracker::send`]: the connector's own budget
//! (`RateGate`), the `Authorization` header (a new OAuth token and one more try after a
//! 401), then the instance's answer read for its limits: a 429 (with `Retry-After`, or
//! `X-RateLimit-Reset` from a rate limit rule) becomes `PortError::RateLimited`, which the
//! queue turns into a wait. `read` reads records, journals, choices and people; `write`
//! builds creates and edits in ServiceNow's words; `attachments` copies files.

mod attachments;
mod read;
mod write;

use crate::auth::Auth;
use crate::config::ServiceNowConfig;
use crate::mapping::Choices;
use crate::{ServiceNowError, query, webhook};
use async_trait::async_trait;
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_connector_kit::outbound::{self};
use twinsync_connector_kit::{RateGate, http, now_ms};
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};
use twinsync_ports::{
    ChangeSignal, ItemPage, PortError, PortResult, SyncMark, Tracker, WebhookError,
};

/// The wait after a 429 that names none.
const DEFAULT_RETRY_MS: u64 = 10_000;

/// Records per page of a poll.
const PAGE: u32 = 100;

/// The system property the push business rule posts to (`docs/servicenow-push.md`).
pub const PUSH_URL_PROPERTY: &str = "twinsync.push_url";

/// An answer of the instance: the JSON body and the `Link` header's next page.
pub(crate) struct Answer {
    pub body: Value,
    pub next: Option<String>,
}

pub struct ServiceNowTracker {
    instance: String,
    config: ServiceNowConfig,
    auth: Auth,
    http: reqwest::Client,
    gate: RateGate,
    /// Choice labels per element (`state`, `priority`), read once from `sys_choice`.
    choices: tokio::sync::Mutex<HashMap<String, Choices>>,
    /// `sys_user` sys_ids by email (`None`: looked up, nobody found).
    users: tokio::sync::Mutex<HashMap<String, Option<String>>>,
    /// People by user name, for journal authors.
    authors: tokio::sync::Mutex<HashMap<String, Option<User>>>,
    /// Record sys_ids by number: edits address records by sys_id.
    sys_ids: tokio::sync::Mutex<HashMap<String, String>>,
    /// The sync status last shown per record, so an unchanged one is not written again.
    shown: twinsync_connector_kit::ShownMarks,
}

/// ServiceNow explains errors as `{"error": {"message": ..., "detail": ...}}`.
pub fn explain(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let message = v["error"]["message"].as_str().unwrap_or("");
            match v["error"]["detail"].as_str().filter(|d| !d.is_empty()) {
                Some(d) => format!("{message}: {}", d.trim()),
                None => message.to_string(),
            }
        }
        Err(_) => text.chars().take(200).collect(),
    }
}

impl ServiceNowTracker {
    pub fn new(
        instance: impl Into<String>,
        mut config: ServiceNowConfig,
    ) -> Result<Self, ServiceNowError> {
        config.base_url = config.base_url.trim_end_matches('/').to_string();
        config.check()?;
        let http = outbound::tracker_client(
            &config.base_url,
            config.ca_file.as_deref(),
            Duration::from_secs(60),
        )
        .map_err(|e| ServiceNowError::Http(e.to_string()))?;
        let gate = RateGate::from_config(config.requests_per_minute, config.burst)
            .map_err(ServiceNowError::Config)?;
        Ok(Self {
            instance: instance.into(),
            auth: Auth::from_config(&config),
            gate,
            config,
            http,
            choices: tokio::sync::Mutex::default(),
            users: tokio::sync::Mutex::default(),
            authors: tokio::sync::Mutex::default(),
            sys_ids: tokio::sync::Mutex::default(),
            shown: twinsync_connector_kit::ShownMarks::default(),
        })
    }

    pub fn config(&self) -> &ServiceNowConfig {
        &self.config
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    pub(crate) fn table_url(&self, table: &str, sys_id: Option<&str>) -> String {
        match sys_id {
            Some(id) => self.url(&format!("/api/now/table/{table}/{id}")),
            None => self.url(&format!("/api/now/table/{table}")),
        }
    }

    /// One request (`build` makes it, again after a refused token): budget, auth, send,
    /// limits, status → error.
    pub(crate) async fn send(&self, build: impl Fn() -> RequestBuilder) -> PortResult<Answer> {
        for attempt in 0..2 {
            self.gate.admit().await?;
            let authorization = self.auth.header(&self.http).await?;
            let resp = build()
                .header("authorization", authorization)
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|e| {
                    PortError::Unavailable(format!(
                        "servicenow {}: {}",
                        self.instance,
                        outbound::describe(&e)
                    ))
                })?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            let text = resp
                .text()
                .await
                .map_err(|e| PortError::Unavailable(e.to_string()))?;
            match status {
                200..=299 => {
                    let body = if text.trim().is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_str(&text).map_err(|e| {
                            PortError::Rejected(format!("unexpected answer from ServiceNow: {e}"))
                        })?
                    };
                    return Ok(Answer {
                        body,
                        next: query::next_link(header("link")),
                    });
                }
                401 if attempt == 0 && self.auth.refused().await => continue,
                429 => {
                    let now = now_ms();
                    let wait = http::retry_after_ms(header("retry-after"), now)
                        .or_else(|| {
                            header("x-ratelimit-reset")
                                .and_then(|r| r.trim().parse::<i64>().ok())
                                .map(|r| http::wait_until_reset_ms(r, now))
                        })
                        .unwrap_or(DEFAULT_RETRY_MS);
                    // Refused calls count against the rule's limit too: every call waits.
                    self.gate.block_until(now.saturating_add(wait as i64));
                    tracing::warn!(instance = %self.instance, wait_ms = wait, "ServiceNow rate limit");
                    return Err(self.gate.throttled(wait));
                }
                s => {
                    return Err(http::status_error(
                        s,
                        &format!("servicenow {}", self.instance),
                        &explain(&text),
                    ));
                }
            }
        }
        Err(PortError::Rejected(format!(
            "servicenow {}: the instance refused a fresh OAuth token",
            self.instance
        )))
    }

    /// A Table API listing: `sysparm_query`, the fields, a page.
    pub(crate) async fn list(
        &self,
        table: &str,
        encoded: &str,
        fields: &str,
        limit: u32,
        offset: &str,
    ) -> PortResult<Answer> {
        let url = self.table_url(table, None);
        let params = [
            ("sysparm_query", encoded),
            ("sysparm_fields", fields),
            ("sysparm_limit", &limit.to_string()),
            ("sysparm_offset", offset),
            ("sysparm_display_value", "false"),
            ("sysparm_exclude_reference_link", "true"),
        ]
        .map(|(k, v)| (k, v.to_string()));
        self.send(|| self.http.get(&url).query(&params)).await
    }

    /// The sys_id of the record numbered `key`, if it exists.
    pub(crate) async fn sys_id(&self, key: &str) -> PortResult<Option<String>> {
        if let Some(id) = self.sys_ids.lock().await.get(key) {
            return Ok(Some(id.clone()));
        }
        let encoded = format!("number={}", query::value(key)?);
        let found = self
            .list(&self.config.table, &encoded, "sys_id,number", 1, "0")
            .await?;
        let id = found.body["result"][0]["sys_id"]
            .as_str()
            .map(str::to_string);
        if let Some(id) = &id {
            self.remember(key, id).await;
        }
        Ok(id)
    }

    pub(crate) async fn remember(&self, key: &str, sys_id: &str) {
        if !key.is_empty() && !sys_id.is_empty() {
            self.sys_ids
                .lock()
                .await
                .insert(key.to_string(), sys_id.to_string());
        }
    }

    fn missing(key: &str) -> PortError {
        PortError::NotFound(format!("no ServiceNow record {key}"))
    }

    /// PATCHes fields of the record `key`.
    pub(crate) async fn patch(&self, key: &str, body: &Value) -> PortResult<Value> {
        let sys_id = self.sys_id(key).await?.ok_or_else(|| Self::missing(key))?;
        let url = self.table_url(&self.config.table, Some(&sys_id));
        let fields = "sys_id,number,sys_updated_on,sys_mod_count";
        let answer = self
            .send(|| {
                self.http
                    .patch(&url)
                    .query(&[("sysparm_fields", fields)])
                    .json(body)
            })
            .await?;
        Ok(answer.body["result"].clone())
    }
}

/// What `correlation_display` says for a sync status (the field holds 100 characters).
pub fn status_text(mark: &SyncMark) -> String {
    mark.line(100)
}

#[async_trait]
impl Tracker for ServiceNowTracker {
    fn kind(&self) -> twinsync_core::ConnectorKind {
        twinsync_core::ConnectorKind::ServiceNow
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn url(&self) -> &str {
        &self.config.base_url
    }

    fn calls(&self) -> u64 {
        self.gate.calls()
    }

    /// This instance serves its one table; ServiceNow answers 400 for a table that
    /// does not exist.
    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        if project != self.config.table {
            return Ok(Some(false));
        }
        match self.list(project, "", "sys_id", 1, "0").await {
            Ok(_) => Ok(Some(true)),
            Err(PortError::Rejected(m)) if m.contains("Invalid table") => Ok(Some(false)),
            Err(e) => Err(e),
        }
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.read_item(key).await
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        self.create(project, item, origin, crate::mapping::CORRELATION_DISPLAY)
            .await
    }

    /// The status goes into `correlation_display` with the create: one call, not two.
    async fn create_item_shown(
        &self,
        project: &str,
        item: &Item,
        origin: &str,
        mark: &SyncMark,
    ) -> PortResult<Item> {
        let text = status_text(mark);
        let created = self.create(project, item, origin, &text).await?;
        self.shown.record(&created.key, text);
        Ok(created)
    }

    /// The create is one POST, after reads, and nothing follows it; `send` repeats a
    /// request only after a 401, which wrote nothing, and says `RateLimited` only for a
    /// 429 or our own budget.
    fn create_refused_whole(&self, error: &PortError) -> bool {
        error.refused_whole()
    }

    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        let body = self.fields(update).await?;
        if body.as_object().is_some_and(|b| !b.is_empty()) {
            self.patch(key, &body).await?;
        }
        let sys_id = self.sys_id(key).await?.unwrap_or_default();
        Ok(Item {
            key: key.to_string(),
            url: format!(
                "{}/{}.do?sys_id={sys_id}",
                self.config.base_url, self.config.table
            ),
            ..Item::default()
        })
    }

    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        _author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.journal(key, crate::mapping::COMMENTS, body, origin)
            .await
    }

    async fn add_internal_comment(
        &self,
        key: &str,
        body: &str,
        _author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.journal(key, crate::mapping::WORK_NOTES, body, origin)
            .await
    }

    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        self.edit_journal(key, comment_id, body).await
    }

    async fn delete_item(&self, key: &str) -> PortResult<()> {
        self.delete_record(key).await
    }

    async fn delete_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        self.delete_journal(key, comment_id).await
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        self.upload(key, attachment).await
    }

    /// The Table API query `correlation_id=<marker>` on this instance's table.
    async fn find_by_origin(&self, _project: &str, origin: &str) -> PortResult<Option<Item>> {
        let encoded = format!("correlation_id={}", query::value(origin)?);
        let found = self
            .list(&self.config.table, &encoded, "sys_id,number", 1, "0")
            .await?;
        // An answer that is no listing is no "not found": a second record would follow.
        match answer::listing("ServiceNow", &found.body, "result")?.first() {
            Some(record) => {
                let number = answer::id_in("ServiceNow", record, "number", IdKind::Text)?;
                self.read_item(&number).await
            }
            None => Ok(None),
        }
    }

    async fn search_updated(
        &self,
        trigger: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        let filter = match trigger.trim() {
            "" => None,
            q => Some(
                twinsync_core::Filter::parse(q)
                    .map_err(|e| PortError::Rejected(format!("trigger: {e}")))?,
            ),
        };
        let (states, priorities) = (
            self.choices("state").await?,
            self.choices("priority").await?,
        );
        let codes = query::Codes {
            states: &states,
            priorities: &priorities,
        };
        let conditions = filter
            .as_ref()
            .map(|f| query::encode(f, &codes))
            .unwrap_or_default();
        let encoded = query::poll(&conditions, since_ms);
        let offset = page.unwrap_or_else(|| "0".into());
        let found = self
            .list(
                &self.config.table,
                &encoded,
                &self.fields_param(),
                PAGE,
                &offset,
            )
            .await?;
        let mut items = Vec::new();
        for record in answer::entries("ServiceNow", &found.body, "result", "number", IdKind::Text)?
        {
            let item = self.item_of(record, Vec::new(), Vec::new()).await?;
            // The encoded query narrows; the trigger's filter decides.
            if filter.as_ref().is_none_or(|f| f.matches(&item)) {
                items.push(item);
            }
        }
        let next = found.next.as_deref().and_then(query::offset_of);
        Ok(ItemPage { items, next })
    }

    /// Points the push business rule at `url` through its system property, which the
    /// admin created when installing the rule (`docs/servicenow-push.md`). Without a
    /// key or the property, the triggers are polled only.
    async fn register_webhook(&self, url: &str) -> PortResult<bool> {
        if self.config.webhook_secret.is_empty() {
            return Ok(false);
        }
        let encoded = format!("name={PUSH_URL_PROPERTY}");
        let found = self
            .list("sys_properties", &encoded, "sys_id,value", 1, "0")
            .await?;
        let Some(sys_id) = found.body["result"][0]["sys_id"].as_str() else {
            tracing::warn!(instance = %self.instance, "no {PUSH_URL_PROPERTY} property: the push business rule is not installed; polling only");
            return Ok(false);
        };
        if found.body["result"][0]["value"].as_str() != Some(url) {
            let target = self.table_url("sys_properties", Some(sys_id));
            let body = json!({ "value": url });
            self.send(|| self.http.patch(&target).json(&body)).await?;
        }
        Ok(true)
    }

    fn throttled_ms(&self) -> u64 {
        self.gate.throttled_ms()
    }

    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        webhook::verify(
            &self.config.webhook_secret,
            &self.config.table,
            headers,
            body,
            now_ms,
        )
    }

    /// `correlation_display`, kept current: one field, written only when the status
    /// shown changes, never a journal entry.
    async fn show_sync(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        let text = status_text(mark);
        if self.shown.already(key, &text) {
            return Ok(());
        }
        self.patch(key, &json!({ "correlation_display": text }))
            .await?;
        self.shown.record(key, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinsync_ports::SyncState;

    #[test]
    fn errors_and_statuses_read_as_servicenow_writes_them() {
        assert_eq!(
            explain(
                r#"{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}"#
            ),
            "No Record found: Record doesn't exist or ACL restricts the record retrieval"
        );
        assert_eq!(
            explain(r#"{"error":{"message":"Invalid table x","detail":null}}"#),
            "Invalid table x"
        );
        let mark = |state| SyncMark {
            state,
            twin_key: Some("DEMO-4".into()),
            twin_url: Some("https://x/browse/DEMO-4".into()),
        };
        assert_eq!(
            status_text(&mark(SyncState::Synced)),
            "twinsync: synced with DEMO-4"
        );
        let error = mark(SyncState::Error("x".repeat(300)));
        assert_eq!(status_text(&error).len(), 100);
        assert_eq!(
            status_text(&mark(SyncState::Unlinked)),
            "twinsync: unlinked"
        );
    }
}
