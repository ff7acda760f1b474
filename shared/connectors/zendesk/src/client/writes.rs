//! Creates and updates in Zendesk's words: fields by id, people by id, tags that keep
//! the connector's own, comments through a ticket update, files through upload tokens.
//!
//! Updates carry `safe_update: true` and the `updated_stamp` read just before, so an
//! agent's edit in between is Zendesk's 409 `UpdateConflict` (retried after a fresh
//! read), never overwritten. A closed ticket cannot be updated in Zendesk at all: the
//! change becomes an error on the twin that says so (no follow-up ticket is made).

use super::ZendeskTracker;
use crate::html::{self, Marker};
use crate::mapping::{self, OWN_TAG_PREFIX, TYPE_FIELD};
use serde_json::{Map, Value, json};
use twinsync_connector_kit::outbound::{self, Download};
use twinsync_core::{Attachment, Comment, ItemUpdate};
use twinsync_ports::{PortError, PortResult, SyncMark, SyncState};

/// The tags that show a ticket's sync state.
pub const SYNCED_TAG: &str = "twinsync_synced";
pub const ERROR_TAG: &str = "twinsync_error";

/// The message a change to a closed ticket fails with.
pub fn closed_ticket(key: &str) -> PortError {
    PortError::Rejected(format!(
        "Zendesk ticket {key} is closed, and Zendesk does not let a closed ticket be updated: \
         the change was not applied (reopen it as a follow-up ticket in Zendesk if it matters)"
    ))
}

impl ZendeskTracker {
    /// The ticket fields `update` changes. `current_tags` are kept where they are the
    /// connector's own.
    pub(super) async fn fields(
        &self,
        update: &ItemUpdate,
        current_tags: &[String],
    ) -> PortResult<Map<String, Value>> {
        let mut t = Map::new();
        if let Some(s) = &update.summary {
            t.insert("subject".into(), json!(s));
        }
        if let Some(s) = update.status.as_deref().filter(|s| !s.is_empty()) {
            let s = s.to_ascii_lowercase();
            if !mapping::STATUSES.contains(&s.as_str()) {
                return Err(PortError::Rejected(format!(
                    "{s:?} is not a Zendesk status (new, open, pending, hold, solved, closed)"
                )));
            }
            t.insert("status".into(), json!(s));
        }
        if let Some(p) = &update.priority {
            let p = p.to_ascii_lowercase();
            match p.as_str() {
                "" => t.insert("priority".into(), Value::Null),
                p if mapping::PRIORITIES.contains(&p) => t.insert("priority".into(), json!(p)),
                _ => {
                    return Err(PortError::Rejected(format!(
                        "{p:?} is not a Zendesk priority (low, normal, high, urgent)"
                    )));
                }
            };
        }
        if let Some(labels) = &update.labels {
            let mut tags: Vec<String> = current_tags
                .iter()
                .filter(|t| t.starts_with(OWN_TAG_PREFIX))
                .cloned()
                .collect();
            // Zendesk tags are lower case without spaces.
            for l in labels {
                let tag = l.trim().to_ascii_lowercase().replace(' ', "_");
                if !tag.is_empty() && !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            t.insert("tags".into(), json!(tags));
        }
        if let Some(assignee) = &update.assignee {
            let id = match assignee {
                Some(u) => self.user_id(&u.email).await?,
                None => None,
            };
            t.insert("assignee_id".into(), json!(id));
        }
        if let Some(custom) = &update.custom_fields {
            let mut list = Vec::new();
            let own = self.config.sync_field.as_deref().unwrap_or("");
            for (name, value) in custom {
                if name.eq_ignore_ascii_case(own) {
                    continue;
                }
                if name == TYPE_FIELD {
                    t.insert("type".into(), value.clone());
                } else {
                    list.push(json!({ "id": self.field_id(name).await?, "value": value }));
                }
            }
            if !list.is_empty() {
                t.insert("custom_fields".into(), Value::Array(list));
            }
        }
        Ok(t)
    }

    /// A comment as a ticket update takes it: HTML with the marker, public or not.
    pub(super) fn comment_body(
        &self,
        markdown: &str,
        marker: Option<&Marker>,
        public: bool,
    ) -> Value {
        json!({ "html_body": html::marked_html(markdown, marker), "public": public })
    }

    /// Updates ticket `key` with `ticket` (its fields and perhaps a comment), safely:
    /// `updated_stamp` is the `updated_at` read before.
    pub(super) async fn put_ticket(
        &self,
        key: &str,
        mut ticket: Map<String, Value>,
        stamp: Option<&str>,
    ) -> PortResult<Value> {
        if let Some(stamp) = stamp {
            ticket.insert("safe_update".into(), json!(true));
            ticket.insert("updated_stamp".into(), json!(stamp));
        }
        let answer = self
            .send(
                self.http
                    .put(self.api(&format!("/tickets/{key}.json")))
                    .json(&json!({ "ticket": ticket })),
            )
            .await;
        match answer {
            Err(PortError::Rejected(m)) if m.contains("closed prevents ticket update") => {
                Err(closed_ticket(key))
            }
            other => other,
        }
    }

    /// Adds `body` to `key` as a public reply or an internal note, with the origin marker
    /// that tells sync's copies from people's comments.
    pub(super) async fn post_comment(
        &self,
        key: &str,
        body: &str,
        origin: Option<&str>,
        public: bool,
    ) -> PortResult<Comment> {
        let marker = origin.map(|o| Marker::Origin(o.to_string()));
        let mut comment = self
            .put_comment(key, self.comment_body(body, marker.as_ref(), public))
            .await?;
        comment.body = body.to_string();
        comment.origin = origin.map(str::to_string);
        comment.internal = !public && origin.is_none();
        Ok(comment)
    }

    /// Adds a comment to `key` through a ticket update; the new comment as the audit
    /// of the update names it.
    pub(super) async fn put_comment(&self, key: &str, comment: Value) -> PortResult<Comment> {
        let mut t = Map::new();
        t.insert("comment".into(), comment);
        let answer = self.put_ticket(key, t, None).await?;
        let event = answer["audit"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["type"] == "Comment")
            .cloned()
            .ok_or_else(|| PortError::Rejected("Zendesk's answer names no new comment".into()))?;
        Ok(Comment {
            id: event["id"]
                .as_u64()
                .map(|i| i.to_string())
                .unwrap_or_default(),
            created_ms: mapping::millis(answer["audit"]["created_at"].as_str().unwrap_or("")),
            ..Comment::default()
        })
    }

    /// Copies `attachment` onto ticket `key`: downloaded with a byte cap (this
    /// instance's credentials only for its own origin), uploaded for a token, and
    /// attached with an internal note that says what it is.
    pub(super) async fn upload(
        &self,
        key: &str,
        attachment: &Attachment,
    ) -> PortResult<Attachment> {
        let max = self.config.attachment_max_bytes;
        if attachment.size > max {
            return Err(PortError::Rejected(format!(
                "attachment {:?} is {} bytes, over this Zendesk's limit of {max} bytes: it was not uploaded",
                attachment.filename, attachment.size
            )));
        }
        let bytes = outbound::download(
            &self.http,
            &Download {
                url: &attachment.url,
                filename: &attachment.filename,
                base_url: &self.config.base_url,
                authorization: Some(&self.authorization),
                max_bytes: max,
            },
        )
        .await?;
        let mime = if attachment.mime_type.is_empty() {
            "application/octet-stream"
        } else {
            attachment.mime_type.as_str()
        };
        let uploaded = self
            .send(
                self.http
                    .post(self.api("/uploads.json"))
                    .query(&[("filename", attachment.filename.as_str())])
                    .header("content-type", mime)
                    .body(bytes),
            )
            .await?;
        let token = uploaded["upload"]["token"]
            .as_str()
            .ok_or_else(|| PortError::Rejected("Zendesk gave no upload token".into()))?;
        let mut note = self.comment_body(
            &format!("Attachment {} from the twin.", attachment.filename),
            Some(&Marker::Attachment),
            false,
        );
        note["uploads"] = json!([token]);
        self.put_comment(key, note).await?;
        Ok(Attachment {
            remote_id: Some(
                attachment
                    .remote_id
                    .clone()
                    .unwrap_or_else(|| attachment.id.clone()),
            ),
            ..mapping::attachment(&uploaded["upload"]["attachment"])
        })
    }

    /// Shows `mark` on ticket `key`: the state as a tag, and the state with the twin's
    /// link or the reason in the sync field when one is set. One safe update; a race
    /// with an agent is read again and retried.
    pub(super) async fn mark(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        let text = mark_text(mark);
        if self.shown.already(key, &text) {
            return Ok(());
        }
        let field = match &self.config.sync_field {
            Some(title) => Some(self.field_id(title).await?),
            None => None,
        };
        let mut tries = 0;
        loop {
            let ticket = self
                .ticket(key)
                .await?
                .ok_or_else(|| PortError::NotFound(format!("Zendesk ticket {key}")))?;
            if ticket["status"] == "closed" {
                return Err(closed_ticket(key));
            }
            let mut tags: Vec<String> = ticket["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str())
                .filter(|t| *t != SYNCED_TAG && *t != ERROR_TAG)
                .map(str::to_string)
                .collect();
            match mark.state {
                SyncState::Synced => tags.push(SYNCED_TAG.into()),
                SyncState::Error(_) => tags.push(ERROR_TAG.into()),
                SyncState::Syncing | SyncState::Unlinked => {}
            }
            let mut t = Map::new();
            t.insert("tags".into(), json!(tags));
            if let Some(id) = field {
                // Text fields hold at most a line of sense: the reason is cut short.
                let text: String = text.chars().take(250).collect();
                t.insert("custom_fields".into(), json!([{ "id": id, "value": text }]));
            }
            match self.put_ticket(key, t, ticket["updated_at"].as_str()).await {
                Err(PortError::Conflict(_)) if tries < 3 => tries += 1,
                Ok(_) => {
                    self.shown.record(key, text);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The sync field's text for `mark`: the state with the twin's link, or the reason.
pub fn mark_text(mark: &SyncMark) -> String {
    let twin = mark
        .twin_url
        .as_deref()
        .or(mark.twin_key.as_deref())
        .unwrap_or("");
    match &mark.state {
        SyncState::Synced => format!("synced: {twin}"),
        SyncState::Error(reason) => format!("error: {reason}"),
        SyncState::Syncing => "syncing".to_string(),
        SyncState::Unlinked => "unlinked".to_string(),
    }
}

impl ZendeskTracker {
    /// Zendesk cannot delete a comment; it can redact it. The whole plain text is redacted
    /// (`PUT /tickets/{id}/comments/{id}/redact`, see
    /// <https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#redact-string-in-comment>),
    /// which the connector then reads as a removed comment.
    pub(super) async fn redact_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        let comments = self
            .list_all(&format!("/tickets/{key}/comments.json"), &[], "comments")
            .await?;
        let Some(text) = comments
            .iter()
            .find(|c| c["id"].as_u64().map(|i| i.to_string()).as_deref() == Some(comment_id))
            .and_then(|c| c["body"].as_str())
            .map(str::trim)
            .filter(|t| !mapping::is_redacted(t))
        else {
            // Gone or redacted already: what was asked has happened.
            return Ok(());
        };
        self.send(
            self.http
                .put(self.api(&format!("/tickets/{key}/comments/{comment_id}/redact.json")))
                .json(&json!({ "text": text })),
        )
        .await?;
        Ok(())
    }
}
