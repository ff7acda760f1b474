//! Reads: a record by number with its journal (`sys_journal_field`) and attachments, the
//! choice labels of `state` and `priority` (`sys_choice`), and people (`sys_user`).

use super::ServiceNowTracker;
use crate::mapping::{self, COMMENTS, Choices, Context, FIELDS, WORK_NOTES};
use crate::query;
use serde_json::Value;
use std::collections::BTreeMap;
use twinsync_connector_kit::http;
use twinsync_core::{Attachment, Comment, Item, User};
use twinsync_ports::{PortError, PortResult};

/// Journal entries per page.
const JOURNAL_PAGE: u32 = 100;

/// Refuses an answer that asking again would not change: not retryable.
fn unexpected(what: &str) -> PortError {
    PortError::Rejected(format!("unexpected answer from ServiceNow: {what}"))
}

impl ServiceNowTracker {
    /// `sysparm_fields` of a record read: the mapped fields and the config's custom ones.
    pub(super) fn fields_param(&self) -> String {
        let mut fields: Vec<&str> = FIELDS.to_vec();
        fields.extend(self.config.custom_fields.iter().map(String::as_str));
        fields.join(",")
    }

    /// The record numbered `key`, in full; `None` when there is none.
    pub(super) async fn read_item(&self, key: &str) -> PortResult<Option<Item>> {
        let encoded = format!("number={}", query::value(key)?);
        let found = self
            .list(&self.config.table, &encoded, &self.fields_param(), 1, "0")
            .await?;
        // Only a listing says the record is gone: `{}` or an empty body is no answer.
        let Some(listed) = found.body["result"].as_array() else {
            return Err(unexpected(&format!("no result list for {key}")));
        };
        let Some(record) = listed.first().cloned() else {
            return Ok(None);
        };
        let number = Some(mapping::field(&record, "number")).filter(|n| !n.is_empty());
        http::same_item("ServiceNow", key, number)?;
        // The journal and files are found by sys_id: without one they would read as none.
        let sys_id = record["sys_id"].as_str().filter(|s| !s.is_empty());
        let Some(sys_id) = sys_id.map(str::to_string) else {
            return Err(unexpected(&format!("{key} without a sys_id")));
        };
        self.remember(key, &sys_id).await;
        let comments = self.journal_entries(&sys_id).await?;
        let attachments = self.attachments_of(&sys_id).await?;
        self.item_of(&record, comments, attachments).await.map(Some)
    }

    /// A record read as an item, with its choice labels.
    pub(super) async fn item_of(
        &self,
        record: &Value,
        comments: Vec<Comment>,
        attachments: Vec<Attachment>,
    ) -> PortResult<Item> {
        let states = self.choices("state").await?;
        let priorities = self.choices("priority").await?;
        self.remember(
            &mapping::field(record, "number"),
            &mapping::field(record, "sys_id"),
        )
        .await;
        let cx = Context {
            base_url: &self.config.base_url,
            table: &self.config.table,
            states: &states,
            priorities: &priorities,
            custom_fields: &self.config.custom_fields,
        };
        Ok(mapping::to_item(&cx, record, comments, attachments))
    }

    /// The choices of `element` on this table, read once. ServiceNow keeps a table's
    /// own choices under its name and inherited ones under `task`.
    pub(super) async fn choices(&self, element: &str) -> PortResult<Choices> {
        if let Some(c) = self.choices.lock().await.get(element) {
            return Ok(c.clone());
        }
        let mut rows = Vec::new();
        for table in [self.config.table.as_str(), "task"] {
            let encoded = format!("name={table}^element={element}^inactive=false^ORDERBYsequence");
            let found = self
                .list("sys_choice", &encoded, "value,label", 200, "0")
                .await?;
            rows = found.body["result"].as_array().cloned().unwrap_or_default();
            if !rows.is_empty() {
                break;
            }
        }
        let choices = Choices::from_rows(&rows);
        self.choices
            .lock()
            .await
            .insert(element.to_string(), choices.clone());
        Ok(choices)
    }

    /// The record's comments and work notes, oldest first, each with its own id, author
    /// and time.
    async fn journal_entries(&self, sys_id: &str) -> PortResult<Vec<Comment>> {
        let encoded = format!(
            "element_id={}^elementIN{COMMENTS},{WORK_NOTES}^ORDERBYsys_created_on",
            query::value(sys_id)?
        );
        let mut rows: Vec<Value> = Vec::new();
        let mut offset = "0".to_string();
        loop {
            let page = self
                .list(
                    "sys_journal_field",
                    &encoded,
                    "sys_id,element,element_id,value,sys_created_by,sys_created_on",
                    JOURNAL_PAGE,
                    &offset,
                )
                .await?;
            rows.extend(page.body["result"].as_array().cloned().unwrap_or_default());
            match page.next.as_deref().and_then(query::offset_of) {
                Some(next) if next != offset => offset = next,
                _ => break,
            }
        }
        let mut authors = BTreeMap::new();
        for row in &rows {
            let by = mapping::field(row, "sys_created_by");
            if !by.is_empty()
                && !authors.contains_key(&by)
                && let Some(user) = self.author(&by).await?
            {
                authors.insert(by, user);
            }
        }
        Ok(rows.iter().map(|r| mapping::comment(r, &authors)).collect())
    }

    /// The person behind a journal entry's `sys_created_by` (a user name), cached.
    async fn author(&self, user_name: &str) -> PortResult<Option<User>> {
        if let Some(known) = self.authors.lock().await.get(user_name) {
            return Ok(known.clone());
        }
        let encoded = format!("user_name={}", query::value(user_name)?);
        let found = self
            .list("sys_user", &encoded, "email,name", 1, "0")
            .await?;
        let user = found.body["result"].get(0).map(|u| User {
            email: mapping::field(u, "email"),
            display_name: mapping::field(u, "name"),
        });
        self.authors
            .lock()
            .await
            .insert(user_name.to_string(), user.clone());
        Ok(user)
    }

    /// The `sys_user` sys_id of the person with `email`, cached.
    pub(super) async fn user_id(&self, email: &str) -> PortResult<Option<String>> {
        if email.is_empty() {
            return Ok(None);
        }
        if let Some(known) = self.users.lock().await.get(email) {
            return Ok(known.clone());
        }
        let encoded = format!("email={}^active=true", query::value(email)?);
        let found = self.list("sys_user", &encoded, "sys_id", 1, "0").await?;
        let id = found.body["result"][0]["sys_id"]
            .as_str()
            .map(str::to_string);
        if id.is_none() {
            tracing::warn!(instance = %self.instance, %email, "no ServiceNow user with this email; the field is left empty");
        }
        self.users
            .lock()
            .await
            .insert(email.to_string(), id.clone());
        Ok(id)
    }

    /// The `sys_user_group` sys_id of the group named `name`.
    pub(super) async fn group_id(&self, name: &str) -> PortResult<Option<String>> {
        let encoded = format!("name={}", query::value(name)?);
        let found = self
            .list("sys_user_group", &encoded, "sys_id", 1, "0")
            .await?;
        Ok(found.body["result"][0]["sys_id"]
            .as_str()
            .map(str::to_string))
    }

    /// The record's attachments (Attachment API).
    pub(super) async fn attachments_of(&self, sys_id: &str) -> PortResult<Vec<Attachment>> {
        let url = self.url("/api/now/attachment");
        let encoded = format!("table_sys_id={}", query::value(sys_id)?);
        let found = self
            .send(|| {
                self.http.get(&url).query(&[
                    ("sysparm_query", encoded.as_str()),
                    ("sysparm_limit", "100"),
                ])
            })
            .await?;
        Ok(found.body["result"]
            .as_array()
            .map(|list| list.iter().map(mapping::attachment).collect())
            .unwrap_or_default())
    }
}
