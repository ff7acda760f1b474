//! The fake Jira's state: projects, accounts, issues with their comments, attachments
//! and properties, the dynamic webhooks, and the workflow and priorities every project
//! shares.

use super::{FakeJira, FakeOptions, Fault};
use crate::plumbing::Traffic;
use crate::server::Shared;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use twinsync_jira::mapping::millis;

/// The workflow: every status reachable from every other (Jira's "global" transitions),
/// as in a team-managed project. (status id, name, category key, category name)
pub(super) const STATUSES: [(&str, &str, &str, &str); 3] = [
    ("10000", "To Do", "new", "To Do"),
    ("3", "In Progress", "indeterminate", "In Progress"),
    ("10001", "Done", "done", "Done"),
];
/// The issue types every project has: id, name, description, hierarchy level.
pub(super) const ISSUE_TYPES: [(&str, &str, &str, i64); 4] = [
    ("10002", "Task", "A small, distinct piece of work.", 0),
    ("10003", "Bug", "A problem or error.", 0),
    ("10004", "Story", "A user story.", 0),
    (
        "10000",
        "Epic",
        "A big user story that needs to be broken down.",
        1,
    ),
];
pub(super) const PRIORITIES: [(&str, &str); 5] = [
    ("1", "Highest"),
    ("2", "High"),
    ("3", "Medium"),
    ("4", "Low"),
    ("5", "Lowest"),
];

#[derive(Clone)]
pub(super) struct CommentData {
    pub(super) id: u64,
    pub(super) body: Value,
    pub(super) author: String,
    pub(super) properties: BTreeMap<String, Value>,
    pub(super) created_ms: i64,
    pub(super) updated_ms: i64,
}

#[derive(Clone)]
pub(super) struct AttachmentData {
    pub(super) id: u64,
    pub(super) filename: String,
    pub(super) mime: String,
    pub(super) bytes: Vec<u8>,
    pub(super) author: String,
    pub(super) created_ms: i64,
}

#[derive(Clone)]
pub(super) struct IssueData {
    pub(super) id: u64,
    pub(super) key: String,
    pub(super) project: String,
    /// Its index in [`ISSUE_TYPES`].
    pub(super) issue_type: usize,
    pub(super) summary: String,
    pub(super) description: Option<Value>,
    pub(super) status: usize,
    pub(super) priority: Option<usize>,
    pub(super) labels: Vec<String>,
    pub(super) assignee: Option<String>,
    pub(super) reporter: Option<String>,
    /// Who created it; unlike the reporter, nobody can change it.
    pub(super) creator: String,
    pub(super) custom: BTreeMap<String, Value>,
    pub(super) properties: BTreeMap<String, Value>,
    pub(super) comments: Vec<CommentData>,
    pub(super) attachments: Vec<AttachmentData>,
    /// Remote issue links as posted, with their `id` and `self`.
    pub(super) remote_links: Vec<Value>,
    pub(super) created_ms: i64,
    pub(super) updated_ms: i64,
}

impl IssueData {
    /// A new task `key` of `project` as Jira makes it: "To Do", priority "High",
    /// reported by its creator, made at `now`.
    pub(super) fn new(id: u64, key: String, project: String, creator: String, now: i64) -> Self {
        IssueData {
            id,
            key,
            project,
            issue_type: 0,
            summary: String::new(),
            description: None,
            status: 0,
            priority: Some(2),
            labels: Vec::new(),
            assignee: None,
            reporter: Some(creator.clone()),
            creator,
            custom: BTreeMap::new(),
            properties: BTreeMap::new(),
            comments: Vec::new(),
            attachments: Vec::new(),
            remote_links: Vec::new(),
            created_ms: now,
            updated_ms: now,
        }
    }

    /// Moves `updated` to `now`, and at least a millisecond on, so every change shows.
    pub(super) fn touch(&mut self, now: i64) {
        self.updated_ms = now.max(self.updated_ms + 1);
    }
}

pub(super) struct Hook {
    pub(super) id: u64,
    pub(super) url: String,
    pub(super) events: Vec<String>,
    pub(super) jql: String,
    pub(super) expires_ms: i64,
}

/// Everything the fake holds, under one lock.
#[derive(Default)]
pub struct Data {
    /// Project key → the last issue number.
    pub(super) projects: HashMap<String, u64>,
    pub(super) issues: BTreeMap<u64, IssueData>,
    pub(super) seq: u64,
    pub(super) hooks: Vec<Hook>,
    /// Accounts: email → (account id, display name).
    pub(super) accounts: BTreeMap<String, (String, String)>,
}

/// The fake's state, shared by its handlers.
pub(super) type Fake = Shared<FakeOptions, Data, Fault>;

/// The state of a fake reachable at `base` with the projects and accounts `options`
/// names.
pub(super) fn fake(base: String, options: FakeOptions) -> Fake {
    let mut data = Data::default();
    for p in &options.projects {
        data.projects.insert(p.clone(), 0);
    }
    for (n, (email, name)) in options.accounts.iter().enumerate() {
        data.accounts.insert(
            email.clone(),
            (format!("5b10ac8d82e05b22cc7d{n:04}"), name.clone()),
        );
    }
    let traffic = Traffic::start("Jira", 64 << 20, 64 << 20);
    Shared::new(base, options, data, traffic)
}

/// The issue `key` names: its id or its key.
pub(super) fn find_issue<'a>(data: &'a Data, key: &str) -> Option<&'a IssueData> {
    match key.parse::<u64>() {
        Ok(id) => data.issues.get(&id),
        Err(_) => data.issues.values().find(|i| i.key == key),
    }
}

impl Fake {
    /// Whether the account `email` may browse `project`.
    pub(super) fn can_browse(&self, email: &str, project: &str) -> bool {
        let access = &self.options.project_access;
        !access.iter().any(|(e, _)| e == email)
            || access.iter().any(|(e, p)| e == email && p == project)
    }
}

/// The account id of `email`, empty for someone unknown.
pub(super) fn account_of(data: &Data, email: &str) -> String {
    data.accounts
        .get(email)
        .map(|(id, _)| id.clone())
        .unwrap_or_default()
}

/// What tests and the demo read and change behind the API's back.
impl FakeJira {
    /// Issue count of a project.
    pub fn issue_count(&self, project: &str) -> usize {
        self.fake
            .lock()
            .issues
            .values()
            .filter(|i| i.project == project)
            .count()
    }

    /// The origin property of every issue of a project, for duplicate counts.
    pub fn origins(&self, project: &str) -> Vec<Option<String>> {
        self.fake
            .lock()
            .issues
            .values()
            .filter(|i| i.project == project)
            .map(|i| {
                i.properties
                    .get(twinsync_jira::mapping::ORIGIN_PROPERTY)
                    .and_then(|v| v["origin"].as_str().map(str::to_string))
            })
            .collect()
    }

    /// Makes an issue look created at `created` (an issue made long ago).
    pub fn backdate_created(&self, key: &str, created: &str) {
        let mut data = self.fake.lock();
        if let Some(id) = find_issue(&data, key).map(|i| i.id)
            && let Some(i) = data.issues.get_mut(&id)
        {
            i.created_ms = millis(created);
        }
    }

    /// Makes an issue's `updated` look older (a late webhook, an old item).
    pub fn backdate(&self, key: &str, updated: &str) {
        let mut data = self.fake.lock();
        if let Some(id) = find_issue(&data, key).map(|i| i.id)
            && let Some(i) = data.issues.get_mut(&id)
        {
            i.updated_ms = millis(updated);
        }
    }
}
