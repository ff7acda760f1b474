//! The REST client (API v3) and the `Tracker` implementation.
//!
//! Every request goes through [`JiraTracker::send`]: the connector's own budget first
//! (`RateGate` of twinsync-connector-kit), then Jira's answer read for its limits. A 429 (or a 503 with
//! `Retry-After`) becomes `PortError::RateLimited` with the wait Jira asked for: the
//! handler hands it to the queue, which extends the message's visibility instead of
//! sleeping in a worker. `fields` writes a create's or an edit's fields in Jira's words
//! (people by email, custom fields by name); `find` finds issues again by their origin
//! marker; `hooks` registers and refreshes webhooks; `workflow` moves statuses by
//! transitions; `attachments` copies files over.

mod attachments;
mod delete;
mod fields;
mod find;
mod hooks;
mod links;
mod request;
mod workflow;

use crate::config::JiraConfig;
use crate::mapping::{FIELDS, FieldIndex, ORIGIN_PROPERTY, origin_property};
use crate::origin::{OriginSearch, origin_token};
use crate::{JiraError, adf, webhook};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_connector_kit::outbound::{self};
use twinsync_connector_kit::{RateGate, now_ms};
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};
use twinsync_ports::{ChangeSignal, ItemPage, PortError, PortResult, Tracker, WebhookError};

/// How often a registered webhook is refreshed (Jira drops them after 30 days).
pub const WEBHOOK_REFRESH_MS: i64 = 24 * 3_600_000;

/// Jira answers an unnamed 429 with this wait when it sends no `Retry-After`.
const DEFAULT_RETRY_MS: u64 = 10_000;

pub struct JiraTracker {
    instance: String,
    config: JiraConfig,
    authorization: String,
    http: reqwest::Client,
    gate: RateGate,
    /// Account ids by email (`None`: searched, nobody found).
    accounts: tokio::sync::Mutex<HashMap<String, Option<String>>>,
    fields: tokio::sync::Mutex<Option<FieldIndex>>,
    /// The status new issues start in, per project, learned from the first create.
    initial_status: tokio::sync::Mutex<HashMap<String, String>>,
    /// How issues are found again, settled at the first need (`find::origin_search`).
    origin_search: tokio::sync::Mutex<Option<OriginSearch>>,
    /// The remote link last posted per issue: a status shown already is not posted again.
    shown: twinsync_connector_kit::ShownMarks,
}

/// Jira explains errors as `{"errorMessages": [...], "errors": {"field": "message"}}`.
pub fn explain(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let mut parts: Vec<String> = v["errorMessages"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(errors) = v["errors"].as_object() {
                for (field, message) in errors {
                    parts.push(format!("{field}: {}", message.as_str().unwrap_or("")));
                }
            }
            if parts.is_empty() {
                v["message"].as_str().unwrap_or("").to_string()
            } else {
                parts.join("; ")
            }
        }
        Err(_) => text.chars().take(200).collect(),
    }
}

/// Markdown as the ADF Jira takes; text nested too deep is refused for good.
pub(crate) fn markdown_to_adf(markdown: &str) -> PortResult<Value> {
    adf::from_markdown(markdown).map_err(|e| PortError::Rejected(e.to_string()))
}

/// A JQL string literal.
pub fn jql_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The `updated` window of a poll since `since_ms`, as a relative JQL date. JQL dates
/// have minute resolution and absolute ones are read in the API user's time zone; a
/// relative one is neither. It reaches back to the start of the cursor's minute and one
/// minute more for clock skew, so an edit in the same minute is never missed; the
/// scheduler's cursor (keys and versions seen) drops what was already sent.
pub fn updated_window(since_ms: i64, now_ms: i64) -> Option<String> {
    if since_ms <= 0 {
        return None;
    }
    let minutes = (now_ms - since_ms).max(0) / 60_000 + 2;
    Some(format!("updated >= \"-{minutes}m\""))
}

impl JiraTracker {
    pub fn new(instance: impl Into<String>, config: JiraConfig) -> Result<Self, JiraError> {
        config.check()?;
        let http = outbound::tracker_client(
            &config.base_url,
            config.ca_file.as_deref(),
            Duration::from_secs(60),
        )
        .map_err(|e| JiraError::Http(e.to_string()))?;
        let gate = RateGate::from_config(config.requests_per_minute, config.burst)
            .map_err(JiraError::Config)?;
        Ok(Self {
            instance: instance.into(),
            authorization: config.authorization(),
            config: JiraConfig {
                base_url: config.base_url.trim_end_matches('/').to_string(),
                ..config
            },
            http,
            gate,
            accounts: tokio::sync::Mutex::new(HashMap::new()),
            fields: tokio::sync::Mutex::new(None),
            initial_status: tokio::sync::Mutex::new(HashMap::new()),
            origin_search: tokio::sync::Mutex::new(None),
            shown: twinsync_connector_kit::ShownMarks::default(),
        })
    }

    /// Time spent waiting for rate limits (ours and Jira's), for metrics.
    pub fn throttled_ms(&self) -> u64 {
        self.gate.throttled_ms()
    }

    fn api(&self, path: &str) -> String {
        format!("{}/rest/api/3{path}", self.config.base_url)
    }

    fn throttled(&self, wait_ms: u64) -> PortError {
        self.gate.throttled(wait_ms)
    }
}

#[async_trait]
impl Tracker for JiraTracker {
    fn kind(&self) -> twinsync_core::ConnectorKind {
        twinsync_core::ConnectorKind::Jira
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

    /// A one-issue search in the project: Jira refuses the JQL of a project that does
    /// not exist (or that the account cannot browse) with a 400 saying so.
    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        let jql = format!("project = {}", jql_string(project));
        match self.search(&jql, None, 1).await {
            Ok(_) => Ok(Some(true)),
            Err(PortError::Rejected(m)) if m.contains("does not exist") => Ok(Some(false)),
            Err(e) => Err(e),
        }
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        let issue = match self
            .send(self.http.get(self.api(&format!("/issue/{key}"))).query(&[
                ("fields", FIELDS),
                ("expand", "names"),
                ("properties", ORIGIN_PROPERTY),
            ]))
            .await
        {
            Ok(v) => v,
            Err(PortError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The issue says how many comments it has; their origin markers are comment
        // properties, which only the comment listing returns.
        let comments = if issue["fields"]["comment"]["total"].as_u64().unwrap_or(0) > 0 {
            match twinsync_ports::gone_is_none(self.comments(key).await)? {
                Some(c) => c,
                None => return Ok(None),
            }
        } else {
            Vec::new()
        };
        self.item_of(&issue, &comments).await.map(Some)
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        let project = if project.trim().is_empty() {
            self.config.project.as_str()
        } else {
            project
        };
        let mut fields = self
            .fields(&ItemUpdate {
                summary: Some(item.summary.clone()),
                description: Some(item.description.clone()),
                labels: Some(item.labels.clone()),
                priority: item.priority_name().map(str::to_string),
                assignee: item.assignee.clone().map(Some),
                custom_fields: Some(item.custom_fields.clone()),
                ..ItemUpdate::default()
            })
            .await?;
        if fields.get("description") == Some(&Value::Null) {
            fields.remove("description");
        }
        fields.insert("project".into(), json!({ "key": project }));
        fields.insert(
            "issuetype".into(),
            json!({ "name": self.config.issue_type }),
        );
        let search = self.origin_search().await?;
        if let OriginSearch::Field { id, .. } = &search {
            fields.insert(id.clone(), json!(origin_token(origin)));
        }
        // The origin marker (and its searchable token) is written with the issue, so no
        // crash can leave it unmarked.
        let created = self
            .send(self.http.post(self.api("/issue")).json(&json!({
                "fields": fields,
                "properties": origin_property(origin),
            })))
            .await
            .map_err(|e| self.explain_create(e, &search, project))?;
        let key = answer::id_in("Jira", &created, "key", IdKind::Text)?;
        if let Some(target) = item.status_name() {
            self.move_new_issue(&key, project, target)
                .await
                .map_err(twinsync_connector_kit::after_create)?;
        }
        Ok(Item {
            url: format!("{}/browse/{key}", self.config.base_url),
            key,
            project: project.to_string(),
            origin: Some(origin.to_string()),
            ..item.clone()
        })
    }

    /// The create's one request refused whole (a 429, or our budget before it left) made
    /// nothing; the calls before it are reads, those after it map their errors with
    /// `after_create`.
    fn create_refused_whole(&self, error: &PortError) -> bool {
        error.refused_whole()
    }

    /// Edits the issue (fields in one PUT, the status by a transition); the answer is the
    /// item as asked for, without a read.
    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        let fields = self.fields(update).await?;
        if !fields.is_empty() {
            self.send(
                self.http
                    .put(self.api(&format!("/issue/{key}")))
                    .query(&[("notifyUsers", "false")])
                    .json(&json!({ "fields": fields })),
            )
            .await?;
        }
        if let Some(target) = update.status.as_deref().filter(|s| !s.is_empty())
            && !self.transition(key, target).await?
        {
            return Err(Self::no_transition(key, target));
        }
        Ok(Item {
            key: key.to_string(),
            url: format!("{}/browse/{key}", self.config.base_url),
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
        // Author attribution is the rules' job (Jira posts as the API user).
        let mut request = json!({ "body": markdown_to_adf(body)? });
        if let Some(o) = origin {
            request["properties"] = origin_property(o);
        }
        let created = self
            .send(
                self.http
                    .post(self.api(&format!("/issue/{key}/comment")))
                    .json(&request),
            )
            .await?;
        let mut comment = crate::mapping::comment(&created);
        comment.body = body.to_string();
        comment.origin = origin.map(str::to_string);
        Ok(comment)
    }

    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        // The origin marker is a property of the comment: an edit of the body keeps it.
        self.send(
            self.http
                .put(self.api(&format!("/issue/{key}/comment/{comment_id}")))
                .query(&[("notifyUsers", "false")])
                .json(&json!({ "body": markdown_to_adf(body)? })),
        )
        .await?;
        Ok(())
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        self.upload(key, attachment).await
    }

    async fn delete_item(&self, key: &str) -> PortResult<()> {
        self.delete_issue(key).await
    }

    /// A remote link to the twin with the sync status (`client/links.rs`).
    async fn show_sync(&self, key: &str, mark: &twinsync_ports::SyncMark) -> PortResult<()> {
        self.show_link(key, mark).await
    }

    async fn delete_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        self.delete_issue_comment(key, comment_id).await
    }

    /// Candidates from a search Jira Cloud runs without an app, each checked by its
    /// origin property (`crate::origin`): JQL cannot name the property unless an app
    /// indexes it (<https://developer.atlassian.com/cloud/jira/platform/modules/entity-property/>).
    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        let project = if project.trim().is_empty() {
            self.config.project.as_str()
        } else {
            project
        };
        self.find_again(project, origin).await
    }

    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        let mut clauses = Vec::new();
        match query.trim() {
            "" => clauses.push(format!("project = {}", jql_string(&self.config.project))),
            q => clauses.push(format!("({q})")),
        }
        if let Some(window) = updated_window(since_ms, now_ms()) {
            clauses.push(window);
        }
        let jql = format!("{} ORDER BY updated ASC, key ASC", clauses.join(" AND "));
        let found = self.search(&jql, page, 100).await?;
        let mut items = Vec::new();
        for issue in answer::entries("Jira", &found, "issues", "key", IdKind::Text)? {
            let mut issue = issue.clone();
            if let Some(entry) = issue.as_object_mut()
                && !entry.contains_key("names")
            {
                entry.insert("names".into(), found["names"].clone());
            }
            items.push(self.item_of(&issue, &[]).await?);
        }
        let next = if found["isLast"].as_bool() == Some(false) {
            found["nextPageToken"].as_str().map(str::to_string)
        } else {
            None
        };
        Ok(ItemPage { items, next })
    }

    /// Checks how issues are found again first: the node's start calls this, so a
    /// misconfigured origin field stops the start with the reason.
    async fn register_webhook(&self, url: &str) -> PortResult<bool> {
        self.origin_search().await?;
        let jql = format!("project = {}", jql_string(&self.config.project));
        self.subscribe(url, &jql).await?;
        Ok(true)
    }

    /// Refreshes the registration (or makes it again if Jira dropped it) once a day, well
    /// inside Jira's 30 days.
    async fn refresh_webhook(&self, url: &str, now_ms: i64) -> PortResult<Option<i64>> {
        self.register_webhook(url).await?;
        Ok(Some(now_ms + WEBHOOK_REFRESH_MS))
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
            &self.config.webhook_secret,
            webhook::Unsigned::from_setting(self.config.allow_unsigned),
            headers,
            body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_window_covers_the_cursor_minute_and_skew() {
        let cases = [
            (0, 1_000_000, None),
            (1_000_000, 1_000_000, Some("updated >= \"-2m\"")),
            (1_000_000, 1_059_999, Some("updated >= \"-2m\"")),
            (1_000_000, 1_060_000, Some("updated >= \"-3m\"")),
            (1_000_000, 990_000, Some("updated >= \"-2m\"")),
        ];
        for (since, now, want) in cases {
            assert_eq!(updated_window(since, now).as_deref(), want, "{since} {now}");
        }
    }

    #[test]
    fn errors_and_strings_read_as_jira_writes_them() {
        assert_eq!(
            explain(r#"{"errorMessages":["Issue does not exist"],"errors":{}}"#),
            "Issue does not exist"
        );
        assert_eq!(
            explain(
                r#"{"errorMessages":[],"errors":{"summary":"You must specify a summary of the issue."}}"#
            ),
            "summary: You must specify a summary of the issue."
        );
        assert_eq!(jql_string("a \"b\""), "\"a \\\"b\\\"\"");
    }
}
