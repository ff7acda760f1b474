//! The sandbox REST client and its `Tracker` implementation.

use crate::mapping::{WireAttachment, WireComment, WireItem, WirePage, WireUser, create_body};
use crate::{SandboxConfig, SandboxError, webhook};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;
use twinsync_connector_kit::outbound::{self};
use twinsync_connector_kit::{RateGate, http, now_ms};
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};
use twinsync_ports::{
    ChangeSignal, ItemPage, PortError, PortResult, SyncMark, SyncState, Tracker, WebhookError,
};

/// One sandbox tracker instance as a node sees it.
pub struct SandboxTracker {
    instance: String,
    config: SandboxConfig,
    http: reqwest::Client,
    /// The sync field as last shown per item: a state shown already is not written again.
    shown: twinsync_connector_kit::ShownMarks,
    /// API calls made, for the cost model and the benchmarks.
    calls: std::sync::atomic::AtomicU64,
    /// The request budget, where the config gives one; a 429's `Retry-After` holds every
    /// later call too.
    gate: Option<RateGate>,
}

impl std::fmt::Debug for SandboxTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxTracker")
            .field("instance", &self.instance)
            .field("config", &self.config)
            .finish()
    }
}

/// The sandbox's `sync` field for `mark`, as `PUT /api/items/{key}/sync` and a create
/// take it.
fn sync_field(mark: &SyncMark) -> Value {
    let (status, reason) = match &mark.state {
        SyncState::Syncing => ("syncing", None),
        SyncState::Synced => ("synced", None),
        SyncState::Error(why) => ("error", Some(why.clone())),
        SyncState::Unlinked => ("unlinked", None),
    };
    json!({
        "status": status,
        "reason": reason,
        "twinKey": mark.twin_key,
        "twinUrl": mark.twin_url,
    })
}

/// Maps an HTTP failure of the sandbox's API to the ports' error, keeping the server's
/// reason (the node's webhook registration reads its answers with it too).
pub fn status_error(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> PortError {
    let reason = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect());
    match status.as_u16() {
        429 => PortError::RateLimited {
            retry_after_ms: http::retry_after_ms(
                headers.get("retry-after").and_then(|v| v.to_str().ok()),
                now_ms(),
            )
            .unwrap_or(http::MIN_WAIT_MS),
            refused: twinsync_ports::Refusal::Whole,
        },
        // An update's `If-Match` no longer holds: the item moved on since it was read.
        412 => PortError::Conflict(format!("sandbox: {reason}")),
        s => http::status_error(s, "sandbox", &reason),
    }
}

/// An update's body as the sandbox takes it: users as `{email, displayName}`, and no
/// status as no key.
fn update_body(update: &ItemUpdate) -> PortResult<Value> {
    let mut body = serde_json::to_value(update).map_err(|e| PortError::Rejected(e.to_string()))?;
    if let Some(obj) = body.as_object_mut() {
        if let Some(Some(u)) = &update.assignee {
            obj.insert("assignee".into(), json!(WireUser::from(u)));
        }
        if update.status.as_deref() == Some("") {
            obj.remove("status");
        }
    }
    Ok(body)
}

/// A new comment's body as the sandbox takes it.
fn comment_body(body: &str, author: Option<&User>, origin: Option<&str>) -> Value {
    json!({
        "body": body,
        "author": author.map(WireUser::from),
        "origin": origin,
    })
}

/// An attachment as the sandbox's attachment add takes it.
fn attachment_body(attachment: &Attachment) -> Value {
    json!({
        "filename": attachment.filename,
        "mimeType": attachment.mime_type,
        "size": attachment.size,
        "url": attachment.url,
    })
}

/// An item's version as the strong entity tag `If-Match` names.
fn if_match(version: u64) -> String {
    format!("\"{version}\"")
}

/// The shortest webhook secret a sandbox instance takes (bytes).
pub const MIN_WEBHOOK_SECRET: usize = 16;

impl SandboxTracker {
    pub fn new(instance: impl Into<String>, config: SandboxConfig) -> Result<Self, SandboxError> {
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(SandboxError::Config(format!(
                "base_url {:?} must be http(s)",
                config.base_url
            )));
        }
        // A short secret can be guessed, and then anyone can announce changes.
        if config.webhook_secret.len() < MIN_WEBHOOK_SECRET {
            return Err(SandboxError::Config(format!(
                "webhook_secret needs at least {MIN_WEBHOOK_SECRET} bytes"
            )));
        }
        let http = outbound::tracker_client(
            &config.base_url,
            config.ca_file.as_deref(),
            Duration::from_secs(30),
        )
        .map_err(|e| SandboxError::Http(e.to_string()))?;
        let gate = config
            .budget
            .map(|b| RateGate::from_config(b.requests_per_minute, b.burst))
            .transpose()
            .map_err(|e| SandboxError::Config(format!("budget: {e}")))?;
        Ok(Self {
            instance: instance.into(),
            config: SandboxConfig {
                base_url: config.base_url.trim_end_matches('/').to_string(),
                ..config
            },
            http,
            shown: twinsync_connector_kit::ShownMarks::default(),
            calls: std::sync::atomic::AtomicU64::new(0),
            gate,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    async fn call<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> PortResult<T> {
        let req = match &self.config.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        if let Some(gate) = &self.gate {
            gate.admit().await?;
        }
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        twinsync_ports::requests::note();
        let resp = req.send().await.map_err(|e| {
            PortError::Unavailable(format!(
                "sandbox {}: {}",
                self.instance,
                outbound::describe(&e)
            ))
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| {
            PortError::Unavailable(format!(
                "sandbox {}: {}",
                self.instance,
                outbound::describe(&e)
            ))
        })?;
        if !status.is_success() {
            let error = status_error(status, &headers, &text);
            if let (Some(gate), Some(wait)) = (&self.gate, error.retry_after_ms()) {
                // Every later call waits too: a rate-limited server counts refused calls.
                gate.block_until(now_ms().saturating_add(wait as i64));
                return Err(gate.throttled(wait));
            }
            return Err(error);
        }
        // A 204 has no body; `()` reads it as null.
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text).map_err(|e| {
            PortError::Rejected(format!(
                "unexpected answer from sandbox {}: {e}",
                self.instance
            ))
        })
    }

    /// `PATCH /api/items/{key}`, held to `version` (`If-Match`) where one is named.
    async fn patch_item(
        &self,
        key: &str,
        version: Option<u64>,
        update: &ItemUpdate,
    ) -> PortResult<Item> {
        let request = self.http.patch(self.url(&format!("/api/items/{key}")));
        let request = match version {
            Some(version) => request.header(reqwest::header::IF_MATCH, if_match(version)),
            None => request,
        };
        let w: WireItem = self.call(request.json(&update_body(update)?)).await?;
        Ok(w.into())
    }

    /// Creates an item as a person would (no origin marker).
    pub async fn create_raw(&self, body: &Value) -> PortResult<Item> {
        let w: WireItem = self
            .call(self.http.post(self.url("/api/items")).json(body))
            .await?;
        Ok(w.into())
    }
}

#[async_trait]
impl Tracker for SandboxTracker {
    fn kind(&self) -> twinsync_core::ConnectorKind {
        twinsync_core::ConnectorKind::Sandbox
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn throttled_ms(&self) -> u64 {
        self.gate.as_ref().map_or(0, RateGate::throttled_ms)
    }

    fn url(&self) -> &str {
        &self.config.base_url
    }

    /// The sandbox answers a create or an update with the item as stored, and its sync
    /// status is no change of the item.
    fn write_answer(&self) -> twinsync_ports::WriteAnswer {
        twinsync_ports::WriteAnswer::WholeItem
    }

    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        #[derive(serde::Deserialize)]
        struct Project {
            key: String,
        }
        let projects: Vec<Project> = self.call(self.http.get(self.url("/api/projects"))).await?;
        Ok(Some(projects.iter().any(|p| p.key == project)))
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        match self
            .call::<WireItem>(self.http.get(self.url(&format!("/api/items/{key}"))))
            .await
        {
            Ok(w) => Ok(Some(w.into())),
            Err(PortError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        let origin = (!origin.is_empty()).then_some(origin);
        self.create_raw(&create_body(project, item, origin)).await
    }

    /// The sandbox's create takes the `sync` field: one call instead of two.
    async fn create_item_shown(
        &self,
        project: &str,
        item: &Item,
        origin: &str,
        mark: &SyncMark,
    ) -> PortResult<Item> {
        let origin = (!origin.is_empty()).then_some(origin);
        let mut body = create_body(project, item, origin);
        let sync = sync_field(mark);
        let text = sync.to_string();
        if let Some(fields) = body.as_object_mut() {
            fields.insert("sync".into(), sync);
        }
        let created = self.create_raw(&body).await?;
        self.shown.record(&created.key, text);
        Ok(created)
    }

    /// The create is one POST, never retried here: refused with a 429, or by the gate
    /// before it left, it made nothing.
    fn create_refused_whole(&self, error: &PortError) -> bool {
        error.refused_whole()
    }

    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        self.patch_item(key, None, update).await
    }

    /// The sandbox takes the item's version as an `If-Match` entity tag on updates,
    /// comment adds and attachment adds, and answers 412 once the item has moved past it.
    fn preconditions(&self) -> twinsync_ports::Preconditions {
        twinsync_ports::Preconditions::UpdatesAndAdds
    }

    async fn update_item_if(
        &self,
        key: &str,
        version: u64,
        update: &ItemUpdate,
    ) -> PortResult<Item> {
        self.patch_item(key, Some(version), update).await
    }

    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        let c: WireComment = self
            .call(
                self.http
                    .post(self.url(&format!("/api/items/{key}/comments")))
                    .json(&comment_body(body, author, origin)),
            )
            .await?;
        Ok(c.into())
    }

    /// With the item's version as `If-Match`, and the whole item in the answer
    /// (`?answer=item`), which stands for a read-back.
    async fn add_comment_if(
        &self,
        key: &str,
        version: u64,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<twinsync_ports::CommentAdded> {
        #[derive(serde::Deserialize)]
        struct Added {
            comment: WireComment,
            item: WireItem,
        }
        let added: Added = self
            .call(
                self.http
                    .post(self.url(&format!("/api/items/{key}/comments?answer=item")))
                    .header(reqwest::header::IF_MATCH, if_match(version))
                    .json(&comment_body(body, author, origin)),
            )
            .await?;
        Ok(twinsync_ports::CommentAdded {
            comment: added.comment.into(),
            item: Some(added.item.into()),
        })
    }

    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        let _: Value = self
            .call(
                self.http
                    .patch(self.url(&format!("/api/items/{key}/comments/{comment_id}")))
                    .json(&json!({ "body": body })),
            )
            .await?;
        Ok(())
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        let url = self.url(&format!("/api/items/{key}/attachments"));
        let a: WireAttachment = self
            .call(self.http.post(url).json(&attachment_body(attachment)))
            .await?;
        Ok(a.into())
    }

    /// With the item's version as `If-Match`, and the whole item in the answer
    /// (`?answer=item`), which stands for a read-back.
    async fn add_attachment_if(
        &self,
        key: &str,
        version: u64,
        attachment: &Attachment,
    ) -> PortResult<twinsync_ports::AttachmentAdded> {
        #[derive(serde::Deserialize)]
        struct Added {
            attachment: WireAttachment,
            item: WireItem,
        }
        let url = self.url(&format!("/api/items/{key}/attachments?answer=item"));
        let added: Added = self
            .call(
                self.http
                    .post(url)
                    .header(reqwest::header::IF_MATCH, if_match(version))
                    .json(&attachment_body(attachment)),
            )
            .await?;
        Ok(twinsync_ports::AttachmentAdded {
            attachment: added.attachment.into(),
            item: Some(added.item.into()),
        })
    }

    /// The sandbox's sync field (`PUT /api/items/{key}/sync`): metadata, so no webhook
    /// follows and nothing can echo.
    async fn show_sync(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        let body = sync_field(mark);
        let text = body.to_string();
        if self.shown.already(key, &text) {
            return Ok(());
        }
        let _: Value = self
            .call(
                self.http
                    .put(self.url(&format!("/api/items/{key}/sync")))
                    .json(&body),
            )
            .await?;
        self.shown.record(key, text);
        Ok(())
    }

    async fn delete_item(&self, key: &str) -> PortResult<()> {
        let url = self.url(&format!("/api/items/{key}"));
        twinsync_ports::gone_is_done(self.call::<()>(self.http.delete(url)).await)
    }

    async fn delete_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        let url = self.url(&format!("/api/items/{key}/comments/{comment_id}"));
        twinsync_ports::gone_is_done(self.call::<()>(self.http.delete(url)).await)
    }

    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        let page: WirePage = self
            .call(self.http.get(self.url("/api/items")).query(&[
                ("project", project),
                ("origin", origin),
                ("limit", "1"),
            ]))
            .await?;
        Ok(page.items.into_iter().next().map(Item::from))
    }

    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        let mut params: Vec<(&str, String)> = vec![
            ("updatedSince", since_ms.to_string()),
            ("limit", "100".into()),
        ];
        if !query.trim().is_empty() {
            params.push(("filter", query.to_string()));
        }
        if let Some(p) = &self.config.project {
            params.push(("project", p.clone()));
        }
        if let Some(c) = page {
            params.push(("cursor", c));
        }
        let page: WirePage = self
            .call(self.http.get(self.url("/api/items")).query(&params))
            .await?;
        Ok(ItemPage {
            items: page.items.into_iter().map(Item::from).collect(),
            next: page.next,
        })
    }

    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        webhook::verify(&self.config.webhook_secret, headers, body, now_ms).map(|s| vec![s])
    }
}
