//! The `fields` of a create or an edit in Jira's words: people by their account id (user
//! search by email, cached), custom fields by name (`GET /field`, read once), labels
//! without spaces, descriptions as Atlassian Documents.

use super::JiraTracker;
use crate::mapping::{FieldIndex, custom_input, field_index};
use serde_json::{Value, json};
use twinsync_core::ItemUpdate;
use twinsync_ports::PortResult;

impl JiraTracker {
    /// The custom fields by name, read once.
    pub(super) async fn field_index(&self) -> PortResult<FieldIndex> {
        let mut cache = self.fields.lock().await;
        if let Some(index) = cache.as_ref() {
            return Ok(index.clone());
        }
        let fields = self.send(self.http.get(self.api("/field"))).await?;
        let index = field_index(&fields);
        *cache = Some(index.clone());
        Ok(index)
    }

    /// The account id of the user with `email`, from the user search (cached).
    pub async fn account_id(&self, email: &str) -> PortResult<Option<String>> {
        if email.is_empty() {
            return Ok(None);
        }
        if let Some(known) = self.accounts.lock().await.get(email) {
            return Ok(known.clone());
        }
        let found = self
            .send(
                self.http
                    .get(self.api("/user/search"))
                    .query(&[("query", email)]),
            )
            .await?;
        let id = found
            .as_array()
            .and_then(|users| {
                users
                    .iter()
                    .find(|u| {
                        u["emailAddress"]
                            .as_str()
                            .is_some_and(|e| e.eq_ignore_ascii_case(email))
                    })
                    .or_else(|| (users.len() == 1).then(|| &users[0]))
            })
            .and_then(|u| u["accountId"].as_str().map(str::to_string));
        if id.is_none() {
            tracing::warn!(instance = %self.instance, %email, "no Jira account for this email; the user is left as is");
        }
        self.accounts
            .lock()
            .await
            .insert(email.to_string(), id.clone());
        Ok(id)
    }

    /// The `fields` of a create or an edit, in Jira's words.
    pub(super) async fn fields(
        &self,
        update: &ItemUpdate,
    ) -> PortResult<serde_json::Map<String, Value>> {
        let mut fields = serde_json::Map::new();
        if let Some(s) = &update.summary {
            fields.insert("summary".into(), json!(s));
        }
        if let Some(d) = &update.description {
            let doc = if d.trim().is_empty() {
                Value::Null
            } else {
                super::markdown_to_adf(d)?
            };
            fields.insert("description".into(), doc);
        }
        if let Some(labels) = &update.labels {
            // Jira labels cannot hold spaces.
            let labels: Vec<String> = labels.iter().map(|l| l.replace(' ', "_")).collect();
            fields.insert("labels".into(), json!(labels));
        }
        if let Some(p) = &update.priority {
            fields.insert(
                "priority".into(),
                if p.is_empty() {
                    Value::Null
                } else {
                    json!({ "name": p })
                },
            );
        }
        match &update.assignee {
            Some(None) => {
                fields.insert("assignee".into(), Value::Null);
            }
            Some(Some(user)) => {
                if let Some(id) = self.account_id(&user.email).await? {
                    fields.insert("assignee".into(), json!({ "accountId": id }));
                }
            }
            None => {}
        }
        if let Some(custom) = &update.custom_fields
            && !custom.is_empty()
        {
            let index = self.field_index().await?;
            let origin = self.origin_search().await?;
            for (name, value) in custom {
                // The origin field is sync's bookkeeping: no rule writes it.
                let id = index.get(name).map(|(id, _)| id.as_str()).unwrap_or(name);
                if origin.is_origin_field(name) || origin.is_origin_field(id) {
                    continue;
                }
                match index.get(name) {
                    Some((id, schema)) => {
                        fields.insert(id.clone(), custom_input(schema, value));
                    }
                    None if name.starts_with("customfield_") => {
                        fields.insert(name.clone(), value.clone());
                    }
                    None => {
                        tracing::debug!(instance = %self.instance, field = %name, "no such Jira custom field; not written");
                    }
                }
            }
        }
        Ok(fields)
    }
}
