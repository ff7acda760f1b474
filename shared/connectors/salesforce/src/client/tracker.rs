//! The `Tracker` implementation over the client's reads and writes.

use super::{SalesforceTracker, check_id};
use crate::mapping::{self, NO_RECORD_TYPE};
use crate::soql::{self, Columns, quote};
use async_trait::async_trait;
use serde_json::{Map, json};
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, User};
use twinsync_ports::{
    ChangeSignal, ItemPage, PortError, PortResult, SyncMark, Tracker, WebhookError,
};

#[async_trait]
impl Tracker for SalesforceTracker {
    fn kind(&self) -> twinsync_core::ConnectorKind {
        twinsync_core::ConnectorKind::Salesforce
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn url(&self) -> &str {
        &self.config.login_url
    }

    fn calls(&self) -> u64 {
        self.gate.calls()
    }

    /// A project is a Case record type (`DeveloperName`), or `Case` for the org's default;
    /// either way the org's one-time setup is checked first.
    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        self.describe().await?;
        if project == NO_RECORD_TYPE {
            return Ok(Some(true));
        }
        if !crate::config::is_api_name(project) {
            return Ok(Some(false));
        }
        Ok(Some(self.record_type_id(project).await?.is_some()))
    }

    /// The External ID origin field and the link and status fields exist on Case
    /// (README: the org's one-time setup).
    async fn check_setup(&self) -> PortResult<()> {
        self.describe().await.map(|_| ())
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.read_item(key).await
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        self.create(project, item, origin, None).await
    }

    /// The status and link fields go with the create: one call, not two.
    async fn create_item_shown(
        &self,
        project: &str,
        item: &Item,
        origin: &str,
        mark: &SyncMark,
    ) -> PortResult<Item> {
        let (text, link) = shown_fields(mark);
        let created = self
            .create(project, item, origin, Some((text.clone(), link.clone())))
            .await?;
        self.shown.record(&created.key, format!("{text}\n{link}"));
        Ok(created)
    }

    /// A create is one POST after reads (a 401 before it wrote nothing; the reads after
    /// it map a wait with `after_create`); a 429, `REQUEST_LIMIT_EXCEEDED` or the gate
    /// refused it whole.
    fn create_refused_whole(&self, error: &PortError) -> bool {
        error.refused_whole()
    }

    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        let body = self.fields(update).await?;
        if !body.is_empty() {
            self.patch_case(key, &body, true).await?;
        }
        Ok(Item {
            key: key.to_string(),
            url: mapping::case_url(&self.instance_url().await?, key),
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
        self.comment(key, body, origin, true).await
    }

    /// A CaseComment with `IsPublished` false: agents see it, the customer does not.
    async fn add_internal_comment(
        &self,
        key: &str,
        body: &str,
        _author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        self.comment(key, body, origin, false).await
    }

    async fn update_comment(&self, _key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        self.edit_comment(comment_id, body).await
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        self.upload(key, attachment).await
    }

    async fn delete_item(&self, key: &str) -> PortResult<()> {
        self.delete_record("Case", key).await
    }

    async fn delete_comment(&self, _key: &str, comment_id: &str) -> PortResult<()> {
        self.delete_record("CaseComment", comment_id).await
    }

    /// `SELECT Id FROM Case WHERE <origin_field> = '<marker>'`: an External ID field is
    /// indexed, so the query stays selective however many Cases there are.
    async fn find_by_origin(&self, _project: &str, origin: &str) -> PortResult<Option<Item>> {
        let soql = format!(
            "SELECT Id FROM Case WHERE {} = {} LIMIT 1",
            self.config.origin_field,
            quote(origin)
        );
        let found = self.query(&soql).await?;
        // An answer that is no listing is no "not found": a second Case would follow.
        match answer::listing("Salesforce", &found, "records")?.first() {
            Some(case) => {
                let id = answer::id_in("Salesforce", case, "Id", IdKind::Text)?;
                self.read_item(&id).await
            }
            None => Ok(None),
        }
    }

    async fn search_updated(
        &self,
        trigger: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        let filter = match trigger.trim() {
            "" => None,
            q => Some(
                twinsync_core::Filter::parse(q)
                    .map_err(|e| PortError::Rejected(format!("trigger: {e}")))?,
            ),
        };
        self.describe().await?;
        let columns = Columns {
            labels: self.config.labels_field.as_deref(),
        };
        let conditions = filter
            .as_ref()
            .map(|f| soql::encode(f, &columns))
            .unwrap_or_default();
        let (found, mut records) = match page {
            Some(next) => (self.query_more(&next).await?, Vec::new()),
            None => {
                let found = self
                    .query(&soql::poll(&self.fields_param(), &conditions, since_ms))
                    .await?;
                // The first page also brings the Cases only a comment changed.
                let commented = if since_ms > 0 {
                    self.commented_cases(since_ms, &conditions, &found).await?
                } else {
                    Vec::new()
                };
                (found, commented)
            }
        };
        let listed = answer::entries("Salesforce", &found, "records", "Id", IdKind::Text)?;
        records.splice(0..0, listed.iter().cloned());
        let mut items = Vec::new();
        for record in &records {
            let item = self.item_of(record, Vec::new(), Vec::new()).await?;
            // The SOQL narrows; the trigger's filter decides.
            if filter.as_ref().is_none_or(|f| f.matches(&item)) {
                items.push(item);
            }
        }
        let next = if found["done"] == json!(true) {
            None
        } else {
            soql::next_records(found["nextRecordsUrl"].as_str())
        };
        Ok(ItemPage { items, next })
    }

    /// Outbound Messages are set up once in Setup (README), pointing at `url` followed by
    /// the secret; there is no REST call to register them. With a secret, pushes are
    /// expected; SOQL polling runs either way.
    async fn register_webhook(&self, url: &str) -> PortResult<bool> {
        if self.config.outbound_secret.is_empty() {
            return Ok(false);
        }
        tracing::info!(instance = %self.instance, endpoint = %format!("{url}/<outbound_secret>"), "Salesforce Outbound Messages are expected at this endpoint");
        Ok(true)
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
        crate::outbound::verify(
            &self.config.outbound_secret,
            &self.config.organization_id,
            headers,
            body,
        )
    }

    /// Salesforce resends an Outbound Message until it is acknowledged in SOAP.
    fn webhook_answer(&self) -> Option<(&'static str, &'static str)> {
        Some(("text/xml; charset=utf-8", crate::outbound::ACK))
    }

    /// The setup's link (URL) and status (text) fields, kept current: written only when
    /// what they show changes, never a comment.
    async fn show_sync(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        let id = check_id(key)?;
        let (text, link) = shown_fields(mark);
        let shown = format!("{text}\n{link}");
        if self.shown.already(id, &shown) {
            return Ok(());
        }
        let mut body = Map::new();
        body.insert(self.config.status_field.clone(), json!(text));
        body.insert(self.config.link_field.clone(), json!(link));
        self.patch_case(id, &body, false).await?;
        self.shown.record(id, shown);
        Ok(())
    }
}

/// What the status and link fields show for `mark`.
fn shown_fields(mark: &SyncMark) -> (String, String) {
    (
        mapping::status_text(mark),
        mark.twin_url.clone().unwrap_or_default(),
    )
}
