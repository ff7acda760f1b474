//! The Redmine REST client and its `Tracker` implementation.

use crate::mapping::{IdName, Issue, RmUser, find_user, note_with_marker, split_marker};
use crate::{RedmineConfig, RedmineError};
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::Mutex;
use twinsync_connector_kit::outbound::{self, ClientOptions, Download};
use twinsync_connector_kit::target::Reach;
use twinsync_connector_kit::{http, now_ms};
use twinsync_core::{Attachment, Comment, Filter, Item, ItemUpdate, User};
use twinsync_ports::{ChangeSignal, ItemPage, PortError, PortResult, Tracker, WebhookError};

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
}

impl std::fmt::Debug for RedmineTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedmineTracker")
            .field("instance", &self.instance)
            .field("config", &self.config)
            .finish()
    }
}

fn find_id(list: &[IdName], what: &str, name: &str) -> PortResult<u64> {
    list.iter()
        .find(|x| x.name.eq_ignore_ascii_case(name))
        .map(|x| x.id)
        .ok_or_else(|| {
            let names: Vec<&str> = list.iter().map(|x| x.name.as_str()).collect();
            PortError::Rejected(format!(
                "unknown {what} {name:?} (Redmine has: {})",
                names.join(", ")
            ))
        })
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
        let http = outbound::client(
            &ClientOptions::with_timeout(Duration::from_secs(60))
                .ca_file(config.ca_file.as_deref())
                .reach(Reach::for_base_url(&config.base_url)),
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
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> PortResult<(reqwest::StatusCode, String)> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

    async fn json<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> PortResult<T> {
        let (_, text) = self.send(req).await?;
        serde_json::from_str(&text)
            .map_err(|e| PortError::Rejected(format!("unexpected answer from redmine: {e}")))
    }

    async fn lookups(&self) -> PortResult<Lookups> {
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
            Ok(v) => Ok(Some(
                serde_json::from_value(v["issue"].clone())
                    .map_err(|e| PortError::Rejected(e.to_string()))?,
            )),
            Err(PortError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn textile(&self) -> bool {
        self.config.text_formatting.as_deref() == Some("textile")
    }

    /// The domain's Markdown in the server's formatting.
    async fn to_server(&self, markdown: &str) -> PortResult<String> {
        if self.textile() {
            crate::textile::from_markdown(markdown).await
        } else {
            Ok(markdown.to_string())
        }
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
        let mut item = issue.to_item(&self.config.base_url, self.config.origin_field_id, &users);
        if self.textile() {
            item.description = crate::textile::to_markdown(&item.description).await?;
            for c in &mut item.comments {
                c.body = crate::textile::to_markdown(&c.body).await?;
            }
        }
        Ok(Some(item))
    }

    /// `assigned_to_id` and `custom_fields` of a write.
    async fn people_and_custom(
        &self,
        fields: &mut serde_json::Map<String, Value>,
        assignee: Option<Option<&User>>,
        custom: Option<&std::collections::BTreeMap<String, Value>>,
        origin: Option<&str>,
    ) -> PortResult<()> {
        let l = self.lookups().await?;
        match assignee {
            Some(None) => {
                fields.insert("assigned_to_id".into(), json!(""));
            }
            Some(Some(user)) => match find_user(user, &l.users) {
                Some(u) => {
                    fields.insert("assigned_to_id".into(), json!(u.id));
                }
                None => {
                    tracing::warn!(instance = %self.instance, email = %user.email, "no Redmine user with this email or login; the assignee is left as is")
                }
            },
            None => {}
        }
        let mut values = Vec::new();
        if let Some(o) = origin.filter(|o| !o.is_empty()) {
            values.push(json!({ "id": self.config.origin_field_id, "value": o }));
        }
        for (name, value) in custom.into_iter().flatten() {
            match l.custom_fields.iter().find(|f| f.name == *name) {
                Some(f) if f.id != u64::from(self.config.origin_field_id) => {
                    values.push(json!({ "id": f.id, "value": value }));
                }
                Some(_) => {}
                // Another tracker's own field (GitHub's `state_reason`, a milestone): this
                // Redmine cannot hold it, and the rest of the change must not fail for it.
                None => {
                    tracing::warn!(field = %name, "Redmine has no issue custom field of this name; not written");
                }
            }
        }
        if !values.is_empty() {
            fields.insert("custom_fields".into(), Value::Array(values));
        }
        Ok(())
    }

    /// Fields of an update or create in Redmine's terms.
    async fn fields(
        &self,
        summary: Option<&str>,
        description: Option<&str>,
        status: Option<&str>,
        priority: Option<&str>,
    ) -> PortResult<serde_json::Map<String, Value>> {
        let l = self.lookups().await?;
        let mut m = serde_json::Map::new();
        if let Some(s) = summary {
            m.insert("subject".into(), json!(s));
        }
        if let Some(d) = description {
            m.insert("description".into(), json!(self.to_server(d).await?));
        }
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            m.insert(
                "status_id".into(),
                json!(find_id(&l.statuses, "status", s)?),
            );
        }
        if let Some(p) = priority.filter(|p| !p.is_empty()) {
            m.insert(
                "priority_id".into(),
                json!(find_id(&l.priorities, "priority", p)?),
            );
        }
        Ok(m)
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
        let mut fields = self
            .fields(
                Some(&item.summary),
                Some(&item.description),
                item.status_name(),
                item.priority_name(),
            )
            .await?;
        fields.insert("project_id".into(), json!(project));
        let l = self.lookups().await?;
        let tracker = match &self.config.tracker {
            Some(t) => find_id(&l.trackers, "tracker", t)?,
            None => l.trackers.first().map(|t| t.id).unwrap_or(1),
        };
        fields.insert("tracker_id".into(), json!(tracker));
        let custom = (!item.custom_fields.is_empty()).then_some(&item.custom_fields);
        self.people_and_custom(
            &mut fields,
            item.assignee.as_ref().map(Some),
            custom,
            Some(origin),
        )
        .await?;
        let created: Value = self
            .json(
                self.http
                    .post(self.url("/issues.json"))
                    .json(&json!({ "issue": fields })),
            )
            .await?;
        let id = created["issue"]["id"]
            .as_u64()
            .ok_or_else(|| PortError::Rejected("no id in Redmine's answer".into()))?
            .to_string();
        let made = self.full(&id).await?;
        // Redmine starts a new issue in the tracker's default status whatever the create
        // asked for (its workflow only offers the others as transitions): move it there.
        match item.status_name() {
            Some(status) if made.status_name() != Some(status) => {
                self.update_item(
                    &id,
                    &ItemUpdate {
                        status: Some(status.to_string()),
                        ..ItemUpdate::default()
                    },
                )
                .await?;
                self.full(&id).await
            }
            _ => Ok(made),
        }
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
        match page["issues"][0]["id"].as_u64() {
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
        let issues = listing["issues"].as_array().cloned().unwrap_or_default();
        let total = listing["total_count"].as_u64().unwrap_or(0);
        let mut items = Vec::with_capacity(issues.len());
        for issue in &issues {
            let Some(id) = issue["id"].as_u64() else {
                continue;
            };
            // The listing has no journals; the full issue gives the version and comments.
            let Some(item) = self.get_item(&id.to_string()).await? else {
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
