//! Reads: a Case by Id with its CaseComments and files (ContentVersion), and users by
//! email, all with SOQL.

use super::{SalesforceTracker, check_id};
use crate::mapping::{self, Context, FIELDS};
use crate::soql::{self, millis, quote};
use serde_json::Value;
use twinsync_connector_kit::http;
use twinsync_core::{Attachment, Comment, Item};
use twinsync_ports::{PortError, PortResult};

impl SalesforceTracker {
    /// The SELECT list of a Case read: the mapped fields, the setup's and the config's.
    pub(super) fn fields_param(&self) -> String {
        let c = &self.config;
        let mut fields: Vec<&str> = FIELDS.to_vec();
        fields.extend([
            c.origin_field.as_str(),
            c.link_field.as_str(),
            c.status_field.as_str(),
        ]);
        fields.extend(c.labels_field.as_deref());
        fields.extend(c.custom_fields.iter().map(String::as_str));
        // The comments' Ids and stamps (a parent-to-child subquery): a comment leaves
        // its Case's stamps as they are, so the Case's version counts its comments'.
        fields.push("(SELECT Id, SystemModstamp FROM CaseComments)");
        fields.join(", ")
    }

    /// The Case `key`, in full; `None` when there is none.
    pub(super) async fn read_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.describe().await?;
        let Ok(id) = check_id(key) else {
            return Ok(None);
        };
        let soql = format!(
            "SELECT {} FROM Case WHERE Id = {}",
            self.fields_param(),
            quote(id)
        );
        let found = self.query(&soql).await?;
        // Only a listing says the Case is gone: `{}` or an empty body is no answer.
        let Some(listed) = found["records"].as_array() else {
            return Err(PortError::Rejected(format!(
                "unexpected answer from Salesforce: no records list for {key}"
            )));
        };
        let Some(record) = listed.first().cloned() else {
            return Ok(None);
        };
        // A 15-character Id is answered with its 18-character form, which begins with it.
        let answered = match mapping::field(&record, "Id") {
            a if a.is_empty() => None,
            a if id.len() == 15 && a.len() == 18 && a.starts_with(id) => Some(id.to_string()),
            a => Some(a),
        };
        http::same_item("Salesforce", id, answered)?;
        let comments = self.comments_of(id).await?;
        let attachments = self.attachments_of(id).await?;
        self.item_of(&record, comments, attachments).await.map(Some)
    }

    /// A Case record read as an item; its `LastModifiedDate` is remembered for the next
    /// update's precondition.
    pub(super) async fn item_of(
        &self,
        record: &Value,
        comments: Vec<Comment>,
        attachments: Vec<Attachment>,
    ) -> PortResult<Item> {
        let instance_url = self.instance_url().await?;
        let id = mapping::field(record, "Id");
        let modified = millis(&mapping::field(record, "LastModifiedDate"));
        if !id.is_empty() && modified > 0 {
            self.seen.lock().await.insert(id, modified);
        }
        let cx = Context {
            instance_url: &instance_url,
            origin_field: &self.config.origin_field,
            labels_field: self.config.labels_field.as_deref(),
            custom_fields: &self.config.custom_fields,
        };
        let mut item = mapping::to_item(&cx, record, comments, attachments);
        item.version = self.versions.lock().await.version(
            &item.key,
            item.updated_ms,
            record,
            twinsync_connector_kit::now_ms(),
        );
        Ok(item)
    }

    /// The Case's comments, public and private, oldest first.
    async fn comments_of(&self, id: &str) -> PortResult<Vec<Comment>> {
        let soql = format!(
            "SELECT Id, CommentBody, IsPublished, CreatedDate, CreatedBy.Email, CreatedBy.Name FROM CaseComment WHERE ParentId = {} ORDER BY CreatedDate ASC, Id ASC",
            quote(id)
        );
        Ok(self
            .query_all(&soql)
            .await?
            .iter()
            .map(mapping::comment)
            .collect())
    }

    /// The files first published to the Case, latest versions.
    async fn attachments_of(&self, id: &str) -> PortResult<Vec<Attachment>> {
        let soql = format!(
            "SELECT Id, Title, PathOnClient, ContentSize FROM ContentVersion WHERE FirstPublishLocationId = {} AND IsLatest = true ORDER BY CreatedDate ASC, Id ASC",
            quote(id)
        );
        let instance_url = self.instance_url().await?;
        let data_path = self.config.data_path();
        Ok(self
            .query_all(&soql)
            .await?
            .iter()
            .map(|row| mapping::attachment(row, &instance_url, &data_path))
            .collect())
    }

    /// The Cases (records, the trigger's conditions held) whose comments changed at or
    /// after `since_ms` and that are not on the Case poll's first page already.
    pub(super) async fn commented_cases(
        &self,
        since_ms: i64,
        conditions: &[String],
        first_page: &Value,
    ) -> PortResult<Vec<Value>> {
        let listed: std::collections::HashSet<&str> = first_page["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["Id"].as_str())
            .collect();
        let mut ids: Vec<String> = Vec::new();
        for row in self.query_all(&soql::comment_poll(since_ms)).await? {
            if let Some(id) = row["ParentId"].as_str().and_then(|id| check_id(id).ok())
                && !listed.contains(id)
                && !ids.iter().any(|known| known == id)
            {
                ids.push(id.to_string());
            }
        }
        let mut records = Vec::new();
        // A SOQL statement holds at most 100,000 characters: a hundred Ids at a time.
        for chunk in ids.chunks(100) {
            let chunk: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let soql = soql::cases_by_id(&self.fields_param(), conditions, &chunk);
            records.extend(self.query_all(&soql).await?);
        }
        Ok(records)
    }

    /// The active User with `email`, cached.
    pub(super) async fn user_id(&self, email: &str) -> PortResult<Option<String>> {
        if email.is_empty() {
            return Ok(None);
        }
        if let Some(known) = self.users.lock().await.get(email) {
            return Ok(known.clone());
        }
        let soql = format!(
            "SELECT Id FROM User WHERE Email = {} AND IsActive = true LIMIT 1",
            quote(email)
        );
        let found = self.query(&soql).await?;
        let id = found["records"][0]["Id"].as_str().map(str::to_string);
        if id.is_none() {
            tracing::warn!(instance = %self.instance, %email, "no active Salesforce user with this email; the owner is left as it is");
        }
        self.users
            .lock()
            .await
            .insert(email.to_string(), id.clone());
        Ok(id)
    }

    /// The Id of the Case record type named `developer_name`, if the org has it.
    pub(super) async fn record_type_id(&self, developer_name: &str) -> PortResult<Option<String>> {
        let soql = format!(
            "SELECT Id FROM RecordType WHERE SobjectType = 'Case' AND DeveloperName = {} AND IsActive = true LIMIT 1",
            quote(developer_name)
        );
        let found = self.query(&soql).await?;
        Ok(found["records"][0]["Id"].as_str().map(str::to_string))
    }
}
