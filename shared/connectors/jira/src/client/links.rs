//! The sync status inside Jira: a remote issue link to the twin, one per twin (its
//! `globalId` names the twin's URL, so a POST updates it in place), whose title is the
//! twin's key and whose status says synced, error or unlinked (resolved, struck through).
//! A link is no field of the issue: setting it moves nothing and cannot echo.

use super::JiraTracker;
use serde_json::{Value, json};
use twinsync_ports::{PortResult, SyncMark, SyncState};

/// The remote link for `mark`; `None` before the twin has a key and a URL to link to.
pub fn remote_link(mark: &SyncMark) -> Option<Value> {
    let (key, url) = (mark.twin_key.as_deref()?, mark.twin_url.as_deref()?);
    Some(json!({
        "globalId": format!("twinsync:{url}"),
        "application": { "type": "io.twinsync", "name": "twinsync" },
        "relationship": "synced with",
        "object": {
            "url": url,
            "title": key,
            "summary": mark.line(255),
            "status": {
                "resolved": mark.state == SyncState::Unlinked,
                "icon": { "title": mark.describe().chars().take(255).collect::<String>() },
            },
        },
    }))
}

impl JiraTracker {
    /// Posts the remote link to its twin, unless it already says this.
    pub(super) async fn show_link(&self, key: &str, mark: &SyncMark) -> PortResult<()> {
        let Some(link) = remote_link(mark) else {
            return Ok(());
        };
        let text = link.to_string();
        if self.shown.already(key, &text) {
            return Ok(());
        }
        self.send(
            self.http
                .post(self.api(&format!("/issue/{key}/remotelink")))
                .json(&link),
        )
        .await?;
        self.shown.record(key, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_links_table() {
        let mark = |state, twin: bool| SyncMark {
            state,
            twin_key: twin.then(|| "acme/shop#7".to_string()),
            twin_url: twin.then(|| "https://github.com/acme/shop/issues/7".to_string()),
        };
        assert_eq!(remote_link(&mark(SyncState::Syncing, false)), None);
        let synced = remote_link(&mark(SyncState::Synced, true)).unwrap();
        assert_eq!(
            synced["globalId"],
            "twinsync:https://github.com/acme/shop/issues/7"
        );
        assert_eq!(synced["object"]["title"], "acme/shop#7");
        assert_eq!(
            synced["object"]["summary"],
            "twinsync: synced with acme/shop#7"
        );
        assert_eq!(synced["object"]["status"]["resolved"], false);
        let unlinked = remote_link(&mark(SyncState::Unlinked, true)).unwrap();
        assert_eq!(
            unlinked["globalId"], synced["globalId"],
            "the same link, updated"
        );
        assert_eq!(unlinked["object"]["status"]["resolved"], true);
        let error = remote_link(&mark(SyncState::Error("refused".into()), true)).unwrap();
        assert_eq!(error["object"]["status"]["icon"]["title"], "error: refused");
    }
}
