//! The sync status and the twin link, in Azure DevOps' idiom: a `Hyperlink` relation to
//! the twin (the link people follow, listed under the work item's links) whose comment
//! says `twinsync: synced`, `twinsync: error: why` or `twinsync: unlinked`. The relation
//! is kept current (its comment replaced, its URL moved), never added again, and nothing
//! is written when the status shown is already right.

use super::{API_VERSION, AdoTracker, segment};
use crate::mapping::{HYPERLINK, test_rev};
use serde_json::{Value, json};
use twinsync_ports::{PortError, PortResult, SyncMark};

/// What the comment of the connector's own hyperlink starts with.
pub const LINK_PREFIX: &str = "twinsync: ";

impl AdoTracker {
    /// The operations that make `wi` show `comment` and link to `url`, none when it does.
    fn status_ops(wi: &Value, comment: &str, url: Option<&str>) -> Vec<Value> {
        let relations = wi["relations"].as_array().cloned().unwrap_or_default();
        let ours = relations.iter().position(|r| {
            r["rel"] == HYPERLINK
                && r["attributes"]["comment"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(LINK_PREFIX))
        });
        let add = |u: &str| {
            json!({"op": "add", "path": "/relations/-", "value": {
                "rel": HYPERLINK, "url": u, "attributes": {"comment": comment}
            }})
        };
        let rev = wi["rev"].as_u64().unwrap_or(0);
        let ops = match (ours, url) {
            (Some(i), Some(u)) if relations[i]["url"] != u => vec![
                json!({"op": "remove", "path": format!("/relations/{i}")}),
                add(u),
            ],
            (Some(i), _) if relations[i]["attributes"]["comment"] != comment => {
                vec![
                    json!({"op": "replace", "path": format!("/relations/{i}/attributes/comment"), "value": comment}),
                ]
            }
            (None, Some(u)) => vec![add(u)],
            _ => Vec::new(),
        };
        if ops.is_empty() {
            return ops;
        }
        std::iter::once(test_rev(rev)).chain(ops).collect()
    }

    pub(super) async fn show(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        let comment = format!("{LINK_PREFIX}{}", mark.describe());
        let shown = format!("{comment}\n{}", mark.twin_url.as_deref().unwrap_or(""));
        if self.shown.already(key, &shown) {
            return Ok(());
        }
        // Someone may write between the read and the patch: one more try on a fresh read.
        for attempt in 0..2 {
            let wi = self.get_item_raw(key).await?;
            let ops = Self::status_ops(&wi, &comment, mark.twin_url.as_deref());
            if ops.is_empty() {
                break;
            }
            let sent = self
                .send(
                    self.http
                        .patch(self.org_api(&format!("/wit/workitems/{}", segment(key))))
                        .query(&[("api-version", API_VERSION)])
                        .header("content-type", "application/json-patch+json")
                        .body(Value::Array(ops).to_string()),
                )
                .await;
            match sent {
                Ok(updated) => {
                    self.remember(&updated);
                    break;
                }
                Err(PortError::Conflict(_)) if attempt == 0 => continue,
                Err(e) => return Err(e),
            }
        }
        self.shown.record(key, shown);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_added_once_then_kept_current() {
        let comment = "twinsync: synced";
        let none = json!({"rev": 3, "relations": []});
        let ops = AdoTracker::status_ops(&none, comment, Some("https://t/1"));
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0], json!({"op": "test", "path": "/rev", "value": 3}));
        assert_eq!(ops[1]["value"]["attributes"]["comment"], comment);
        let linked = json!({"rev": 4, "relations": [
            {"rel": "AttachedFile", "url": "x", "attributes": {"comment": "copied"}},
            {"rel": "Hyperlink", "url": "https://t/1", "attributes": {"comment": comment}}
        ]});
        assert!(AdoTracker::status_ops(&linked, comment, Some("https://t/1")).is_empty());
        let error = AdoTracker::status_ops(&linked, "twinsync: error: no", None);
        assert_eq!(error[1]["path"], "/relations/1/attributes/comment");
        let moved = AdoTracker::status_ops(&linked, comment, Some("https://t/2"));
        assert_eq!(moved[1]["path"], "/relations/1");
        assert_eq!(moved[2]["value"]["url"], "https://t/2");
    }
}
