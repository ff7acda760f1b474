//! The fake Azure DevOps' state: projects, identities, work items with their fields,
//! relations and comments, attachments, service hook subscriptions, and the work item
//! types of the Agile process with their states.

use super::{FakeAdo, FakeOptions, Fault};
use crate::plumbing::Traffic;
use crate::server::Shared;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Work item types and their states (name, category), as the Agile process has them.
pub(super) const TYPES: [(&str, &[(&str, &str)]); 3] = [
    (
        "Task",
        &[
            ("New", "Proposed"),
            ("Active", "InProgress"),
            ("Closed", "Completed"),
            ("Removed", "Removed"),
        ],
    ),
    (
        "Bug",
        &[
            ("New", "Proposed"),
            ("Active", "InProgress"),
            ("Resolved", "Resolved"),
            ("Closed", "Completed"),
        ],
    ),
    (
        "User Story",
        &[
            ("New", "Proposed"),
            ("Active", "InProgress"),
            ("Resolved", "Resolved"),
            ("Closed", "Completed"),
            ("Removed", "Removed"),
        ],
    ),
];

/// The fields a patch may set besides the custom ones.
pub(super) const WRITABLE: [&str; 9] = [
    "System.Title",
    "System.Description",
    "System.State",
    "System.Tags",
    "System.AssignedTo",
    "System.AreaPath",
    "System.IterationPath",
    "System.History",
    "Microsoft.VSTS.Common.Priority",
];

#[derive(Clone)]
pub(super) struct CommentData {
    pub(super) id: i64,
    pub(super) version: i64,
    pub(super) text: String,
    pub(super) format: String,
    pub(super) author: String,
    pub(super) created_ms: i64,
    pub(super) modified_ms: i64,
}

#[derive(Clone)]
pub(super) struct WorkItem {
    pub(super) id: i64,
    pub(super) rev: u64,
    pub(super) project: String,
    pub(super) work_item_type: String,
    /// Fields by reference name; people as their email.
    pub(super) fields: Map<String, Value>,
    pub(super) relations: Vec<Value>,
    pub(super) comments: Vec<CommentData>,
    pub(super) created_ms: i64,
    pub(super) changed_ms: i64,
    pub(super) created_by: String,
    pub(super) changed_by: String,
}

impl WorkItem {
    /// A new revision by `who` at `now`, at least a millisecond after the last.
    pub(super) fn revise(&mut self, who: &str, now: i64) {
        self.rev += 1;
        self.changed_ms = now.max(self.changed_ms + 1);
        self.changed_by = who.to_string();
    }
}

pub(super) struct Subscription {
    pub(super) id: String,
    pub(super) body: Value,
}

pub(super) struct Stored {
    pub(super) name: String,
    pub(super) bytes: Vec<u8>,
}

/// Everything the fake holds, under one lock.
#[derive(Default)]
pub struct Data {
    /// Project name → id.
    pub(super) projects: BTreeMap<String, String>,
    pub(super) items: BTreeMap<i64, WorkItem>,
    pub(super) seq: i64,
    pub(super) comment_seq: i64,
    /// Identities: email → (id, display name).
    pub(super) identities: BTreeMap<String, (String, String)>,
    pub(super) attachments: BTreeMap<String, Stored>,
    pub(super) subscriptions: Vec<Subscription>,
    /// An edit someone makes to a work item just before the next patch of it arrives:
    /// the race a rev test is for. (work item id, field, value)
    pub(super) edit_before_next_patch: Option<(i64, String, Value)>,
}

/// The fake's state, shared by its handlers.
pub(super) type Fake = Shared<FakeOptions, Data, Fault>;

pub(super) fn fake(base: String, options: FakeOptions) -> Fake {
    let mut data = Data::default();
    for (n, p) in options.projects.iter().enumerate() {
        data.projects
            .insert(p.clone(), format!("7c1d9f3a-0000-4000-8000-{n:012}"));
    }
    for (n, (email, name)) in options.identities.iter().enumerate() {
        data.identities.insert(
            email.to_lowercase(),
            (format!("9a5e2b10-0000-4000-8000-{n:012}"), name.clone()),
        );
    }
    let traffic = Traffic::start("Azure DevOps", 64 << 20, 64 << 20);
    Shared::new(base, options, data, traffic)
}

/// The project of that name, whatever the case, as Azure DevOps names it.
pub(super) fn project_named(data: &Data, name: &str) -> Option<String> {
    data.projects
        .keys()
        .find(|p| p.eq_ignore_ascii_case(name))
        .cloned()
}

/// The states of a work item type, if the process has it.
pub(super) fn states_of(work_item_type: &str) -> Option<&'static [(&'static str, &'static str)]> {
    TYPES
        .iter()
        .find(|(t, _)| t.eq_ignore_ascii_case(work_item_type))
        .map(|(_, s)| *s)
}

/// What tests and the demo read and change behind the API's back.
impl FakeAdo {
    /// Work item count of a project.
    pub fn item_count(&self, project: &str) -> usize {
        self.fake
            .lock()
            .items
            .values()
            .filter(|i| i.project == project)
            .count()
    }

    /// The tags of every work item of a project, for duplicate counts.
    pub fn tags(&self, project: &str) -> Vec<String> {
        self.fake
            .lock()
            .items
            .values()
            .filter(|i| i.project == project)
            .map(|i| {
                i.fields
                    .get("System.Tags")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    /// A field of a work item, as stored.
    pub fn field(&self, id: i64, name: &str) -> Option<Value> {
        self.fake.lock().items.get(&id)?.fields.get(name).cloned()
    }

    /// The relations of a work item.
    pub fn relations(&self, id: i64) -> Vec<Value> {
        self.fake
            .lock()
            .items
            .get(&id)
            .map(|i| i.relations.clone())
            .unwrap_or_default()
    }

    /// Has someone set `field` to `value` on work item `id` just before the next patch
    /// of it arrives, as a person editing at the same moment would.
    pub fn edit_before_next_patch(&self, id: i64, field: &str, value: Value) {
        self.fake.lock().edit_before_next_patch = Some((id, field.to_string(), value));
    }

    /// The active service hook subscriptions' event types.
    pub fn subscribed_events(&self) -> Vec<String> {
        self.fake
            .lock()
            .subscriptions
            .iter()
            .filter(|s| s.body["status"] == "enabled")
            .filter_map(|s| s.body["eventType"].as_str().map(str::to_string))
            .collect()
    }

    /// Disables every subscription, as Azure DevOps does after repeated failures.
    pub fn disable_subscriptions(&self) {
        for s in &mut self.fake.lock().subscriptions {
            s.body["status"] = Value::from("disabledBySystem");
        }
    }
}
