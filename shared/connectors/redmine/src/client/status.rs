//! The sync status and the twin link in Redmine's idiom: two issue custom fields made at
//! setup (`scripts/redmine-up`). "twinsync status" is a text field that says `syncing`,
//! `synced`, `error: why` or `unlinked`; "twinsync twin" is a link field that holds the
//! twin's URL. Both are set in one update, and only when what they show changes.
//!
//! The update adds a journal without notes and moves `updated_on`, so the poller reads
//! the issue again; the journal is no comment and the mapping leaves both fields out of
//! the item, so that read finds nothing to send (no echo).

use super::RedmineTracker;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use twinsync_ports::{PortResult, SyncMark};

/// The `custom_fields` of the update that makes an issue show `mark`. A mark without a
/// twin URL leaves the link as it is, so an unlinked issue still leads to its old twin.
fn values(status: Option<u32>, twin: Option<u32>, mark: &SyncMark) -> Vec<Value> {
    let mut values = Vec::new();
    if let Some(id) = status {
        // A text field is one line; an error's reason may have several.
        let text = mark.describe().replace(['\n', '\r'], " ");
        values.push(json!({ "id": id, "value": text }));
    }
    if let (Some(id), Some(url)) = (twin, mark.twin_url.as_deref().filter(|u| !u.is_empty())) {
        values.push(json!({ "id": id, "value": url }));
    }
    values
}

impl RedmineTracker {
    /// Writes `mark` into the status fields, unless it shows it already.
    pub(super) async fn show(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        let (status, twin) = (self.config.status_field_id, self.config.twin_field_id);
        if status.is_none() && twin.is_none() {
            // Optional fields: a Redmine set up before them keeps syncing, without status.
            if !self.said_no_status_fields.swap(true, Ordering::Relaxed) {
                tracing::info!(instance = %self.instance, "no status_field_id or twin_field_id configured: Redmine issues do not show their sync status");
            }
            return Ok(());
        }
        let values = values(status, twin, mark);
        if values.is_empty() {
            return Ok(());
        }
        let shown = Value::Array(values.clone()).to_string();
        if self.shown.already(key, &shown) {
            return Ok(());
        }
        self.send(
            self.http
                .put(self.url(&format!("/issues/{key}.json")))
                .json(&json!({ "issue": { "custom_fields": values } })),
        )
        .await?;
        self.shown.record(key, shown);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinsync_ports::SyncState;

    fn mark(state: SyncState, url: Option<&str>) -> SyncMark {
        SyncMark {
            state,
            twin_key: url.map(|_| "DEMO-1".to_string()),
            twin_url: url.map(str::to_string),
        }
    }

    #[test]
    fn status_and_link_and_the_link_kept_without_a_url() {
        let url = Some("http://a/DEMO-1");
        let table = [
            (
                mark(SyncState::Synced, url),
                json!([{"id": 2, "value": "synced"}, {"id": 3, "value": "http://a/DEMO-1"}]),
            ),
            (
                mark(SyncState::Error("no\nway".into()), url),
                json!([{"id": 2, "value": "error: no way"}, {"id": 3, "value": "http://a/DEMO-1"}]),
            ),
            (
                mark(SyncState::Unlinked, None),
                json!([{"id": 2, "value": "unlinked"}]),
            ),
        ];
        for (m, want) in table {
            assert_eq!(Value::Array(values(Some(2), Some(3), &m)), want, "{m:?}");
        }
        let only_link = values(None, Some(3), &mark(SyncState::Syncing, None));
        assert!(only_link.is_empty(), "nothing to write");
    }
}
