//! Removals: an item deleted on one side, or moved out of every trigger, and a comment
//! deleted on one side. The side that keeps the twin decides what happens to it, by its
//! connection's policy, so each node stays in charge of its own tracker.

use crate::connector::ConnectorKind;
use crate::item::Item;
use crate::trigger::Trigger;
use crate::twin::CommentLink;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What happens here to the twin of something the other side removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalPolicy {
    /// The twin stays as it is and stops syncing (a comment stays, unlinked from nothing).
    #[default]
    Unlink,
    /// The twin item is closed, then unlinked; a twin comment is marked as deleted.
    Close,
    /// The twin is deleted too (closed where the tracker cannot delete).
    Delete,
}

impl RemovalPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalPolicy::Unlink => "unlink",
            RemovalPolicy::Close => "close",
            RemovalPolicy::Delete => "delete",
        }
    }
}

/// A connection's removal policy, part of its versioned configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemovalSettings {
    pub policy: RemovalPolicy,
    /// The status a closed twin gets; the tracker's usual closed status when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_status: Option<String>,
}

impl RemovalSettings {
    /// The status `close` writes on a tracker of this kind.
    pub fn close_status(&self, kind: ConnectorKind) -> String {
        self.close_status
            .clone()
            .unwrap_or_else(|| kind.closed_status().to_string())
    }
}

/// How a twin came under sync; a move out of every trigger concerns only twins a trigger
/// brought in (an operator's Sync goes on whatever the triggers say).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enrollment {
    /// A trigger matched the item here, in this project.
    Trigger { project: String },
    /// An operation or a bulk job here named the item.
    Operation,
    /// The other side's replica made or linked this twin (and every twin stored before
    /// enrollment was kept).
    #[default]
    Peer,
}

/// Whether an item a trigger brought under sync was moved out of every trigger: it is in
/// another project than the one it was brought in from, and no active trigger matches it
/// there. A change of status or labels that a trigger no longer matches is not a move:
/// the pair goes on syncing (closing an item must reach its twin), and Unlink or
/// Unexalate end it on purpose. Without active triggers nothing has moved out.
pub fn moved_out(enrollment: &Enrollment, triggers: &[Trigger], item: &Item) -> bool {
    let Enrollment::Trigger { project } = enrollment else {
        return false;
    };
    *project != item.project
        && triggers.iter().any(|t| t.active)
        && !triggers
            .iter()
            .filter(|t| t.active)
            .any(|t| t.filter().is_ok_and(|f| f.matches(item)))
}

/// The comments the other side removed between two of its replicas: linked here, named by
/// the previous replica and not by the new one. A replica without a `comments` list says
/// nothing about comments (its rules do not share them), so nothing was removed.
pub fn removed_comments(
    previous: Option<&Value>,
    now: &Value,
    links: &[CommentLink],
) -> Vec<CommentLink> {
    let ids = |replica: &Value| -> Option<Vec<String>> {
        let list = replica.get("comments")?.as_array()?;
        Some(
            list.iter()
                .filter_map(|c| c.get("id").and_then(Value::as_str))
                .map(str::to_string)
                .collect(),
        )
    };
    let (Some(before), Some(after)) = (previous.and_then(ids), ids(now)) else {
        return Vec::new();
    };
    links
        .iter()
        .filter(|l| before.contains(&l.remote_id) && !after.contains(&l.remote_id))
        .cloned()
        .collect()
}

/// The body a twin comment gets under the `close` policy: the text stays, marked.
pub fn closed_comment_body(body: &str) -> String {
    if body.starts_with(CLOSED_COMMENT) {
        body.to_string()
    } else {
        format!("{CLOSED_COMMENT}\n\n{body}")
    }
}

const CLOSED_COMMENT: &str = "*(Deleted on the other side.)*";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn link(local: &str, remote: &str) -> CommentLink {
        CommentLink {
            local_id: local.into(),
            remote_id: remote.into(),
        }
    }

    #[test]
    fn removed_comments_table() {
        let links = [link("L1", "R1"), link("L2", "R2")];
        let with = |ids: &[&str]| json!({ "comments": ids.iter().map(|i| json!({ "id": i, "body": "x" })).collect::<Vec<_>>() });
        let cases: [(&str, Option<Value>, Value, Vec<&str>); 6] = [
            (
                "one removed",
                Some(with(&["R1", "R2"])),
                with(&["R2"]),
                vec!["L1"],
            ),
            (
                "none removed",
                Some(with(&["R1"])),
                with(&["R1", "R3"]),
                vec![],
            ),
            (
                "all removed",
                Some(with(&["R1", "R2"])),
                with(&[]),
                vec!["L1", "L2"],
            ),
            ("no previous replica", None, with(&[]), vec![]),
            (
                "rules stopped sharing comments",
                Some(with(&["R1"])),
                json!({}),
                vec![],
            ),
            (
                "unlinked comment removed",
                Some(with(&["R9"])),
                with(&[]),
                vec![],
            ),
        ];
        for (name, previous, now, expected) in cases {
            let got: Vec<String> = removed_comments(previous.as_ref(), &now, &links)
                .into_iter()
                .map(|l| l.local_id)
                .collect();
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn moved_out_table() {
        let t = |q: &str, active| Trigger {
            id: "t1".into(),
            query: q.into(),
            active,
        };
        let item = Item {
            project: "OPS".into(),
            status: Some(crate::item::Named {
                name: "Done".into(),
            }),
            ..Item::default()
        };
        let from = |p: &str| Enrollment::Trigger { project: p.into() };
        let open_demo = || vec![t("project = DEMO AND status != Done", true)];
        let cases = [
            ("moved to another project", from("DEMO"), open_demo(), true),
            (
                "closed where it was",
                from("OPS"),
                vec![t("project = OPS AND status != Done", true)],
                false,
            ),
            (
                "moved where a trigger takes it",
                from("DEMO"),
                vec![t("project = OPS", true)],
                false,
            ),
            ("operator's sync", Enrollment::Operation, open_demo(), false),
            ("made by the peer", Enrollment::Peer, open_demo(), false),
            ("no triggers", from("DEMO"), vec![], false),
            (
                "only inactive triggers",
                from("DEMO"),
                vec![t("project = DEMO", false)],
                false,
            ),
        ];
        for (name, enrollment, triggers, expected) in cases {
            assert_eq!(moved_out(&enrollment, &triggers, &item), expected, "{name}");
        }
    }

    #[test]
    fn a_closed_comment_is_marked_once() {
        let once = closed_comment_body("hello");
        assert!(once.ends_with("hello") && once.starts_with(CLOSED_COMMENT));
        assert_eq!(closed_comment_body(&once), once);
    }
}
