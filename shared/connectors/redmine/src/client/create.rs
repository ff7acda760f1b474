//! Creating an issue: one POST, then the read-back and the move to the item's status.

use super::RedmineTracker;
use super::fields::find_id;
use serde_json::{Value, json};
use twinsync_connector_kit::after_create;
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_core::{Item, ItemUpdate};
use twinsync_ports::{PortResult, Tracker};

impl RedmineTracker {
    pub(super) async fn create(
        &self,
        project: &str,
        item: &Item,
        origin: &str,
    ) -> PortResult<Item> {
        let mut fields = self
            .fields(
                Some(&item.summary),
                Some(&item.description),
                item.status_name(),
                item.priority_name(),
            )
            .await?;
        fields.insert("project_id".into(), json!(project));
        let l = self.lookups().await?;
        let tracker = match &self.config.tracker {
            Some(t) => find_id(&l.trackers, "tracker", t)?,
            None => l.trackers.first().map(|t| t.id).unwrap_or(1),
        };
        fields.insert("tracker_id".into(), json!(tracker));
        let custom = (!item.custom_fields.is_empty()).then_some(&item.custom_fields);
        self.people_and_custom(
            &mut fields,
            item.assignee.as_ref().map(Some),
            custom,
            Some(origin),
        )
        .await?;
        let created: Value = self
            .json(
                self.http
                    .post(self.url("/issues.json"))
                    .json(&json!({ "issue": fields })),
            )
            .await?;
        let id = answer::id_in("Redmine", &created["issue"], "id", IdKind::Number)?;
        self.settle_new_issue(&id, item).await.map_err(after_create)
    }

    /// Reads the issue just created back and moves it to the item's status.
    async fn settle_new_issue(&self, id: &str, item: &Item) -> PortResult<Item> {
        let made = self.full(id).await?;
        // Redmine starts a new issue in the tracker's default status whatever the create
        // asked for (its workflow only offers the others as transitions): move it there.
        match item.status_name() {
            Some(status) if made.status_name() != Some(status) => {
                self.update_item(
                    id,
                    &ItemUpdate {
                        status: Some(status.to_string()),
                        ..ItemUpdate::default()
                    },
                )
                .await?;
                self.full(id).await
            }
            _ => Ok(made),
        }
    }
}
