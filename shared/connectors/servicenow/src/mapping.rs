//! ServiceNow's JSON to the domain `Item`, and the domain's names to ServiceNow's codes.
//!
//! Records are read with `sysparm_display_value=false` (values, UTC times) and
//! `sysparm_exclude_reference_link=true`; people and groups come dot-walked in the same
//! read (`assigned_to.email`). Choice fields are codes: their labels come from
//! `sys_choice`. `description` and journal entries are plain text: Markdown from the other
//! side is kept as its source text, which reads as plain text and comes back unchanged.
//!
//! Origin marker and twin link: `correlation_id` and `correlation_display`, the fields
//! ServiceNow keeps on task records (so incidents, problems, requested items) for exactly
//! this. ServiceNow's docs ("Correlation", Classic Correlation Field): "The Correlation ID
//! stores the globally unique ID of a remote record and creates a one-to-one relationship
//! between a local and a remote record"
//! (<https://servicenow-prod.fluidtopics.net/r/yokohama/integrate-applications/integration-hub-remote-process-sync/correlation.html>);
//! `correlation_display` names where a record came from
//! (<https://servicenowguru.com/integration/correlation-id-display-fields/>), and here also
//! shows the sync status.
//! A twin is found again with the Table API query `correlation_id=<marker>`.

use crate::query::millis;
use serde_json::Value;
use std::collections::BTreeMap;
use twinsync_core::{Attachment, Comment, Item, Named, User};

/// What `correlation_display` says on records sync created or linked.
pub const CORRELATION_DISPLAY: &str = "twinsync";

/// The two journals and what they are in the domain.
pub const COMMENTS: &str = "comments";
pub const WORK_NOTES: &str = "work_notes";

/// The fields every read asks for (`sysparm_fields`): what the rules use, nothing else.
pub const FIELDS: [&str; 22] = [
    "sys_id",
    "number",
    "short_description",
    "description",
    "state",
    "impact",
    "urgency",
    "priority",
    "assignment_group",
    "assignment_group.name",
    "assigned_to",
    "assigned_to.email",
    "assigned_to.name",
    "caller_id",
    "caller_id.email",
    "caller_id.name",
    "close_code",
    "close_notes",
    "correlation_id",
    "correlation_display",
    "sys_updated_on",
    "sys_mod_count",
];

/// The custom fields an item shows besides the `u_` fields of the config.
pub const KNOWN_CUSTOM: [&str; 3] = ["assignment_group", "close_code", "close_notes"];

/// A choice field's codes and labels, from `sys_choice` (`value`, `label`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Choices(pub Vec<(String, String)>);

impl Choices {
    pub fn from_rows(rows: &[Value]) -> Choices {
        Choices(
            rows.iter()
                .filter_map(|r| Some((text(&r["value"])?, text(&r["label"])?)))
                .collect(),
        )
    }

    pub fn label(&self, code: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, l)| l.as_str())
    }

    /// The code of the choice named `name` (its label, or its label without the
    /// number ServiceNow puts in front of priorities: "1 - Critical" is "Critical").
    pub fn code(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(c, l)| {
                l.eq_ignore_ascii_case(name) || bare(l).eq_ignore_ascii_case(name) || c == name
            })
            .map(|(c, _)| c.as_str())
    }

    pub fn labels(&self) -> Vec<String> {
        self.0.iter().map(|(_, l)| bare(l).to_string()).collect()
    }
}

/// "1 - Critical" without its number.
pub fn bare(label: &str) -> &str {
    match label.split_once(" - ") {
        Some((n, rest)) if n.trim().chars().all(|c| c.is_ascii_digit()) => rest.trim(),
        _ => label,
    }
}

/// The impact and urgency that make `priority` under ServiceNow's default priority
/// lookup (priority = impact + urgency - 1 for impact and urgency 1 to 3).
pub fn impact_urgency(priority: &str) -> Option<(&'static str, &'static str)> {
    Some(match priority {
        "1" => ("1", "1"),
        "2" => ("1", "2"),
        "3" => ("2", "2"),
        "4" => ("2", "3"),
        "5" => ("3", "3"),
        _ => return None,
    })
}

/// The state codes that close a record: resolving needs `close_code` and `close_notes`.
pub fn is_resolution(state_label: &str) -> bool {
    ["resolved", "closed"].contains(&bare(state_label).to_ascii_lowercase().as_str())
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => o.get("value").and_then(text),
        _ => None,
    }
}

/// A field's value as text; empty when absent.
pub fn field(record: &Value, name: &str) -> String {
    text(&record[name]).unwrap_or_default()
}

fn person(record: &Value, reference: &str) -> Option<User> {
    let email = field(record, &format!("{reference}.email"));
    let name = field(record, &format!("{reference}.name"));
    (!email.is_empty() || !field(record, reference).is_empty()).then_some(User {
        email,
        display_name: name,
    })
}

const MARK_OPEN: &str = "[code]<!-- twinsync-origin: ";
const MARK_CLOSE: &str = " -->[/code]";

/// A journal entry with its origin marker: an HTML comment inside ServiceNow's `[code]`
/// tags, which the form renders as HTML and so does not show.
pub fn with_marker(body: &str, origin: Option<&str>) -> String {
    match origin {
        Some(o) if !o.is_empty() => format!("{body}\n\n{MARK_OPEN}{o}{MARK_CLOSE}"),
        _ => body.to_string(),
    }
}

/// A journal entry's text and its origin marker, if it ends with one.
pub fn split_marker(text: &str) -> (String, Option<String>) {
    let trimmed = text.trim_end();
    if let Some(rest) = trimmed.strip_suffix(MARK_CLOSE)
        && let Some(at) = rest.rfind(MARK_OPEN)
    {
        let origin = &rest[at + MARK_OPEN.len()..];
        if !origin.contains('\n') {
            let body = rest[..at].trim_end_matches(['\n', '\r']);
            return (body.to_string(), Some(origin.to_string()));
        }
    }
    (text.to_string(), None)
}

/// A `sys_journal_field` row as a comment; `authors` gives each `sys_created_by` user
/// name's person. Work notes are internal comments.
pub fn comment(entry: &Value, authors: &BTreeMap<String, User>) -> Comment {
    let (body, origin) = split_marker(&field(entry, "value"));
    let by = field(entry, "sys_created_by");
    Comment {
        id: field(entry, "sys_id"),
        author: authors.get(&by).cloned().or_else(|| {
            (!by.is_empty()).then(|| User {
                email: String::new(),
                display_name: by.clone(),
            })
        }),
        body,
        created_ms: millis(&field(entry, "sys_created_on")),
        origin,
        remote_id: None,
        internal: field(entry, "element") == WORK_NOTES,
    }
}

/// An Attachment API record (`GET /api/now/attachment`) as an attachment.
pub fn attachment(a: &Value) -> Attachment {
    Attachment {
        id: field(a, "sys_id"),
        filename: field(a, "file_name"),
        mime_type: field(a, "content_type"),
        size: field(a, "size_bytes").parse().unwrap_or(0),
        url: field(a, "download_link"),
        remote_id: None,
    }
}

/// What a record is read with besides its own fields.
pub struct Context<'a> {
    pub base_url: &'a str,
    pub table: &'a str,
    pub states: &'a Choices,
    pub priorities: &'a Choices,
    pub custom_fields: &'a [String],
}

/// A record as a domain item, with its journal entries and attachments.
pub fn to_item(
    cx: &Context<'_>,
    record: &Value,
    comments: Vec<Comment>,
    attachments: Vec<Attachment>,
) -> Item {
    let sys_id = field(record, "sys_id");
    let choice = |choices: &Choices, code: String| {
        (!code.is_empty()).then(|| {
            Named::new(
                choices
                    .label(&code)
                    .map(bare)
                    .unwrap_or(code.as_str())
                    .to_string(),
            )
        })
    };
    let mut custom_fields = BTreeMap::new();
    for name in KNOWN_CUSTOM
        .iter()
        .map(|s| s.to_string())
        .chain(cx.custom_fields.iter().cloned())
    {
        let shown = if name == "assignment_group" {
            field(record, "assignment_group.name")
        } else {
            field(record, &name)
        };
        if !shown.is_empty() {
            custom_fields.insert(name, Value::String(shown));
        }
    }
    let updated_ms = millis(&field(record, "sys_updated_on"));
    let origin = field(record, "correlation_id");
    Item {
        key: field(record, "number"),
        project: cx.table.to_string(),
        url: format!("{}/{}.do?sys_id={sys_id}", cx.base_url, cx.table),
        summary: field(record, "short_description"),
        description: field(record, "description"),
        status: choice(cx.states, field(record, "state")),
        priority: choice(cx.priorities, field(record, "priority")),
        labels: Vec::new(),
        assignee: person(record, "assigned_to"),
        reporter: person(record, "caller_id"),
        comments,
        attachments,
        custom_fields,
        // `sys_mod_count` grows with every write, journal entries included; unlike
        // `sys_updated_on` it tells two edits in one second apart.
        version: field(record, "sys_mod_count").parse().unwrap_or(0),
        updated_ms,
        origin: (!origin.is_empty()).then_some(origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markers_round_trip_and_labels_lose_their_numbers() {
        for (body, origin) in [("Fixed.", Some("twinsync:c:INC1")), ("Two\n\nlines", None)] {
            let (back, found) = split_marker(&with_marker(body, origin));
            assert_eq!((back.as_str(), found.as_deref()), (body, origin));
        }
        assert_eq!(bare("1 - Critical"), "Critical");
        assert_eq!(bare("In Progress"), "In Progress");
        let p = Choices(vec![("1".into(), "1 - Critical".into())]);
        assert_eq!(p.code("critical"), Some("1"));
        assert_eq!(impact_urgency("3"), Some(("2", "2")));
        assert!(is_resolution("Resolved") && !is_resolution("On Hold"));
    }

    #[test]
    fn a_journal_entry_is_a_comment_with_its_own_id_author_and_time() {
        let authors = BTreeMap::from([(
            "beth.anglin".to_string(),
            User {
                email: "beth.anglin@example.com".into(),
                display_name: "Beth Anglin".into(),
            },
        )]);
        let c = comment(
            &json!({"sys_id": "j1", "element": "work_notes", "element_id": "r1",
                    "value": "Checked the logs.", "sys_created_by": "beth.anglin",
                    "sys_created_on": "2026-11-23 10:14:01"}),
            &authors,
        );
        assert_eq!((c.id.as_str(), c.internal), ("j1", true));
        assert_eq!(
            c.author.map(|a| a.email).as_deref(),
            Some("beth.anglin@example.com")
        );
        assert_eq!(c.created_ms, 1_795_428_841_000);
    }
}
