//! The `Tracker` implementation over the REST client.

use super::writes::closed_ticket;
use super::{Budget, ZendeskTracker};
use crate::html::Marker;
use crate::mapping::{self, ORIGIN_TAG};
use crate::webhook;
use async_trait::async_trait;
use serde_json::{Map, Value, json};
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_connector_kit::now_ms;
use twinsync_core::trigger::Filter;
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};
use twinsync_ports::{
    ChangeSignal, ItemPage, PortError, PortResult, SyncMark, Tracker, WebhookError,
};

/// The incremental export returns nothing newer than a minute back reliably; a poll
/// starts at least this far back and drops what it already saw.
const EXPORT_LAG_S: i64 = 60;

impl ZendeskTracker {
    /// The ticket `key` with its users and groups sideloaded; `None` when it is gone.
    pub(super) async fn ticket(&self, key: &str) -> PortResult<Option<Value>> {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_digit()) {
            return Err(PortError::Rejected(format!(
                "{key:?} is not a Zendesk ticket id"
            )));
        }
        match self
            .send(
                self.http
                    .get(self.api(&format!("/tickets/{key}.json")))
                    .query(&[("include", "users,groups")]),
            )
            .await
        {
            Ok(v) => {
                let id = v["ticket"]["id"].as_u64().map(|i| i.to_string());
                twinsync_connector_kit::http::same_item("Zendesk", key, id)?;
                self.learn(&v).await;
                Ok(Some(v["ticket"].clone()))
            }
            Err(PortError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The sync field is the connector's own: it is not a field to sync.
    fn without_sync_field(&self, mut item: Item) -> Item {
        if let Some(title) = &self.config.sync_field {
            item.custom_fields
                .retain(|name, _| !name.eq_ignore_ascii_case(title));
        }
        item
    }

    fn project_or_default<'a>(&'a self, project: &'a str) -> &'a str {
        if project.trim().is_empty() {
            self.config.group.as_str()
        } else {
            project
        }
    }
}

#[async_trait]
impl Tracker for ZendeskTracker {
    fn kind(&self) -> twinsync_core::ConnectorKind {
        twinsync_core::ConnectorKind::Zendesk
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn url(&self) -> &str {
        &self.config.base_url
    }

    fn calls(&self) -> u64 {
        self.gate.calls() + self.export_gate.calls()
    }

    /// A twin's project is a group, by name (`GET /api/v2/groups.json`).
    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        Ok(Some(self.group_id(project).await?.is_some()))
    }

    /// The sync field, when one is set, is a ticket field of this instance.
    async fn check_setup(&self) -> PortResult<()> {
        match &self.config.sync_field {
            Some(title) => self.field_id(title).await.map(|_| ()),
            None => Ok(()),
        }
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        let Some(ticket) = self.ticket(key).await? else {
            return Ok(None);
        };
        let listed = self
            .list_all(
                &format!("/tickets/{key}/comments.json"),
                &[("include", "users")],
                "comments",
            )
            .await;
        let Some(comments) = twinsync_ports::gone_is_none(listed)? else {
            return Ok(None);
        };
        let dir = self.directory().await?;
        let item = mapping::to_item(&self.config.base_url, &ticket, &comments, &dir);
        Ok(Some(self.without_sync_field(item)))
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        let project = self.project_or_default(project).to_string();
        let mut t = self
            .fields(
                &ItemUpdate {
                    summary: Some(item.summary.clone()),
                    labels: Some(item.labels.clone()),
                    priority: item.priority_name().map(str::to_string),
                    assignee: item.assignee.clone().map(Some),
                    custom_fields: Some(item.custom_fields.clone()),
                    ..ItemUpdate::default()
                },
                &[],
            )
            .await?;
        if !project.is_empty() {
            let group = self.group_id(&project).await?.ok_or_else(|| {
                PortError::Rejected(format!("Zendesk has no group named {project:?}"))
            })?;
            t.insert("group_id".into(), json!(group));
        }
        if let Some(email) = item.reporter.as_ref().map(|u| u.email.as_str())
            && let Some(id) = self.user_id(email).await?
        {
            t.insert("requester_id".into(), json!(id));
        }
        // A ticket cannot be made closed; solved is the nearest.
        if let Some(s) = item.status_name().map(str::to_ascii_lowercase)
            && mapping::STATUSES.contains(&s.as_str())
        {
            let s = if s == "closed" { "solved".into() } else { s };
            t.insert("status".into(), json!(s));
        }
        // The origin marker and its tag are written with the ticket, so no crash can
        // leave it unmarked.
        let mut tags: Vec<Value> = t
            .get("tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        tags.insert(0, json!(ORIGIN_TAG));
        t.insert("tags".into(), Value::Array(tags));
        t.insert("external_id".into(), json!(origin));
        // The description is the first comment; an empty one is a bare description marker.
        let (text, marker) = if item.description.trim().is_empty() {
            ("", Some(Marker::Description))
        } else {
            (item.description.as_str(), None)
        };
        t.insert(
            "comment".into(),
            self.comment_body(text, marker.as_ref(), self.config.public_replies),
        );
        let created = self
            .send(
                self.http
                    .post(self.api("/tickets.json"))
                    .json(&json!({ "ticket": t })),
            )
            .await?;
        let key = answer::id_in("Zendesk", &created["ticket"], "id", IdKind::Number)?;
        Ok(Item {
            url: self.ticket_url(&key),
            key,
            project,
            origin: Some(origin.to_string()),
            ..item.clone()
        })
    }

    /// A create is one POST after reads; a 429 or the gate refused it whole.
    fn create_refused_whole(&self, error: &PortError) -> bool {
        error.refused_whole()
    }

    /// One safe update with the fields; a new description is an internal note (the
    /// first comment cannot be edited).
    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        let ticket = self
            .ticket(key)
            .await?
            .ok_or_else(|| PortError::NotFound(format!("Zendesk ticket {key}")))?;
        if ticket["status"] == "closed" {
            return Err(closed_ticket(key));
        }
        let tags: Vec<String> = ticket["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        let mut t: Map<String, Value> = self.fields(update, &tags).await?;
        // A description that reads the same (Markdown written another way) makes no note.
        if let Some(d) = &update.description {
            let comments = self
                .list_all(&format!("/tickets/{key}/comments.json"), &[], "comments")
                .await?;
            let current = mapping::description(&ticket, &comments);
            if crate::html::to_html(&current) != crate::html::to_html(d) {
                t.insert(
                    "comment".into(),
                    self.comment_body(d, Some(&Marker::Description), false),
                );
            }
        }
        if !t.is_empty() {
            self.put_ticket(key, t, ticket["updated_at"].as_str())
                .await?;
        }
        Ok(Item {
            key: key.to_string(),
            url: self.ticket_url(key),
            ..Item::default()
        })
    }

    /// A reply: public when the connector makes public replies, an internal note if not.
    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        _author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.post_comment(key, body, origin, self.config.public_replies)
            .await
    }

    /// An internal note: agents see it, the requester does not.
    async fn add_internal_comment(
        &self,
        key: &str,
        body: &str,
        _author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.post_comment(key, body, origin, false).await
    }

    /// Zendesk comments cannot be edited: the edit arrives as an internal note that
    /// quotes the new text and names the comment it changes.
    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        let quoted: String = body.lines().map(|l| format!("> {l}\n")).collect();
        let note = format!("Comment {comment_id} was edited on the twin:\n\n{quoted}");
        self.put_comment(
            key,
            self.comment_body(&note, Some(&Marker::Edit(comment_id.to_string())), false),
        )
        .await?;
        Ok(())
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        self.upload(key, attachment).await
    }

    async fn delete_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        self.redact_comment(key, comment_id).await
    }

    /// `DELETE /tickets/{id}`: a soft delete, which an agent can undo for 30 days.
    async fn delete_item(&self, key: &str) -> PortResult<()> {
        if self.ticket(key).await?.is_none() {
            return Ok(());
        }
        let answer = self
            .send(self.http.delete(self.api(&format!("/tickets/{key}.json"))))
            .await;
        twinsync_ports::gone_is_done(answer)
    }

    /// Tickets by `external_id` (`GET /api/v2/tickets.json?external_id=`, see
    /// <https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#list-tickets>),
    /// kept only with the connector's tag: another integration may use the id too.
    async fn find_by_origin(&self, _project: &str, origin: &str) -> PortResult<Option<Item>> {
        let found = self
            .send(
                self.http
                    .get(self.api("/tickets.json"))
                    .query(&[("external_id", origin)]),
            )
            .await?;
        // An answer that is no listing is no "not found": a second ticket would follow.
        let ours = answer::listing("Zendesk", &found, "tickets")?
            .iter()
            .find(|t| {
                t["external_id"].as_str() == Some(origin)
                    && t["tags"]
                        .as_array()
                        .is_some_and(|tags| tags.iter().any(|x| x == ORIGIN_TAG))
            });
        match ours {
            Some(t) => {
                let id = answer::id_in("Zendesk", t, "id", IdKind::Number)?;
                self.get_item(&id).await
            }
            None => Ok(None),
        }
    }

    /// The incremental cursor export (`start_time`, then `cursor` until
    /// `end_of_stream`): every ticket changed since the start of the cursor's second,
    /// each checked against the trigger's filter (tags are labels).
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
        let mut params = vec![
            ("include", "users,groups".to_string()),
            ("per_page", self.config.export_per_page.to_string()),
        ];
        match page {
            Some(cursor) => params.push(("cursor", cursor)),
            None => {
                let start = (since_ms.max(0) / 1000)
                    .min(now_ms() / 1000 - EXPORT_LAG_S)
                    .max(0);
                params.push(("start_time", start.to_string()));
            }
        }
        let found = self
            .send_on(
                Budget::Export,
                self.http
                    .get(self.api("/incremental/tickets/cursor.json"))
                    .query(&params),
            )
            .await?;
        self.learn(&found).await;
        let dir = self.directory().await?;
        let since_s = since_ms.max(0) / 1000 * 1000;
        let items = answer::entries("Zendesk", &found, "tickets", "id", IdKind::Number)?
            .iter()
            .filter(|t| t["status"] != "deleted")
            .map(|t| mapping::to_item(&self.config.base_url, t, &[], &dir))
            .map(|i| self.without_sync_field(i))
            .filter(|i| i.updated_ms >= since_s)
            .filter(|i| filter.as_ref().is_none_or(|f| f.matches(i)))
            .collect();
        let next = match found["end_of_stream"].as_bool() {
            Some(false) => found["after_cursor"].as_str().map(str::to_string),
            _ => None,
        };
        Ok(ItemPage { items, next })
    }

    /// A node's start registers: a rate limit then is waited out a few times rather
    /// than failing the start.
    async fn register_webhook(&self, url: &str) -> PortResult<bool> {
        let mut tries = 0;
        loop {
            match self.subscribe(url).await {
                Ok(()) => return Ok(true),
                Err(PortError::RateLimited { retry_after_ms, .. }) if tries < 5 => {
                    tries += 1;
                    let wait = retry_after_ms.min(10_000);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Tags `twinsync_synced` / `twinsync_error`, and the sync field with the twin's
    /// link or the reason when one is configured.
    async fn show_sync(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        self.mark(key, mark).await
    }

    fn throttled_ms(&self) -> u64 {
        self.gate.throttled_ms() + self.export_gate.throttled_ms()
    }

    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        webhook::verify(&self.secret(), headers, body, now_ms)
    }
}
