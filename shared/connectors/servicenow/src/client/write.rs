//! Writes in ServiceNow's words: states and priorities as codes (priority through
//! impact and urgency, from which ServiceNow computes it), people by `sys_user` sys_id
//! found by email, groups by name, the close code and notes a resolve needs, and journal
//! entries written by updating the record's `comments` or `work_notes`.

use super::ServiceNowTracker;
use crate::mapping::{
    self, KNOWN_CUSTOM, impact_urgency, is_resolution, split_marker, with_marker,
};
use serde_json::{Map, Value, json};
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_core::{Comment, Item, ItemUpdate};
use twinsync_ports::{PortError, PortResult};

/// The length of `correlation_id` in the task table's dictionary.
const CORRELATION_ID_MAX: usize = 100;

/// The hold reason an On Hold state gets when the rules give none ("Awaiting Caller").
const DEFAULT_HOLD_REASON: &str = "1";

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl ServiceNowTracker {
    /// The body of a create or an edit for `update`.
    pub(super) async fn fields(&self, update: &ItemUpdate) -> PortResult<Value> {
        let mut body = Map::new();
        if let Some(s) = &update.summary {
            body.insert("short_description".into(), json!(s));
        }
        if let Some(d) = &update.description {
            body.insert("description".into(), json!(d));
        }
        if let Some(custom) = &update.custom_fields {
            for (name, value) in custom {
                if name == "assignment_group" {
                    let group = match text(value).as_str() {
                        "" => Some(String::new()),
                        g => self.group_id(g).await?,
                    };
                    if let Some(id) = group {
                        body.insert(name.clone(), json!(id));
                    }
                } else if KNOWN_CUSTOM.contains(&name.as_str())
                    || name == "hold_reason"
                    || self.config.custom_fields.contains(name)
                {
                    body.insert(name.clone(), json!(text(value)));
                }
            }
        }
        if let Some(status) = update.status.as_deref().filter(|s| !s.is_empty()) {
            let states = self.choices("state").await?;
            let code = states.code(status).ok_or_else(|| {
                PortError::Rejected(format!(
                    "ServiceNow {} has no state {status:?}; its states are {}",
                    self.config.table,
                    states.labels().join(", ")
                ))
            })?;
            body.insert("state".into(), json!(code));
            // The data policy makes both mandatory for a resolved or closed record.
            if is_resolution(status) {
                body.entry("close_code")
                    .or_insert_with(|| json!(self.config.close_code));
                body.entry("close_notes")
                    .or_insert_with(|| json!(self.config.close_notes));
            }
            if status.eq_ignore_ascii_case("on hold") {
                body.entry("hold_reason")
                    .or_insert_with(|| json!(DEFAULT_HOLD_REASON));
            }
        }
        if let Some(priority) = update.priority.as_deref().filter(|p| !p.is_empty()) {
            let priorities = self.choices("priority").await?;
            let (impact, urgency) = priorities
                .code(priority)
                .and_then(impact_urgency)
                .ok_or_else(|| {
                    PortError::Rejected(format!(
                        "ServiceNow has no priority {priority:?}; its priorities are {}",
                        priorities.labels().join(", ")
                    ))
                })?;
            body.insert("impact".into(), json!(impact));
            body.insert("urgency".into(), json!(urgency));
        }
        if let Some(assignee) = &update.assignee {
            let id = match assignee {
                Some(user) => self.user_id(&user.email).await?.unwrap_or_default(),
                None => String::new(),
            };
            body.insert("assigned_to".into(), json!(id));
        }
        Ok(Value::Object(body))
    }

    /// Inserts a record stamped with `origin` in `correlation_id`, in one request, so no
    /// crash can leave it unmarked.
    /// Creates a record stamped with `origin`, its `correlation_display` saying
    /// `display` (the sync status, when the node gives it with the create).
    pub(super) async fn create(
        &self,
        project: &str,
        item: &Item,
        origin: &str,
        display: &str,
    ) -> PortResult<Item> {
        if !(project.is_empty() || project == self.config.table) {
            return Err(PortError::Rejected(format!(
                "this ServiceNow instance writes to {}, not {project}",
                self.config.table
            )));
        }
        let mut body = self
            .fields(&ItemUpdate {
                summary: Some(item.summary.clone()),
                description: Some(item.description.clone()),
                status: item.status_name().map(str::to_string),
                priority: item.priority_name().map(str::to_string),
                assignee: item.assignee.clone().map(Some),
                custom_fields: Some(item.custom_fields.clone()),
                ..ItemUpdate::default()
            })
            .await?;
        if let Some(reporter) = &item.reporter
            && let Some(id) = self.user_id(&reporter.email).await?
        {
            body["caller_id"] = json!(id);
        }
        // ServiceNow cuts `correlation_id` at 100 characters, and a cut marker would
        // not find the twin again.
        if origin.chars().count() > CORRELATION_ID_MAX {
            return Err(PortError::Rejected(format!(
                "the origin marker {origin:?} is longer than ServiceNow's correlation_id ({CORRELATION_ID_MAX} characters)"
            )));
        }
        body["correlation_id"] = json!(crate::query::value(origin)?);
        body["correlation_display"] = json!(display);
        let url = self.table_url(&self.config.table, None);
        let created = self
            .send(|| {
                self.http
                    .post(&url)
                    .query(&[("sysparm_fields", "sys_id,number")])
                    .json(&body)
            })
            .await?;
        let record = &created.body["result"];
        // Later writes go by sys_id: a record without one (or its number) is refused.
        let key = answer::id_in("ServiceNow", record, "number", IdKind::Text)?;
        let sys_id = answer::id_in("ServiceNow", record, "sys_id", IdKind::Text)?;
        self.remember(&key, &sys_id).await;
        Ok(Item {
            url: format!(
                "{}/{}.do?sys_id={sys_id}",
                self.config.base_url, self.config.table
            ),
            key,
            project: self.config.table.clone(),
            origin: Some(origin.to_string()),
            ..item.clone()
        })
    }

    /// Adds a journal entry to `element` (`comments` or `work_notes`) by updating the
    /// record, then finds the entry it made for its id.
    pub(super) async fn journal(
        &self,
        key: &str,
        element: &str,
        body: &str,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        let value = with_marker(body, origin);
        self.patch(key, &json!({ element: value })).await?;
        let sys_id = self.sys_id(key).await?.unwrap_or_default();
        let encoded = format!(
            "element_id={}^element={element}^ORDERBYDESCsys_created_on",
            crate::query::value(&sys_id)?
        );
        let recent = self
            .list(
                "sys_journal_field",
                &encoded,
                "sys_id,element,value,sys_created_by,sys_created_on",
                20,
                "0",
            )
            .await?;
        let entry = recent.body["result"]
            .as_array()
            .and_then(|list| {
                list.iter()
                    .find(|e| mapping::field(e, "value").trim_end() == value.trim_end())
            })
            .ok_or_else(|| {
                PortError::Rejected(format!(
                    "ServiceNow took the {element} entry on {key} but does not list it"
                ))
            })?;
        let mut comment = mapping::comment(entry, &Default::default());
        comment.body = body.to_string();
        comment.origin = origin.map(str::to_string);
        Ok(comment)
    }

    /// Edits a journal entry in `sys_journal_field` (an admin's right), keeping its
    /// origin marker.
    pub(super) async fn edit_journal(&self, key: &str, entry: &str, body: &str) -> PortResult<()> {
        let url = self.table_url("sys_journal_field", Some(entry));
        let current = self
            .send(|| {
                self.http
                    .get(&url)
                    .query(&[("sysparm_fields", "value,element_id")])
            })
            .await?;
        let (_, origin) = split_marker(&mapping::field(&current.body["result"], "value"));
        let value = with_marker(body, origin.as_deref());
        self.send(|| self.http.patch(&url).json(&json!({ "value": value })))
            .await
            .map_err(|e| match e {
                PortError::Rejected(m) => {
                    PortError::Rejected(format!("editing a journal entry of {key}: {m}"))
                }
                other => other,
            })?;
        Ok(())
    }

    /// Deletes the record `key` (`DELETE /api/now/table/{table}/{sys_id}`); one already gone
    /// is no error.
    pub(super) async fn delete_record(&self, key: &str) -> PortResult<()> {
        let Some(sys_id) = self.sys_id(key).await? else {
            return Ok(());
        };
        let url = self.table_url(&self.config.table, Some(&sys_id));
        twinsync_ports::gone_is_done(self.send(|| self.http.delete(&url)).await)
    }

    /// Deletes a journal entry (`sys_journal_field`). Instances often keep that table to
    /// admins: a refusal leaves the policy to mark the entry instead.
    pub(super) async fn delete_journal(&self, key: &str, entry: &str) -> PortResult<()> {
        let url = self.table_url("sys_journal_field", Some(entry));
        twinsync_ports::gone_is_done(self.send(|| self.http.delete(&url)).await).map_err(
            |e| match e {
                PortError::Rejected(m) => {
                    PortError::Rejected(format!("deleting a journal entry of {key}: {m}"))
                }
                other => other,
            },
        )
    }
}
