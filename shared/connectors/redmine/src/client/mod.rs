//! The Redmine REST client and its `Tracker` implementation; requests in `request.rs`,
//! domain fields as Redmine's in `fields.rs`, the sync status in `status.rs`.

use crate::mapping::{IdName, Issue, OwnFields, RmUser, note_with_marker, split_marker};
use crate::{RedmineConfig, RedmineError};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::Mutex;
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_connector_kit::outbound::{self, Download};
use twinsync_core::{Attachment, Comment, Filter, Item, ItemUpdate, User};
use twinsync_ports::{
    ChangeSignal, ItemPage, PortError, PortResult, SyncMark, Tracker, WebhookError,
};

mod create;
mod fields;
mod request;
mod status;

/// Names Redmine knows by id: looked up once, on first use.
#[derive(Debug, Clone, Default)]
struct Lookups {
    statuses: Vec<IdName>,
    priorities: Vec<IdName>,
    trackers: Vec<IdName>,
    /// Users and issue custom fields: Redmine lists them to administrators only, so they
    /// are empty for a non-admin key (assignees then cannot be matched by email).
    users: Vec<RmUser>,
    custom_fields: Vec<IdName>,
}

pub struct RedmineTracker {
    instance: String,
    config: RedmineConfig,
    http: reqwest::Client,
    lookups: Mutex<Option<Lookups>>,
    /// API calls made, for the benchmark's calls-per-change figure.
    calls: std::sync::atomic::AtomicU64,
    /// The sync status each issue shows, as far as this process wrote it.
    shown: twinsync_connector_kit::ShownMarks,
    /// Whether the log said once that no status fields are configured.
    said_no_status_fields: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for RedmineTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedmineTracker")
            .field("instance", &self.instance)
            .field("config", &self.config)
            .finish()
    }
}

impl RedmineTracker {
    pub fn new(instance: impl Into<String>, config: RedmineConfig) -> Result<Self, RedmineError> {
        if !(config.base_url.starts_with("http://") || config.base_url.starts_with("https://")) {
            return Err(RedmineError::Config(format!(
                "base_url {:?} must be http(s)",
                config.base_url
            )));
        }
        match config.text_formatting.as_deref() {
            None | Some("" | "common_mark" | "markdown") => {}
            Some("textile") if crate::textile::available() => {}
            Some("textile") => {
                return Err(RedmineError::Config(
                    "text_formatting = \"textile\" needs pandoc on PATH (apt-get install pandoc)"
                        .into(),
                ));
            }
            Some(other) => {
                return Err(RedmineError::Config(format!(
                    "text_formatting {other:?}: use common_mark, markdown or textile"
                )));
            }
        }
        let http = outbound::tracker_client(
            &config.base_url,
            config.ca_file.as_deref(),
            Duration::from_secs(60),
        )
        .map_err(|e| RedmineError::Http(e.to_string()))?;
        Ok(Self {
            instance: instance.into(),
            config: RedmineConfig {
                base_url: config.base_url.trim_end_matches('/').to_string(),
                ..config
            },
            http,
            lookups: Mutex::new(None),
            calls: std::sync::atomic::AtomicU64::new(0),
            shown: twinsync_connector_kit::ShownMarks::default(),
            said_no_status_fields: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The custom fields that hold the connector's own marks.
    fn own(&self) -> OwnFields {
        OwnFields {
            origin: self.config.origin_field_id,
            status: self.config.status_field_id,
            twin: self.config.twin_field_id,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    async fn issue(&self, key: &str) -> PortResult<Option<Issue>> {
        let id: u64 = key
            .parse()
            .map_err(|_| PortError::Rejected(format!("{key:?} is not a Redmine issue id")))?;
        match self
            .json::<Value>(
                self.http
                    .get(self.url(&format!("/issues/{id}.json?include=journals,attachments"))),
            )
            .await
        {
            Ok(v) => {
                let issue: Issue = serde_json::from_value(v["issue"].clone())
                    .map_err(|e| PortError::Rejected(e.to_string()))?;
                // Every member has a default, so `{}` reads as issue 0: the id decides.
                let answered = (issue.id != 0).then(|| issue.id.to_string());
                twinsync_connector_kit::http::same_item("Redmine", &id.to_string(), answered)?;
                Ok(Some(issue))
            }
            Err(PortError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a listed issue may match the trigger: the listing has every field a
    /// trigger can name but the journals, so an issue it rules out is not read again (a
    /// shared Redmine lists every project's updates). A Textile description reads as
    /// Markdown only once converted, so a trigger on it waits for the full read.
    fn may_match(&self, filter: &Filter, listed: &Value, users: &[RmUser]) -> bool {
        if self.textile() && filter.names("description") {
            return true;
        }
        match serde_json::from_value::<Issue>(listed.clone()) {
            Ok(issue) => filter.matches(&issue.to_item(&self.config.base_url, self.own(), users)),
            Err(_) => true,
        }
    }

    fn textile(&self) -> bool {
        self.config.text_formatting.as_deref() == Some("textile")
    }

    async fn full(&self, key: &str) -> PortResult<Item> {
        self.item(key)
            .await?
            .ok_or_else(|| PortError::NotFound(format!("issue {key}")))
    }

    async fn item(&self, key: &str) -> PortResult<Option<Item>> {
        let users = self.lookups().await?.users;
        let Some(issue) = self.issue(key).await? else {
            return Ok(None);
        };
        let mut item = issue.to_item(&self.config.base_url, self.own(), &users);
        if self.textile() {
            item.description = crate::textile::to_markdown(&item.description).await?;
            for c in &mut item.comments {
                c.body = crate::textile::to_markdown(&c.body).await?;
            }
        }
        Ok(Some(item))
    }
}

#[async_trait]
impl Tracker for RedmineTracker {
    fn kind(&self) -> twinsync_core::ConnectorKind {
        twinsync_core::ConnectorKind::Redmine
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn url(&self) -> &str {
        &self.config.base_url
    }

    fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `GET /projects/{identifier}.json`: 404 for a project that does not exist, 403 for
    /// one the API key's user cannot see; neither can take twins.
    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        let path = format!("/projects/{project}.json");
        match self.send(self.http.get(self.url(&path))).await {
            Ok(_) => Ok(Some(true)),
            Err(PortError::NotFound(_)) => Ok(Some(false)),
            Err(PortError::Rejected(m)) if m.contains("403") => Ok(Some(false)),
            Err(e) => Err(e),
        }
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.item(key).await
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        self.create(project, item, origin).await
    }

    /// The create is one POST; the reads before it look up ids, and the read-back and
    /// the status's update after it map their errors with `after_create`.
    fn create_refused_whole(&self, error: &PortError) -> bool {
        error.refused_whole()
    }

    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        let mut fields = self
            .fields(
                update.summary.as_deref(),
                update.description.as_deref(),
                update.status.as_deref(),
                update.priority.as_deref(),
            )
            .await?;
        self.people_and_custom(
            &mut fields,
            update.assignee.as_ref().map(Option::as_ref),
            update.custom_fields.as_ref(),
            None,
        )
        .await?;
        if !fields.is_empty() {
            self.send(
                self.http
                    .put(self.url(&format!("/issues/{key}.json")))
                    .json(&json!({ "issue": fields })),
            )
            .await?;
        }
        self.full(key).await
    }

    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        _author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        // The API writes notes as the API key's user; the marker finds the note again.
        let notes = note_with_marker(&self.to_server(body).await?, origin);
        self.send(
            self.http
                .put(self.url(&format!("/issues/{key}.json")))
                .json(&json!({ "issue": { "notes": notes } })),
        )
        .await?;
        let item = self.full(key).await?;
        item.comments
            .into_iter()
            .rev()
            // A marked note is found by its marker (its text may come back reformatted).
            .find(|c| c.origin.as_deref() == origin && (origin.is_some() || c.body == body))
            .ok_or_else(|| {
                PortError::Unavailable(format!("note on {key} not found after writing it"))
            })
    }

    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        let issue = self
            .issue(key)
            .await?
            .ok_or_else(|| PortError::NotFound(format!("issue {key}")))?;
        let origin = issue
            .journals
            .unwrap_or_default()
            .into_iter()
            .find(|j| j.id.to_string() == comment_id)
            .and_then(|j| j.notes)
            .and_then(|n| split_marker(&n).1);
        let notes = note_with_marker(&self.to_server(body).await?, origin.as_deref());
        self.send(
            self.http
                .put(self.url(&format!("/journals/{comment_id}.json")))
                .json(&json!({ "journal": { "notes": notes } })),
        )
        .await?;
        Ok(())
    }

    /// `DELETE /issues/{id}.json`, with the issue's journals and attachments.
    async fn delete_item(&self, key: &str) -> PortResult<()> {
        let answer = self
            .send(self.http.delete(self.url(&format!("/issues/{key}.json"))))
            .await;
        twinsync_ports::gone_is_done(answer)
    }

    /// Redmine has no journal deletion; a journal whose notes are emptied and that records
    /// no field change is destroyed by `PUT /journals/{id}.json` (JournalsController#update).
    async fn delete_comment(&self, _key: &str, comment_id: &str) -> PortResult<()> {
        let answer = self
            .send(
                self.http
                    .put(self.url(&format!("/journals/{comment_id}.json")))
                    .json(&json!({ "journal": { "notes": "" } })),
            )
            .await;
        twinsync_ports::gone_is_done(answer)
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        // Redmine's upload-token flow: upload the bytes, then attach the token to the issue.
        let max = self.config.attachment_max_bytes;
        // Redmine's key stays in its header: the download carries no credential.
        let bytes = outbound::download(
            &self.http,
            &Download {
                url: &attachment.url,
                filename: &attachment.filename,
                base_url: &self.config.base_url,
                authorization: None,
                max_bytes: max,
            },
        )
        .await?;
        let uploaded: Value = self
            .json(
                self.http
                    .post(self.url(&format!("/uploads.json?filename={}", attachment.filename)))
                    .header("content-type", "application/octet-stream")
                    .body(bytes),
            )
            .await?;
        let token = uploaded["upload"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.send(self.http.put(self.url(&format!("/issues/{key}.json"))).json(&json!({
            "issue": { "uploads": [{ "token": token, "filename": attachment.filename, "content_type": attachment.mime_type }] }
        })))
        .await?;
        let item = self.full(key).await?;
        item.attachments
            .into_iter()
            .rev()
            .find(|a| a.filename == attachment.filename)
            .ok_or_else(|| {
                PortError::Unavailable(format!("attachment on {key} not found after upload"))
            })
    }

    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        let field = format!("cf_{}", self.config.origin_field_id);
        let page: Value = self
            .json(self.http.get(self.url("/issues.json")).query(&[
                ("project_id", project),
                (field.as_str(), origin),
                ("status_id", "*"),
                ("limit", "1"),
            ]))
            .await?;
        // An answer that is no listing is no "not found": a second issue would follow.
        match answer::listing("Redmine", &page, "issues")?.first() {
            Some(issue) => {
                let id = answer::id_in("Redmine", issue, "id", IdKind::Number)?;
                self.get_item(&id).await
            }
            None => Ok(None),
        }
    }

    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        let filter = match query.trim() {
            "" => None,
            q => Some(Filter::parse(q).map_err(|e| PortError::Rejected(format!("trigger: {e}")))?),
        };
        // Redmine compares at one-second resolution: ask from the start of that second.
        let since = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(
            since_ms.max(0) - since_ms.max(0) % 1000,
        )
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
        let offset: u64 = page.as_deref().and_then(|p| p.parse().ok()).unwrap_or(0);
        let mut params = vec![
            ("status_id", "*".to_string()),
            ("sort", "updated_on,id".to_string()),
            ("updated_on", format!(">={since}")),
            ("offset", offset.to_string()),
            ("limit", "100".to_string()),
        ];
        if let Some(p) = &self.config.project {
            params.push(("project_id", p.clone()));
        }
        let listing: Value = self
            .json(self.http.get(self.url("/issues.json")).query(&params))
            .await?;
        let issues = answer::listing("Redmine", &listing, "issues")?;
        let total = listing["total_count"].as_u64().unwrap_or(0);
        let mut items = Vec::with_capacity(issues.len());
        let users = match &filter {
            Some(_) => self.lookups().await?.users,
            None => Vec::new(),
        };
        for issue in issues {
            let id = answer::id_in("Redmine", issue, "id", IdKind::Number)?;
            if let Some(f) = &filter
                && !self.may_match(f, issue, &users)
            {
                continue;
            }
            // The listing has no journals; the full issue gives the version and comments.
            let Some(item) = self.get_item(&id).await? else {
                continue;
            };
            if filter.as_ref().is_none_or(|f| f.matches(&item)) {
                items.push(item);
            }
        }
        let next = (offset + (issues.len() as u64) < total && !issues.is_empty())
            .then(|| (offset + issues.len() as u64).to_string());
        Ok(ItemPage { items, next })
    }

    /// The "twinsync status" and "twinsync twin" custom fields (`status.rs`).
    async fn show_sync(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        self.show(key, mark).await
    }

    fn verify_webhook(
        &self,
        _headers: &[(String, String)],
        _body: &[u8],
        _now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        Err(WebhookError::Malformed(
            "Redmine sends no webhooks; its triggers are polled".into(),
        ))
    }
}
