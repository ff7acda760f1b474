//! Polling: the trigger's filter as WIQL (`crate::query`), then (`POST {org}/{project}/_apis/wit/wiql?timePrecision=true`) finds the
//! ids changed since the cursor, oldest first; `POST {org}/{project}/_apis/wit/workitemsbatch`
//! reads them, at most 200 per call, one call per page. The page token is the offset in
//! the id list; the query runs again for the next page, so an item changed meanwhile
//! moves to the end and is read there.

use super::{API_VERSION, AdoTracker};
use crate::origin;
use serde_json::{Value, json};
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_ports::{ItemPage, PortError, PortResult};

/// The most ids one batch read takes.
pub const BATCH: usize = 200;

impl AdoTracker {
    /// The ids a WIQL query finds, in its order.
    pub(super) async fn wiql(&self, project: &str, query: &str) -> PortResult<Vec<i64>> {
        let answer = self
            .send(
                self.http
                    .post(self.project_api(project, "/wit/wiql"))
                    .query(&[("timePrecision", "true"), ("api-version", API_VERSION)])
                    .json(&json!({ "query": query })),
            )
            .await?;
        // An answer that is no listing is neither "nothing changed" nor "not found".
        answer::listing("Azure DevOps", &answer, "workItems")?
            .iter()
            .map(|w| {
                let id = answer::id_in("Azure DevOps", w, "id", IdKind::Number)?;
                id.parse()
                    .map_err(|_| PortError::Rejected(format!("work item id {id} is too large")))
            })
            .collect()
    }

    /// Work items by id, with their relations, in the order asked.
    async fn batch(&self, project: &str, ids: &[i64]) -> PortResult<Vec<Value>> {
        let answer = self
            .send(
                self.http
                    .post(self.project_api(project, "/wit/workitemsbatch"))
                    .query(&[("api-version", API_VERSION)])
                    .json(&json!({ "ids": ids, "$expand": "Relations", "errorPolicy": "Omit" })),
            )
            .await?;
        // `errorPolicy: Omit` answers null for one deleted since the search; any other
        // entry must be a work item with its id.
        let mut items = Vec::new();
        for w in answer::listing("Azure DevOps", &answer, "value")? {
            if !w.is_null() {
                answer::id_in("Azure DevOps", w, "id", IdKind::Number)?;
                items.push(w.clone());
            }
        }
        Ok(items)
    }

    /// Work items matching the trigger `condition` (twinsync's filter language) changed
    /// since `since_ms`.
    pub(super) async fn poll(
        &self,
        condition: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        let project = self.config.project.clone();
        let offset = match page {
            Some(p) => p
                .parse::<usize>()
                .map_err(|_| PortError::Rejected(format!("bad page token {p:?}")))?,
            None => 0,
        };
        let filter = match condition.trim() {
            "" => None,
            q => Some(
                twinsync_core::Filter::parse(q)
                    .map_err(|e| PortError::Rejected(format!("trigger: {e}")))?,
            ),
        };
        let wiql = filter
            .as_ref()
            .and_then(crate::query::translate)
            .unwrap_or_default();
        let ids = self
            .wiql(&project, &origin::poll_query(&project, &wiql, since_ms))
            .await?;
        let chunk: Vec<i64> = ids.iter().skip(offset).take(BATCH).copied().collect();
        let mut items = Vec::new();
        if !chunk.is_empty() {
            for wi in self.batch(&project, &chunk).await? {
                // One deleted since the search is not among the items.
                let Some(item) = self.read(&wi).await? else {
                    continue;
                };
                if origin::after_cursor(item.updated_ms, since_ms)
                    && filter.as_ref().is_none_or(|f| f.matches(&item))
                {
                    items.push(item);
                }
            }
        }
        let end = offset + chunk.len();
        Ok(ItemPage {
            items,
            next: (end < ids.len()).then(|| end.to_string()),
        })
    }
}
