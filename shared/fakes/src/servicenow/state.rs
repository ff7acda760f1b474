//! The fake ServiceNow's state: tables of records (every value a string, as ServiceNow
//! keeps them), the users, groups, choices and properties an instance starts with,
//! attachments, OAuth tokens, and the rules a write follows (numbers, `sys_mod_count`,
//! the priority computed from impact and urgency, journal fields, data policies).

use super::{FakeOptions, Fault};
use crate::plumbing::{Traffic, now_ms};
use crate::server::Shared;
use std::collections::{BTreeMap, HashMap};

/// One record: field name → value.
pub type Record = BTreeMap<String, String>;

/// The task tables and the prefix of their numbers.
pub(super) const TASK_TABLES: [(&str, &str); 3] = [
    ("incident", "INC"),
    ("problem", "PRB"),
    ("sc_req_item", "RITM"),
];

/// Every table the fake has; any other name is ServiceNow's "Invalid table".
pub(super) const TABLES: [&str; 8] = [
    "incident",
    "problem",
    "sc_req_item",
    "sys_user",
    "sys_user_group",
    "sys_choice",
    "sys_journal_field",
    "sys_properties",
];

/// Reference fields: (field, the table it points to).
pub(super) const REFERENCES: [(&str, &str); 5] = [
    ("assigned_to", "sys_user"),
    ("caller_id", "sys_user"),
    ("opened_by", "sys_user"),
    ("assignment_group", "sys_user_group"),
    ("manager", "sys_user"),
];

/// The choices of an incident: (element, value, label), as a new instance has them.
const CHOICES: [(&str, &str, &str); 20] = [
    ("state", "1", "New"),
    ("state", "2", "In Progress"),
    ("state", "3", "On Hold"),
    ("state", "6", "Resolved"),
    ("state", "7", "Closed"),
    ("state", "8", "Canceled"),
    ("impact", "1", "1 - High"),
    ("impact", "2", "2 - Medium"),
    ("impact", "3", "3 - Low"),
    ("urgency", "1", "1 - High"),
    ("urgency", "2", "2 - Medium"),
    ("urgency", "3", "3 - Low"),
    ("priority", "1", "1 - Critical"),
    ("priority", "2", "2 - High"),
    ("priority", "3", "3 - Moderate"),
    ("priority", "4", "4 - Low"),
    ("priority", "5", "5 - Planning"),
    ("hold_reason", "1", "Awaiting Caller"),
    ("hold_reason", "3", "Awaiting Problem"),
    ("hold_reason", "4", "Awaiting Vendor"),
];

/// The columns every task record has (empty until set): ServiceNow answers a record
/// with all its table's columns, and clients such as pysnc send only the ones they read.
pub(super) const TASK_COLUMNS: [&str; 17] = [
    "short_description",
    "description",
    "category",
    "assigned_to",
    "assignment_group",
    "caller_id",
    "close_code",
    "close_notes",
    "hold_reason",
    "correlation_id",
    "correlation_display",
    "comments",
    "work_notes",
    "resolved_at",
    "closed_at",
    "parent",
    "u_customer",
];

/// The journal fields of task records.
pub(super) const JOURNALS: [&str; 2] = ["comments", "work_notes"];

pub(super) struct AttachmentData {
    pub(super) sys_id: String,
    pub(super) table: String,
    pub(super) table_sys_id: String,
    pub(super) file_name: String,
    pub(super) content_type: String,
    pub(super) bytes: Vec<u8>,
    pub(super) created_by: String,
    pub(super) created_on: String,
}

/// An OAuth access token: who it acts as, until when.
pub(super) struct Token {
    pub(super) user: String,
    pub(super) expires_ms: i64,
}

#[derive(Default)]
pub struct Data {
    pub(super) tables: BTreeMap<String, Vec<Record>>,
    pub(super) numbers: HashMap<String, u64>,
    pub(super) attachments: Vec<AttachmentData>,
    pub(super) tokens: HashMap<String, Token>,
    /// Refresh tokens → the user they renew for.
    pub(super) refresh: HashMap<String, String>,
}

pub(super) type Fake = Shared<FakeOptions, Data, Fault>;

pub(super) fn sys_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Now as ServiceNow writes date-times: UTC, to the second.
pub(super) fn now_text() -> String {
    twinsync_servicenow::query::timestamp(now_ms())
}

fn row(pairs: &[(&str, &str)]) -> Record {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The state of a fake at `base` with the users and groups `options` names.
pub(super) fn fake(base: String, options: FakeOptions) -> Fake {
    let mut data = Data::default();
    for t in TABLES {
        data.tables.insert(t.to_string(), Vec::new());
    }
    let created = now_text();
    let users = &mut data.tables.entry("sys_user".into()).or_default();
    for u in &options.users {
        users.push(row(&[
            ("sys_id", &sys_id()),
            ("user_name", &u.user_name),
            ("email", &u.email),
            ("name", &u.name),
            ("active", "true"),
            ("sys_created_on", &created),
        ]));
    }
    let groups = data.tables.entry("sys_user_group".into()).or_default();
    for g in &options.groups {
        groups.push(row(&[
            ("sys_id", &sys_id()),
            ("name", g),
            ("active", "true"),
        ]));
    }
    let choices = data.tables.entry("sys_choice".into()).or_default();
    for (seq, (element, value, label)) in CHOICES.iter().enumerate() {
        for table in ["incident", "task"] {
            choices.push(row(&[
                ("sys_id", &sys_id()),
                ("name", table),
                ("element", element),
                ("value", value),
                ("label", label),
                ("sequence", &seq.to_string()),
                ("inactive", "false"),
            ]));
        }
    }
    let properties = data.tables.entry("sys_properties".into()).or_default();
    for (name, value) in &options.properties {
        properties.push(row(&[
            ("sys_id", &sys_id()),
            ("name", name),
            ("value", value),
        ]));
    }
    let traffic = Traffic::start("ServiceNow", 64 << 20, 64 << 20);
    Shared::new(base, options, data, traffic)
}

/// Priority from impact and urgency, as ServiceNow's default priority lookup has it.
pub(super) fn priority(impact: &str, urgency: &str) -> String {
    let n = |s: &str| s.parse::<u8>().unwrap_or(3).clamp(1, 3);
    (n(impact) + n(urgency) - 1).to_string()
}

/// Why a write is refused by the instance's data policies, if it is.
pub(super) fn policy_violation(record: &Record) -> Option<String> {
    let empty = |f: &str| record.get(f).is_none_or(|v| v.trim().is_empty());
    let missing: Vec<&str> = match record.get("state").map(String::as_str) {
        Some("6" | "7") => [
            ("close_code", "Resolution code"),
            ("close_notes", "Resolution notes"),
        ]
        .iter()
        .filter(|(f, _)| empty(f))
        .map(|(_, label)| *label)
        .collect(),
        Some("3") if empty("hold_reason") => vec!["On hold reason"],
        _ => Vec::new(),
    };
    (!missing.is_empty()).then(|| {
        format!(
            "Data Policy Exception: \n\tThe following fields are mandatory: {}\n",
            missing.join(", ")
        )
    })
}

impl Data {
    pub(super) fn table(&self, name: &str) -> &[Record] {
        self.tables.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    pub(super) fn find(&self, table: &str, sys_id: &str) -> Option<&Record> {
        self.table(table)
            .iter()
            .find(|r| r.get("sys_id").map(String::as_str) == Some(sys_id))
    }

    pub(super) fn user_by_name(&self, user_name: &str) -> Option<&Record> {
        self.table("sys_user")
            .iter()
            .find(|r| r.get("user_name").map(String::as_str) == Some(user_name))
    }

    /// The next number of a task table (`INC0010001` on).
    pub(super) fn next_number(&mut self, table: &str) -> String {
        let prefix = TASK_TABLES
            .iter()
            .find(|(t, _)| *t == table)
            .map(|(_, p)| *p)
            .unwrap_or("TASK");
        let n = self.numbers.entry(table.to_string()).or_insert(10_000);
        *n += 1;
        format!("{prefix}{:07}", *n)
    }

    /// Adds a journal entry for the record `sys_id` of `table`.
    pub(super) fn journal(
        &mut self,
        table: &str,
        sys_id: &str,
        element: &str,
        value: &str,
        by: &str,
    ) {
        let entry = row(&[
            ("sys_id", &self::sys_id()),
            ("name", table),
            ("element", element),
            ("element_id", sys_id),
            ("value", value),
            ("sys_created_by", by),
            ("sys_created_on", &now_text()),
        ]);
        self.tables
            .entry("sys_journal_field".into())
            .or_default()
            .push(entry);
    }
}

/// Whether `table` is a task table (numbers, journals, priorities).
pub(super) fn is_task(table: &str) -> bool {
    TASK_TABLES.iter().any(|(t, _)| *t == table)
}
