//! Work item writes: JSON Patch (`application/json-patch+json`) with a `test` on `/rev`
//! first, so a write made on a stale read fails with 412 (a `Conflict`, retried after a
//! fresh read and merge) instead of overwriting someone's edit. States are checked
//! against those the work item type allows (`workitemtypes/{type}/states`); people are
//! set by email, which Azure DevOps resolves to an identity.

use super::{API_VERSION, AdoTracker, segment};
use crate::mapping::{self, ASSIGNED_TO, STATE, TAGS, WORK_ITEM_TYPE, set_field, test_rev};
use crate::origin;
use serde_json::{Value, json};
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_core::{Item, ItemUpdate};
use twinsync_ports::{PortError, PortResult};

/// How many work items the per-item caches hold before they start over.
pub(super) const CACHE_CAP: usize = 10_000;

/// What a read of a work item saw that its next write needs.
#[derive(Debug, Clone, Default)]
pub(super) struct Seen {
    pub(super) rev: u64,
    pub(super) project: String,
    work_item_type: String,
    own_tags: Vec<String>,
}

impl AdoTracker {
    /// Keeps what the next write of `wi` needs.
    pub(super) fn remember(&self, wi: &Value) {
        let Some(id) = wi["id"].as_i64() else { return };
        let f = &wi["fields"];
        let seen = Seen {
            rev: wi["rev"].as_u64().unwrap_or(0),
            project: f[mapping::TEAM_PROJECT].as_str().unwrap_or("").to_string(),
            work_item_type: f[WORK_ITEM_TYPE].as_str().unwrap_or("").to_string(),
            own_tags: mapping::tags(f[TAGS].as_str().unwrap_or(""))
                .into_iter()
                .filter(|t| origin::is_own_tag(t))
                .collect(),
        };
        if let Ok(mut map) = self.seen.lock() {
            // A long-running node reads many items: past the cap the cache starts over,
            // which costs one read before the next write of an item, never a wrong rev.
            if map.len() >= CACHE_CAP {
                map.clear();
            }
            map.insert(id.to_string(), seen);
        }
    }

    pub(super) fn seen(&self, key: &str) -> Option<Seen> {
        self.seen.lock().ok().and_then(|m| m.get(key).cloned())
    }

    /// The project's id (`GET _apis/projects/{name}`), which subscriptions name.
    pub(super) async fn project_id(&self, project: &str) -> PortResult<String> {
        let p = self
            .send(
                self.http
                    .get(self.org_api(&format!("/projects/{}", segment(project))))
                    .query(&[("api-version", API_VERSION)]),
            )
            .await?;
        Ok(p["id"].as_str().unwrap_or("").to_string())
    }

    /// The states `work_item_type` allows with their categories, read once per type.
    async fn allowed_states(
        &self,
        project: &str,
        work_item_type: &str,
    ) -> PortResult<Vec<(String, String)>> {
        let cache_key = format!("{project}/{work_item_type}");
        if let Some(known) = self.states.lock().await.get(&cache_key) {
            return Ok(known.clone());
        }
        let answer = self
            .send(
                self.http
                    .get(self.project_api(
                        project,
                        &format!("/wit/workitemtypes/{}/states", segment(work_item_type)),
                    ))
                    .query(&[("api-version", API_VERSION)]),
            )
            .await?;
        let states: Vec<(String, String)> = answer["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                let name = s["name"].as_str()?.to_string();
                Some((name, s["category"].as_str().unwrap_or("").to_string()))
            })
            .collect();
        self.states.lock().await.insert(cache_key, states.clone());
        Ok(states)
    }

    /// The operation that sets the state to `target`: the type's state of that name
    /// (whatever the case), else its first state of the category the name means (an
    /// Agile "Active" is Scrum's "In Progress"); refused when there is neither.
    async fn state_op(
        &self,
        project: &str,
        work_item_type: &str,
        target: &str,
    ) -> PortResult<Value> {
        let allowed = self.allowed_states(project, work_item_type).await?;
        let by_name = allowed.iter().find(|(s, _)| s.eq_ignore_ascii_case(target));
        let by_category = || {
            let category = mapping::state_category(target)?;
            allowed.iter().find(|(_, c)| c == category)
        };
        match by_name.or_else(by_category) {
            Some((state, _)) => Ok(set_field(STATE, json!(state))),
            None => Err(PortError::Rejected(format!(
                "state {target:?} is not one of the {work_item_type} states ({})",
                allowed
                    .iter()
                    .map(|(s, _)| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Sends `ops` to `url`; when Azure DevOps does not know the assignee, once more
    /// without it (the person is left as is, as in the other connectors).
    async fn patch(
        &self,
        method: reqwest::Method,
        url: &str,
        ops: Vec<Value>,
    ) -> PortResult<Value> {
        let send = |ops: &Vec<Value>| {
            self.send(
                self.http
                    .request(method.clone(), url)
                    .query(&[("api-version", API_VERSION)])
                    .header("content-type", "application/json-patch+json")
                    .body(Value::Array(ops.clone()).to_string()),
            )
        };
        match send(&ops).await {
            Err(PortError::Rejected(m)) if m.contains("unknown identity") => {
                tracing::warn!(instance = %self.instance, "no Azure DevOps identity for the assignee; left as is");
                let path = format!("/fields/{ASSIGNED_TO}");
                let without: Vec<Value> = ops.into_iter().filter(|o| o["path"] != path).collect();
                send(&without).await
            }
            other => other,
        }
    }

    pub(super) async fn create(
        &self,
        project: &str,
        item: &Item,
        origin: &str,
    ) -> PortResult<Item> {
        let update = ItemUpdate {
            summary: Some(item.summary.clone()),
            description: Some(item.description.clone()).filter(|d| !d.is_empty()),
            labels: Some(item.labels.clone()),
            priority: item.priority_name().map(str::to_string),
            custom_fields: Some(item.custom_fields.clone()),
            ..ItemUpdate::default()
        };
        // The origin tag is written with the item, so no crash can leave it unmarked.
        let mut ops =
            mapping::field_ops(&update, &[origin::tag(origin)]).map_err(PortError::Rejected)?;
        let work_item_type = self.config.work_item_type.clone();
        if let Some(target) = item.status_name().filter(|s| !s.is_empty()) {
            ops.push(self.state_op(project, &work_item_type, target).await?);
        }
        if let Some(email) = item.assignee_email().filter(|e| !e.is_empty()) {
            ops.push(set_field(ASSIGNED_TO, json!(email)));
        }
        let url = self.project_api(
            project,
            &format!("/wit/workitems/${}", segment(&work_item_type)),
        );
        let created = self.patch(reqwest::Method::POST, &url, ops).await?;
        answer::id_in("Azure DevOps", &created, "id", IdKind::Number)?;
        self.remember(&created);
        // The item exists from here on: a wait is no refusal of the create.
        let own = self
            .own_id()
            .await
            .map_err(twinsync_connector_kit::after_create)?;
        Ok(mapping::to_item(&self.config.org_url, &created, &[], &own))
    }

    /// Updates a work item, on condition that it is still at `rev` (the revision the
    /// caller planned on), or at the revision this connector last saw of it.
    pub(super) async fn update(
        &self,
        key: &str,
        rev: Option<u64>,
        update: &ItemUpdate,
    ) -> PortResult<Item> {
        let seen = match self.seen(key) {
            Some(s) => s,
            None => {
                self.get_item_raw(key).await?;
                self.seen(key).unwrap_or_default()
            }
        };
        let mut ops = mapping::field_ops(update, &seen.own_tags).map_err(PortError::Rejected)?;
        if let Some(target) = update.status.as_deref().filter(|s| !s.is_empty()) {
            ops.push(
                self.state_op(&seen.project, &seen.work_item_type, target)
                    .await?,
            );
        }
        if let Some(assignee) = &update.assignee {
            let email = assignee.as_ref().map(|u| u.email.as_str()).unwrap_or("");
            ops.push(set_field(ASSIGNED_TO, json!(email)));
        }
        let url = self.org_api(&format!("/wit/workitems/{}", segment(key)));
        if !ops.is_empty() {
            ops.insert(0, test_rev(rev.unwrap_or(seen.rev)));
            let updated = self.patch(reqwest::Method::PATCH, &url, ops).await?;
            self.remember(&updated);
        }
        Ok(Item {
            key: key.to_string(),
            ..Item::default()
        })
    }

    /// Reads a work item for what its next write needs.
    pub(super) async fn get_item_raw(&self, key: &str) -> PortResult<Value> {
        let wi = self
            .send(
                self.http
                    .get(self.org_api(&format!("/wit/workitems/{}", segment(key))))
                    .query(&[("$expand", "relations"), ("api-version", API_VERSION)]),
            )
            .await?;
        let id = wi["id"].as_i64().map(|i| i.to_string());
        twinsync_connector_kit::http::same_item("Azure DevOps", key, id)?;
        self.remember(&wi);
        Ok(wi)
    }

    /// Deletes a work item to the project's recycle bin (`DELETE /wit/workitems/{id}`,
    /// not `destroy`: a person can restore it); one already gone is no error.
    pub(super) async fn delete_work_item(&self, key: &str) -> PortResult<()> {
        let answer = self
            .send(
                self.http
                    .delete(self.org_api(&format!("/wit/workitems/{}", segment(key))))
                    .query(&[("api-version", API_VERSION)]),
            )
            .await;
        twinsync_ports::gone_is_done(answer)
    }
}
