//! Finding an issue again by its origin marker, as `crate::origin` explains: candidates
//! from a search Jira Cloud runs without an app, each taken only when its entity property
//! is exactly the origin; and keeping the origin field, sync's bookkeeping, out of items.

use super::JiraTracker;
use crate::mapping::{ORIGIN_PROPERTY, to_item};
use crate::origin::{self, OriginSearch};
use serde_json::{Value, json};
use twinsync_connector_kit::answer;
use twinsync_core::Item;
use twinsync_ports::{PortError, PortResult, Tracker};

/// Candidates per page: ids only, so Jira gives the most it can (5,000).
const PAGE: u32 = 5_000;

impl JiraTracker {
    /// How issues are found again: the configured origin field, checked against the site's
    /// fields once (a field that does not fit is a permanent error naming the fix), or the
    /// recent creates. The node's start calls it (`register_webhook`), so a bad field
    /// stops the start.
    pub async fn origin_search(&self) -> PortResult<OriginSearch> {
        let mut cache = self.origin_search.lock().await;
        if let Some(search) = cache.as_ref() {
            return Ok(search.clone());
        }
        let wanted = self.config.origin_field.as_deref();
        let fields = match wanted {
            Some(_) => self.send(self.http.get(self.api("/field"))).await?,
            None => Value::Null,
        };
        let minutes = self.config.origin_lookback_minutes;
        let search = origin::resolve(&fields, wanted, minutes)
            .map_err(|e| PortError::Rejected(format!("jira {}: {e}", self.instance)))?;
        match &search {
            OriginSearch::Field { id, name, .. } => {
                tracing::info!(instance = %self.instance, field = %id, %name, "issues are found again through the origin field");
            }
            OriginSearch::Recent { minutes } => {
                tracing::warn!(instance = %self.instance, minutes, "no origin_field: issues are found again only among those this account created lately");
            }
        }
        *cache = Some(search.clone());
        Ok(search)
    }

    /// The oldest issue of `project` whose origin property is exactly `origin`.
    pub(super) async fn find_again(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        let search = self.origin_search().await?;
        let body = json!({
            "jql": search.candidates(project, origin),
            "fields": ["id"],
            "properties": [ORIGIN_PROPERTY],
            "maxResults": PAGE,
        });
        let mut page = None;
        loop {
            let found = self.search_page(body.clone(), page.clone()).await?;
            // An answer that is no listing is no "not found": a second issue would follow.
            answer::listing("Jira", &found, "issues")?;
            for key in origin::verified(&found, origin) {
                // Read again: the search's copy of the property may lag behind the issue.
                if let Some(item) = self.get_item(&key).await?
                    && item.origin.as_deref() == Some(origin)
                {
                    return Ok(Some(item));
                }
            }
            page = match (found["isLast"].as_bool(), found["nextPageToken"].as_str()) {
                // The same page again would be asked for forever.
                (Some(false), Some(token)) if page.as_deref() == Some(token) => {
                    return Err(PortError::Rejected(format!(
                        "unexpected answer from Jira: page {token:?} names itself as the next"
                    )));
                }
                (Some(false), Some(token)) => Some(token.to_string()),
                _ => return Ok(None),
            };
        }
    }

    /// `issue` (and its `comments`) as an item, without the origin field.
    pub(super) async fn item_of(&self, issue: &Value, comments: &[Value]) -> PortResult<Item> {
        // Without its key an answer is no issue: `{}` would read as an item keyed "".
        if issue["key"].as_str().is_none_or(str::is_empty) {
            return Err(PortError::Rejected(format!(
                "unexpected answer from Jira {}: no issue key",
                self.instance
            )));
        }
        let mut item = to_item(&self.config.base_url, issue, comments);
        let search = self.origin_search().await?;
        item.custom_fields
            .retain(|name, _| !search.is_origin_field(name));
        Ok(item)
    }

    /// A create Jira refused over the origin field, with what the admin has to do.
    pub(super) fn explain_create(
        &self,
        e: PortError,
        search: &OriginSearch,
        project: &str,
    ) -> PortError {
        match (e, search) {
            (PortError::Rejected(m), OriginSearch::Field { id, name, .. })
                if m.contains(id.as_str()) =>
            {
                PortError::Rejected(format!(
                    "{m} (origin_field {name:?} must be on the create screen of project {project}, issue type {:?})",
                    self.config.issue_type
                ))
            }
            (e, _) => e,
        }
    }
}
