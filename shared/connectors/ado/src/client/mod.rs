//! The REST client (api-version 7.1) and the `Tracker` implementation.
//!
//! Every request goes through [`AdoTracker::send`]: the connector's own budget first
//! (`RateGate`), then Azure DevOps' answer read for its limits (`limits`). `items`
//! writes work items with JSON Patch guarded by a `test` on `/rev`; `search` runs WIQL
//! and reads the ids it found in batches; `comments`, `attachments` and `hooks` are the
//! APIs of the same names.

mod attachments;
mod comments;
mod hooks;
mod items;
mod limits;
mod search;
mod status;

use crate::config::AdoConfig;
use crate::{AdoError, mapping, webhook};
use async_trait::async_trait;
use reqwest::RequestBuilder;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use twinsync_connector_kit::outbound::{self};
use twinsync_connector_kit::{RateGate, http};
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};
use twinsync_ports::{
    ChangeSignal, ItemPage, PortError, PortResult, SyncMark, Tracker, WebhookError,
};

/// The API version of every call but the comments'.
pub const API_VERSION: &str = "7.1";
/// The comments API is still a preview in 7.1.
pub const COMMENTS_API_VERSION: &str = "7.1-preview.4";

pub struct AdoTracker {
    instance: String,
    config: AdoConfig,
    authorization: String,
    http: reqwest::Client,
    gate: RateGate,
    /// The states each work item type allows, read once per type.
    states: tokio::sync::Mutex<HashMap<String, Vec<(String, String)>>>,
    /// What the last read of each work item saw: the next write tests its rev, so an
    /// edit made since is detected, not overwritten.
    seen: std::sync::Mutex<HashMap<String, items::Seen>>,
    /// The sync status last shown on each work item, so an unchanged one is not written.
    shown: twinsync_connector_kit::ShownMarks,
    /// This account's identity id, read once: only its comments' markers are trusted.
    own_id: tokio::sync::Mutex<Option<String>>,
}

/// Azure DevOps explains errors as `{"message": "TF...: ...", "typeKey": ...}`.
pub fn explain(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => v["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| text.chars().take(200).collect()),
        Err(_) => text.chars().take(200).collect(),
    }
}

/// A path segment (a project or type name may hold spaces), percent-encoded.
pub fn segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl AdoTracker {
    pub fn new(instance: impl Into<String>, config: AdoConfig) -> Result<Self, AdoError> {
        config.check()?;
        let http = outbound::tracker_client(
            &config.org_url,
            config.ca_file.as_deref(),
            Duration::from_secs(60),
        )
        .map_err(|e| AdoError::Http(e.to_string()))?;
        let gate = RateGate::from_config(config.requests_per_minute, config.burst)
            .map_err(AdoError::Config)?;
        Ok(Self {
            instance: instance.into(),
            authorization: config.authorization(),
            config: AdoConfig {
                org_url: config.org_url.trim_end_matches('/').to_string(),
                ..config
            },
            http,
            gate,
            states: tokio::sync::Mutex::new(HashMap::new()),
            seen: std::sync::Mutex::new(HashMap::new()),
            shown: twinsync_connector_kit::ShownMarks::default(),
            own_id: tokio::sync::Mutex::new(None),
        })
    }

    /// `{org}/_apis{path}` (organization-wide APIs).
    fn org_api(&self, path: &str) -> String {
        format!("{}/_apis{path}", self.config.org_url)
    }

    /// `{org}/{project}/_apis{path}`.
    fn project_api(&self, project: &str, path: &str) -> String {
        format!("{}/{}/_apis{path}", self.config.org_url, segment(project))
    }

    fn project_or_default<'a>(&'a self, project: &'a str) -> &'a str {
        if project.trim().is_empty() {
            &self.config.project
        } else {
            project
        }
    }

    /// One request: budget, auth, send, limits, status → error. Returns the body
    /// (`Null` when empty).
    async fn send(&self, request: RequestBuilder) -> PortResult<Value> {
        self.gate.admit().await?;
        let resp = request
            .header("authorization", &self.authorization)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                PortError::Unavailable(format!(
                    "azure devops {}: {}",
                    self.instance,
                    outbound::describe(&e)
                ))
            })?;
        let status = resp.status().as_u16();
        let refused = limits::read(&self.gate, &self.instance, status, resp.headers());
        let text = resp
            .text()
            .await
            .map_err(|e| PortError::Unavailable(e.to_string()))?;
        if let Some(refused) = refused {
            return Err(refused);
        }
        match status {
            200..=299 => {
                if text.trim().is_empty() {
                    Ok(Value::Null)
                } else {
                    serde_json::from_str(&text).map_err(|e| {
                        PortError::Rejected(format!("unexpected answer from Azure DevOps: {e}"))
                    })
                }
            }
            // A failed `test` on `/rev`: someone else wrote the item since it was read.
            412 => Err(PortError::Conflict(format!(
                "azure devops {}: {}",
                self.instance,
                explain(&text)
            ))),
            s => Err(http::status_error(
                s,
                &format!("azure devops {}", self.instance),
                &explain(&text),
            )),
        }
    }

    /// This account's identity id (`_apis/connectionData`), read once.
    async fn own_id(&self) -> PortResult<String> {
        let mut cached = self.own_id.lock().await;
        if let Some(id) = cached.as_ref() {
            return Ok(id.clone());
        }
        let data = self
            .send(self.http.get(self.org_api("/connectionData")))
            .await?;
        let id = data["authenticatedUser"]["id"]
            .as_str()
            .unwrap_or("")
            .to_string();
        *cached = Some(id.clone());
        Ok(id)
    }

    /// A work item (fields and relations) as the domain sees it, with its comments; `None`
    /// when it was deleted between the two reads.
    async fn read(&self, wi: &Value) -> PortResult<Option<Item>> {
        let key = wi["id"].as_i64().map(|i| i.to_string()).unwrap_or_default();
        let comments = if wi["fields"]["System.CommentCount"].as_u64().unwrap_or(0) > 0 {
            let project = wi["fields"][mapping::TEAM_PROJECT].as_str().unwrap_or("");
            match twinsync_ports::gone_is_none(self.comments(project, &key).await)? {
                Some(c) => c,
                None => return Ok(None),
            }
        } else {
            Vec::new()
        };
        let own = self.own_id().await?;
        self.remember(wi);
        Ok(Some(mapping::to_item(
            &self.config.org_url,
            wi,
            &comments,
            &own,
        )))
    }
}

#[async_trait]
impl Tracker for AdoTracker {
    fn kind(&self) -> twinsync_core::ConnectorKind {
        twinsync_core::ConnectorKind::Ado
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn url(&self) -> &str {
        &self.config.org_url
    }

    fn calls(&self) -> u64 {
        self.gate.calls()
    }

    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        match self.project_id(project).await {
            Ok(_) => Ok(Some(true)),
            Err(PortError::NotFound(_)) => Ok(Some(false)),
            Err(e) => Err(e),
        }
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        let wi = match self.get_item_raw(key).await {
            Ok(v) => v,
            Err(PortError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.read(&wi).await
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        let project = self.project_or_default(project).to_string();
        self.create(&project, item, origin).await
    }

    /// A create is one POST after reads (the identity is read after it, and its wait
    /// maps with `after_create`); a 429 or the gate refused it whole.
    fn create_refused_whole(&self, error: &PortError) -> bool {
        error.refused_whole()
    }

    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        self.update(key, None, update).await
    }

    /// Every update already tests `/rev`; here it tests the revision the node planned on.
    fn preconditions(&self) -> twinsync_ports::Preconditions {
        twinsync_ports::Preconditions::Updates
    }

    async fn update_item_if(
        &self,
        key: &str,
        version: u64,
        update: &ItemUpdate,
    ) -> PortResult<Item> {
        self.update(key, Some(version), update).await
    }

    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        _author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        // Author attribution is the rules' job (Azure DevOps posts as the token's user).
        self.post_comment(key, body, origin).await
    }

    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        self.edit_comment(key, comment_id, body).await
    }

    async fn delete_item(&self, key: &str) -> PortResult<()> {
        self.delete_work_item(key).await
    }

    async fn delete_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        self.delete_comment_of(key, comment_id).await
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        self.upload(key, attachment).await
    }

    /// A WIQL query on the origin tag (see `crate::origin`).
    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        let project = self.project_or_default(project).to_string();
        let ids = self
            .wiql(&project, &crate::origin::find_query(&project, origin))
            .await?;
        match ids.first() {
            Some(id) => self.get_item(&id.to_string()).await,
            None => Ok(None),
        }
    }

    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        self.poll(query, since_ms, page).await
    }

    async fn register_webhook(&self, url: &str) -> PortResult<bool> {
        self.subscribe(url).await?;
        Ok(true)
    }

    /// Subscriptions do not expire, but Azure DevOps disables one that keeps failing:
    /// once a day each is checked, re-enabled or made again.
    async fn refresh_webhook(&self, url: &str, now_ms: i64) -> PortResult<Option<i64>> {
        self.subscribe(url).await?;
        Ok(Some(now_ms + hooks::REFRESH_MS))
    }

    /// A `Hyperlink` relation to the twin whose comment is the status (`status`).
    async fn show_sync(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        self.show(key, mark).await
    }

    fn throttled_ms(&self) -> u64 {
        self.gate.throttled_ms()
    }

    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        _now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        webhook::verify(
            &self.config.webhook_user,
            &self.config.webhook_secret,
            headers,
            body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_segments_read_as_ado_writes_them() {
        assert_eq!(
            explain(
                r#"{"$id":"1","message":"TF401232: Work item 9 does not exist.","typeKey":"WorkItemUnauthorizedAccessException"}"#
            ),
            "TF401232: Work item 9 does not exist."
        );
        assert_eq!(segment("My Project"), "My%20Project");
        assert_eq!(segment("Task"), "Task");
    }
}
