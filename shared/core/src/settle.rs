//! What a read-back after a write may hold besides what sync wrote: edits someone made
//! meanwhile, a tracker's defaults, comments written at the same time. The incoming
//! handler settles the read-back with these before it becomes the twin's baseline, so an
//! edit made while sync wrote still goes out as a change.

use crate::Item;
use crate::merge::{SentSeen, changed_fields};

/// `after` without the edits someone made while we wrote. Every tracker holds summary,
/// description, status, priority and labels: a read-back of one of them that differs from
/// what sync wrote (`written`) was changed by someone between sync's read and its
/// read-back (or the tracker refused or reshaped the value). The other side has what sync
/// wrote, so the baseline and the merge base hold that, and the next change event sends
/// the tracker's value. Assignee, reporter and custom fields may not take at all (a user
/// the tracker does not know, a field it does not have): a read-back equal to what the
/// item had before (`before`) is then no edit and stays, or every echo would be sent again
/// and an unknown assignee would unassign the other side.
pub fn without_concurrent_edits(after: &Item, before: &Item, written: &Item) -> Item {
    let mut out = after.clone();
    macro_rules! settle {
        ($($field:ident),*) => {$(
            if after.$field != written.$field {
                out.$field = written.$field.clone();
            }
        )*};
    }
    settle!(summary, description, status, priority, labels);
    // Assignee, reporter and custom fields: only where someone moved them.
    overlay(&out, written, &edited_meanwhile(after, before, written))
}

/// The fields someone changed between our read (`before`) and the read-back (`after`):
/// they read back neither as we wrote them nor as they were, by the names `overlay`
/// takes.
pub fn edited_meanwhile(after: &Item, before: &Item, written: &Item) -> Vec<String> {
    let mut out = Vec::new();
    macro_rules! edited {
        ($($field:ident),*) => {$(
            if after.$field != written.$field && after.$field != before.$field {
                out.push(stringify!($field).to_string());
            }
        )*};
    }
    edited!(
        summary,
        description,
        status,
        priority,
        assignee,
        reporter,
        labels
    );
    let names: std::collections::BTreeSet<&String> = after
        .custom_fields
        .keys()
        .chain(before.custom_fields.keys())
        .chain(written.custom_fields.keys())
        .collect();
    for name in names {
        let now = after.custom_fields.get(name);
        if now != written.custom_fields.get(name) && now != before.custom_fields.get(name) {
            out.push(format!("customFields.{name}"));
        }
    }
    out
}

/// Of the kept fields a person changed during the write (`edited`), those that stay as
/// sync wrote them (`written`) in what the other side is said to have: the ones our last
/// send (`sent`) carried as written and the other side had not applied when it built the
/// replica (`seen`). It may still take them, so a person's edit back to its own value
/// has to go out (simulation seed 157 of V5). Anywhere else the other side holds the
/// value its replica carried: said to hold ours, a value kept here and never sent (a
/// person set it back to ours after the write) looked like no change on both sides, and
/// the pair stayed apart (seed 2308 of V5 at 300 steps).
pub fn sent_as_written(
    edited: &[String],
    written: &Item,
    sent: Option<&Item>,
    seen: SentSeen,
) -> Vec<String> {
    let Some(sent) = sent.filter(|_| seen != SentSeen::Seen) else {
        return Vec::new();
    };
    let apart = changed_fields(sent, written);
    edited
        .iter()
        .filter(|f| !apart.contains(f))
        .cloned()
        .collect()
}

/// `after` without the edits someone made between our create and its read-back. The
/// item did not exist before, so a field we left unset holds the tracker's default, not
/// an edit; a description may come back in the tracker's own form (Textile, ADF); an
/// assignee or custom field may not take. A summary, status, priority or labels we set
/// that read back otherwise were changed by someone (the person who closes the new issue
/// at once): the baseline holds what we wrote, so that change still goes out.
pub fn without_edits_since_create(after: &Item, written: &Item) -> Item {
    let mut out = after.clone();
    if after.summary != written.summary {
        out.summary = written.summary.clone();
    }
    if written.status.is_some() && after.status != written.status {
        out.status = written.status.clone();
    }
    if written.priority.is_some() && after.priority != written.priority {
        out.priority = written.priority.clone();
    }
    if !written.labels.is_empty() && after.labels != written.labels {
        out.labels = written.labels.clone();
    }
    out
}

/// `after` without the comments someone wrote on this side while we wrote: they carry no
/// origin marker (every comment we write has one) and were not there before. They still
/// have to go out, so they must not enter the baseline, even on a first sync.
pub fn without_concurrent_comments(after: &Item, before: &Item) -> Item {
    let mut out = after.clone();
    out.comments
        .retain(|c| c.origin.is_some() || before.comments.iter().any(|b| b.id == c.id));
    out
}

/// `after` without this side's own comments the other side has never been sent (`sent`:
/// the ids of local comments it has, or was sent). A person's comment made since the last
/// send is in the item sync read before writing, so [`without_concurrent_comments`] keeps
/// it; but the other side's replica did not carry it, and a baseline holding it would
/// make the next read look like an echo, and the comment would never go out (found by
/// the simulation, seed 24). Comments sync wrote here carry an origin marker and stay.
pub fn without_unsent_comments(after: &Item, sent: &std::collections::BTreeSet<String>) -> Item {
    let mut out = after.clone();
    out.comments
        .retain(|c| c.origin.is_some() || sent.contains(&c.id));
    out
}

/// `after` without this side's own attachments the other side has never been sent, for
/// the reason [`without_unsent_comments`] gives (simulation seed 108). An attachment
/// has no origin marker: one the other side has is in `sent` (by id: in the merge base,
/// which holds those sync wrote before, or in a replica sent since) or one the other
/// side is known to have (`written`: written by this apply or carried by its replica, by
/// file name and size, as the merge matches them).
pub fn without_unsent_attachments(
    after: &Item,
    sent: &std::collections::BTreeSet<String>,
    written: &[crate::Attachment],
) -> Item {
    let mut out = after.clone();
    out.attachments.retain(|a| {
        sent.contains(&a.id)
            || written
                .iter()
                .any(|w| w.filename == a.filename && w.size == a.size)
    });
    out
}

/// `after` with the fields in `kept` taken from `remote`.
pub fn overlay(after: &Item, remote: &Item, kept: &[String]) -> Item {
    let mut out = after.clone();
    for field in kept {
        match field.as_str() {
            "summary" => out.summary = remote.summary.clone(),
            "description" => out.description = remote.description.clone(),
            "status" => out.status = remote.status.clone(),
            "priority" => out.priority = remote.priority.clone(),
            "assignee" => out.assignee = remote.assignee.clone(),
            "reporter" => out.reporter = remote.reporter.clone(),
            "labels" => out.labels = remote.labels.clone(),
            custom => {
                if let Some(name) = custom.strip_prefix("customFields.") {
                    match remote.custom_fields.get(name) {
                        Some(v) => out.custom_fields.insert(name.to_string(), v.clone()),
                        None => out.custom_fields.remove(name),
                    };
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Comment;

    /// An item with a summary and an assignee, the two fields these tables vary.
    fn item(summary: &str, assignee: Option<&str>) -> Item {
        Item {
            summary: summary.into(),
            assignee: assignee.map(|e| crate::User {
                email: e.into(),
                display_name: e.into(),
            }),
            ..Item::default()
        }
    }

    #[test]
    fn an_edit_between_our_read_and_the_read_back_is_named() {
        // (before, written, after, fields edited meanwhile)
        let table: [(Item, Item, Item, &[&str]); 4] = [
            (item("a", None), item("b", None), item("b", None), &[]),
            // The tracker kept the old value: a refusal, not an edit.
            (item("a", None), item("b", None), item("a", None), &[]),
            // Seed 157 (V5): the assignee kept here, then set by a person mid-write.
            (
                item("a", Some("bo")),
                item("b", Some("bo")),
                item("b", None),
                &["assignee"],
            ),
            (
                item("a", None),
                item("b", None),
                item("c", Some("cy")),
                &["summary", "assignee"],
            ),
        ];
        for (before, written, after, want) in table {
            assert_eq!(
                edited_meanwhile(&after, &before, &written),
                want,
                "{before:?} {written:?} {after:?}"
            );
        }
    }

    #[test]
    fn a_kept_value_edited_meanwhile_stays_as_written_only_while_our_send_carries_it() {
        let edited = ["summary".to_string(), "assignee".to_string()];
        let written = item("s", Some("bo"));
        // (our last send, whether the other side had applied it) -> fields as written
        let table: [(Option<Item>, SentSeen, &[&str]); 5] = [
            // Seed 2308 (V5): never sent, so the other side has its own value.
            (None, SentSeen::Unknown, &[]),
            // Seed 157 (V5): our send on its way carries what we wrote.
            (
                Some(item("s", Some("bo"))),
                SentSeen::Unseen,
                &["summary", "assignee"],
            ),
            (
                Some(item("s", Some("bo"))),
                SentSeen::Unknown,
                &["summary", "assignee"],
            ),
            // The other side had applied it and still sent its own value.
            (Some(item("s", Some("bo"))), SentSeen::Seen, &[]),
            // The send carried another assignee: only the summary is on its way.
            (Some(item("s", Some("cy"))), SentSeen::Unseen, &["summary"]),
        ];
        for (sent, seen, want) in table {
            assert_eq!(
                sent_as_written(&edited, &written, sent.as_ref(), seen),
                want,
                "{sent:?} {seen:?}"
            );
        }
    }

    #[test]
    fn unsent_attachments_stay_out_of_the_baseline() {
        let file = |id: &str, name: &str| crate::Attachment {
            id: id.into(),
            filename: name.into(),
            size: 3,
            ..crate::Attachment::default()
        };
        let item = Item {
            attachments: vec![file("1", "mine.txt"), file("2", "theirs.txt")],
            ..Item::default()
        };
        let written = [file("", "theirs.txt")];
        // (ids the other side has or was sent) -> ids left
        let cases: [(&[&str], &[&str]); 2] = [(&[], &["2"]), (&["1"], &["1", "2"])];
        for (sent, left) in cases {
            let sent = sent.iter().map(|s| s.to_string()).collect();
            let out = without_unsent_attachments(&item, &sent, &written);
            let ids: Vec<&str> = out.attachments.iter().map(|a| a.id.as_str()).collect();
            assert_eq!(ids, left, "{sent:?}");
        }
    }

    #[test]
    fn unsent_comments_stay_out_of_the_baseline() {
        let comment = |id: &str, origin: Option<&str>| crate::Comment {
            id: id.into(),
            body: format!("body {id}"),
            origin: origin.map(str::to_string),
            ..crate::Comment::default()
        };
        let item = Item {
            comments: vec![
                comment("1", None),
                comment("2", Some("twinsync:c:9")),
                comment("3", None),
            ],
            ..Item::default()
        };
        // (ids the other side has or was sent) -> ids left
        let cases: [(&[&str], &[&str]); 3] = [
            (&[], &["2"]),
            (&["1"], &["1", "2"]),
            (&["1", "3"], &["1", "2", "3"]),
        ];
        for (sent, left) in cases {
            let sent = sent.iter().map(|s| s.to_string()).collect();
            let out = without_unsent_comments(&item, &sent);
            let ids: Vec<&str> = out.comments.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, left, "{sent:?}");
        }
    }

    fn comment(id: &str, origin: Option<&str>) -> Comment {
        Comment {
            id: id.into(),
            body: format!("comment {id}"),
            origin: origin.map(str::to_string),
            ..Comment::default()
        }
    }

    #[test]
    fn edits_made_while_we_wrote_stay_out_of_the_baseline() {
        let item = |summary: &str, status: &str, team: Option<&str>| {
            let mut i = Item {
                summary: summary.into(),
                status: Some(crate::Named::new(status)),
                ..Item::default()
            };
            if let Some(t) = team {
                i.custom_fields.insert("Team".into(), serde_json::json!(t));
            }
            i
        };
        // (before, written, after, settled)
        let cases = [
            // Nothing happened meanwhile: the read-back is the baseline.
            (
                item("a", "Open", None),
                item("b", "Done", Some("red")),
                item("b", "Done", Some("red")),
                item("b", "Done", Some("red")),
            ),
            // Someone changed a field we did not write.
            (
                item("a", "Open", None),
                item("a", "Done", None),
                item("x", "Done", None),
                item("a", "Done", None),
            ),
            // Someone changed a field we did write, right after our write.
            (
                item("a", "Open", None),
                item("a", "Done", Some("red")),
                item("a", "Open", Some("blue")),
                item("a", "Done", Some("red")),
            ),
            // Someone cleared a custom field the item had and we kept.
            (
                item("a", "Open", Some("red")),
                item("a", "Open", Some("red")),
                item("a", "Open", None),
                item("a", "Open", Some("red")),
            ),
            // The tracker has no such field: what we wrote did not stick, and that is no edit.
            (
                item("a", "Open", None),
                item("a", "Open", Some("red")),
                item("a", "Open", None),
                item("a", "Open", None),
            ),
            // Someone set a custom field we did not write.
            (
                item("a", "Open", None),
                item("a", "Done", None),
                item("a", "Done", Some("blue")),
                item("a", "Done", None),
            ),
        ];
        for (i, (before, written, after, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                without_concurrent_edits(&after, &before, &written),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn edits_made_right_after_a_create_stay_out_of_the_baseline() {
        let item = |status: Option<&str>, priority: Option<&str>, team: Option<&str>| {
            let mut i = Item {
                summary: "s".into(),
                description: "d".into(),
                status: status.map(crate::Named::new),
                priority: priority.map(crate::Named::new),
                ..Item::default()
            };
            if let Some(t) = team {
                i.custom_fields.insert("Team".into(), serde_json::json!(t));
            }
            i
        };
        // (written, after, settled)
        let cases = [
            // The tracker's defaults for what we left unset are no edits.
            (
                item(None, None, None),
                item(Some("New"), Some("Normal"), None),
                item(Some("New"), Some("Normal"), None),
            ),
            // Someone closed the new item at once: the close still goes out.
            (
                item(Some("In Progress"), Some("Urgent"), None),
                item(Some("Closed"), Some("Urgent"), None),
                item(Some("In Progress"), Some("Urgent"), None),
            ),
            // A custom field that did not take is no edit.
            (
                item(Some("New"), None, Some("red")),
                item(Some("New"), Some("Normal"), None),
                item(Some("New"), Some("Normal"), None),
            ),
        ];
        for (i, (written, after, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                without_edits_since_create(&after, &written),
                want,
                "case {i}"
            );
        }
    }

    #[test]
    fn a_comment_written_during_the_write_stays_out_of_the_baseline() {
        let before = Item {
            comments: vec![comment("1", None)],
            ..Item::default()
        };
        let after = Item {
            comments: vec![
                comment("1", None),
                comment("2", Some("twinsync:x:9")),
                comment("3", None),
            ],
            ..Item::default()
        };
        let ids: Vec<String> = without_concurrent_comments(&after, &before)
            .comments
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["1", "2"]);
    }
}
