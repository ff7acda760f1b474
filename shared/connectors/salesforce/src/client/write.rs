//! Writes in Salesforce's words: picklist values as describe lists them (a name outside
//! the picklist is refused), the owner by the User's email, the reporter as the Case's web
//! email, updates with `If-Unmodified-Since` (a Case edited since it was read answers 412,
//! which becomes a conflict, so the change is merged again rather than overwritten), and
//! CaseComments with their marker.

use super::{SalesforceTracker, check_id};
use crate::mapping;
use serde_json::{Map, Value, json};
use twinsync_core::{Comment, Item, ItemUpdate};
use twinsync_ports::{PortError, PortResult};

/// CaseComment.CommentBody holds 4,000 characters.
const COMMENT_MAX: usize = 4_000;

/// The External ID text field of the setup holds 255 characters.
const ORIGIN_MAX: usize = 255;

fn http_date(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    httpdate::fmt_http_date(t)
}

impl SalesforceTracker {
    /// The body of a create or an update for `update`.
    pub(super) async fn fields(&self, update: &ItemUpdate) -> PortResult<Map<String, Value>> {
        let describe = self.describe().await?;
        let cx = mapping::WriteContext {
            describe: &describe,
            labels_field: self.config.labels_field.as_deref(),
            custom_fields: &self.config.custom_fields,
        };
        let mut body = mapping::write_body(&cx, update)?;
        // A Case always has an owner: an unassigned twin leaves it as it is.
        if let Some(Some(user)) = &update.assignee
            && let Some(id) = self.user_id(&user.email).await?
        {
            body.insert("OwnerId".into(), json!(id));
        }
        Ok(body)
    }

    /// Creates a Case stamped with `origin` in the External ID field, in one request, so no
    /// crash can leave it unmarked; `shown` are the status and link fields' values, when
    /// the node gives the sync status with the create.
    pub(super) async fn create(
        &self,
        project: &str,
        item: &Item,
        origin: &str,
        shown: Option<(String, String)>,
    ) -> PortResult<Item> {
        if origin.chars().count() > ORIGIN_MAX {
            return Err(PortError::Rejected(format!(
                "the origin marker {origin:?} is longer than {} ({ORIGIN_MAX} characters)",
                self.config.origin_field
            )));
        }
        let mut body = self
            .fields(&ItemUpdate {
                summary: Some(item.summary.clone()),
                description: Some(item.description.clone()),
                status: item.status_name().map(str::to_string),
                priority: item.priority_name().map(str::to_string),
                labels: Some(item.labels.clone()),
                assignee: item.assignee.clone().map(Some),
                custom_fields: Some(item.custom_fields.clone()),
            })
            .await?;
        let record_type = match project {
            "" | mapping::NO_RECORD_TYPE => self.config.record_type.clone(),
            p => Some(p.to_string()),
        };
        if let Some(name) = &record_type {
            let id = self.record_type_id(name).await?.ok_or_else(|| {
                PortError::Rejected(format!(
                    "this Salesforce org has no active Case record type {name}"
                ))
            })?;
            body.insert("RecordTypeId".into(), json!(id));
        }
        if let Some(reporter) = item.reporter.as_ref().filter(|r| !r.email.is_empty()) {
            body.insert("SuppliedEmail".into(), json!(reporter.email));
            body.insert("SuppliedName".into(), json!(reporter.display_name));
        }
        body.insert(self.config.origin_field.clone(), json!(origin));
        if let Some((status, link)) = shown {
            body.insert(self.config.status_field.clone(), json!(status));
            body.insert(self.config.link_field.clone(), json!(link));
        }
        let path = self.sobject_path("Case", None);
        let created = self
            .send(&path, |url| self.http.post(url).json(&body))
            .await?;
        let id = created["id"].as_str().unwrap_or("").to_string();
        if id.is_empty() {
            return Err(PortError::Rejected(
                "Salesforce created a Case without an Id".into(),
            ));
        }
        // The Case exists from here on: a wait is no refusal of the create.
        let after_create = twinsync_connector_kit::after_create;
        self.refresh_seen(&id).await.map_err(after_create)?;
        Ok(Item {
            url: mapping::case_url(&self.instance_url().await.map_err(after_create)?, &id),
            key: id,
            project: record_type.unwrap_or_else(|| mapping::NO_RECORD_TYPE.into()),
            origin: Some(origin.to_string()),
            ..item.clone()
        })
    }

    /// PATCHes fields of the Case `key`, on the condition that it is unchanged since it was
    /// last read (when it was).
    pub(super) async fn patch_case(
        &self,
        key: &str,
        body: &Map<String, Value>,
        guarded: bool,
    ) -> PortResult<()> {
        let id = check_id(key)?;
        let since = if guarded {
            self.seen.lock().await.get(id).copied()
        } else {
            None
        };
        let path = self.sobject_path("Case", Some(id));
        self.send(&path, |url| {
            let req = self.http.patch(url).json(body);
            match since {
                Some(ms) => req.header("if-unmodified-since", http_date(ms)),
                None => req,
            }
        })
        .await?;
        self.refresh_seen(id).await
    }

    /// Remembers the Case's `LastModifiedDate` after a write of our own.
    async fn refresh_seen(&self, id: &str) -> PortResult<()> {
        let path = self.sobject_path("Case", Some(id));
        let found = self
            .send(&path, |url| {
                self.http.get(url).query(&[("fields", "LastModifiedDate")])
            })
            .await?;
        let ms = crate::soql::millis(&mapping::field(&found, "LastModifiedDate"));
        if ms > 0 {
            self.seen.lock().await.insert(id.to_string(), ms);
        }
        Ok(())
    }

    /// Adds a CaseComment, published (public) or not (private).
    pub(super) async fn comment(
        &self,
        key: &str,
        body: &str,
        origin: Option<&str>,
        published: bool,
    ) -> PortResult<Comment> {
        let id = check_id(key)?;
        let text = mapping::with_marker(body, origin);
        if text.chars().count() > COMMENT_MAX {
            return Err(PortError::Rejected(format!(
                "the comment is longer than a CaseComment holds ({COMMENT_MAX} characters)"
            )));
        }
        let row = json!({ "ParentId": id, "CommentBody": text, "IsPublished": published });
        let path = self.sobject_path("CaseComment", None);
        let created = self
            .send(&path, |url| self.http.post(url).json(&row))
            .await?;
        Ok(Comment {
            id: created["id"].as_str().unwrap_or("").to_string(),
            body: body.to_string(),
            created_ms: twinsync_connector_kit::now_ms(),
            origin: origin.map(str::to_string),
            internal: !published,
            ..Comment::default()
        })
    }

    /// Edits a CaseComment, keeping its origin marker.
    pub(super) async fn edit_comment(&self, comment_id: &str, body: &str) -> PortResult<()> {
        let id = check_id(comment_id)?;
        let path = self.sobject_path("CaseComment", Some(id));
        let current = self
            .send(&path, |url| {
                self.http.get(url).query(&[("fields", "CommentBody")])
            })
            .await?;
        let (_, origin) = mapping::split_marker(&mapping::field(&current, "CommentBody"));
        let row = json!({ "CommentBody": mapping::with_marker(body, origin.as_deref()) });
        self.send(&path, |url| self.http.patch(url).json(&row))
            .await?;
        Ok(())
    }

    /// Deletes a Case or a CaseComment (`DELETE /sobjects/{object}/{id}`; a Case goes to
    /// the Recycle Bin); one already gone is no error.
    pub(super) async fn delete_record(&self, object: &str, id: &str) -> PortResult<()> {
        let path = self.sobject_path(object, Some(check_id(id)?));
        twinsync_ports::gone_is_done(self.send(&path, |url| self.http.delete(url)).await)
    }
}
