//! The fake Zendesk's state: people, groups, ticket fields, tickets with their comments,
//! uploads, webhooks and triggers. Timestamps have Zendesk's one-second resolution; a
//! change sequence orders the incremental export within a second.

use super::{FakeOptions, FakeZendesk, Fault};
use crate::plumbing::{Traffic, now_ms};
use crate::server::Shared;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};

pub(super) const STATUSES: [&str; 6] = ["new", "open", "pending", "hold", "solved", "closed"];
pub(super) const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
pub(super) const TYPES: [&str; 4] = ["problem", "incident", "question", "task"];

#[derive(Clone)]
pub(super) struct UserData {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) email: String,
    pub(super) role: &'static str,
}

#[derive(Clone)]
pub(super) struct CommentData {
    pub(super) id: u64,
    pub(super) author: u64,
    pub(super) html_body: String,
    pub(super) body: String,
    pub(super) public: bool,
    pub(super) attachments: Vec<u64>,
    pub(super) created_s: i64,
}

#[derive(Clone)]
pub(super) struct TicketData {
    pub(super) id: u64,
    pub(super) subject: String,
    pub(super) status: String,
    pub(super) priority: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) assignee: Option<u64>,
    pub(super) requester: u64,
    pub(super) submitter: u64,
    pub(super) group: Option<u64>,
    pub(super) custom: BTreeMap<u64, Value>,
    pub(super) external_id: Option<String>,
    pub(super) comments: Vec<CommentData>,
    pub(super) created_s: i64,
    pub(super) updated_s: i64,
    /// Its place in the incremental export: the change sequence of its last write.
    pub(super) change: u64,
}

pub(super) struct AttachmentData {
    pub(super) id: u64,
    pub(super) token: String,
    pub(super) file_name: String,
    pub(super) content_type: String,
    pub(super) bytes: Vec<u8>,
}

pub(super) struct WebhookData {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) endpoint: String,
    pub(super) secret: String,
    pub(super) status: String,
}

pub(super) struct TriggerData {
    pub(super) id: u64,
    pub(super) title: String,
    /// The webhook it notifies and the body template it sends.
    pub(super) webhook: String,
    pub(super) payload: String,
}

/// Everything the fake holds, under one lock.
#[derive(Default)]
pub struct Data {
    pub(super) users: Vec<UserData>,
    pub(super) groups: Vec<(u64, String)>,
    /// Custom ticket fields: id, title.
    pub(super) fields: Vec<(u64, String)>,
    pub(super) tickets: BTreeMap<u64, TicketData>,
    pub(super) attachments: Vec<AttachmentData>,
    /// Upload tokens not yet attached, with their attachment ids.
    pub(super) uploads: BTreeMap<String, Vec<u64>>,
    pub(super) webhooks: Vec<WebhookData>,
    pub(super) triggers: Vec<TriggerData>,
    pub(super) next_id: u64,
    pub(super) change: u64,
    /// When the last incremental exports were asked for (their own limit).
    pub(super) exports: VecDeque<i64>,
    /// Tickets an agent edits just before the next update of them reaches the fake.
    pub(super) edit_before_update: Vec<u64>,
}

impl Data {
    pub(super) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn user(&self, id: u64) -> Option<&UserData> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(super) fn user_by_email(&self, email: &str) -> Option<&UserData> {
        self.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// Marks `id` changed now: `updated_at` moves to this second, the export sees it.
    pub(super) fn touch(&mut self, id: u64) {
        self.change += 1;
        let change = self.change;
        if let Some(t) = self.tickets.get_mut(&id) {
            t.updated_s = now_ms() / 1000;
            t.change = change;
        }
    }
}

/// The fake's state, shared by its handlers.
pub(super) type Fake = Shared<FakeOptions, Data, Fault>;

/// The state of a fake reachable at `base` with what `options` names.
pub(super) fn fake(base: String, options: FakeOptions) -> Fake {
    let mut data = Data {
        next_id: 1000,
        ..Data::default()
    };
    for (n, (email, name)) in options.users.iter().enumerate() {
        let id = data.id();
        data.users.push(UserData {
            id,
            name: name.clone(),
            email: email.clone(),
            // The first is the API user; the rest are agents unless listed as customers.
            role: if n > 0 && options.end_users.contains(email) {
                "end-user"
            } else {
                "agent"
            },
        });
    }
    for g in &options.groups {
        let id = data.id();
        data.groups.push((id, g.clone()));
    }
    for f in &options.custom_fields {
        let id = data.id();
        data.fields.push((id, f.clone()));
    }
    let traffic = Traffic::start("Zendesk", 64 << 20, 64 << 20);
    Shared::new(base, options, data, traffic)
}

/// The ticket a path names (`/api/v2/tickets/{id}[.json]...`).
fn ticket_in(path: &str) -> Option<u64> {
    path.strip_prefix("/api/v2/tickets/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|raw| raw.strip_suffix(".json").unwrap_or(raw).parse::<u64>().ok())
}

impl Fake {
    /// The agent edit a test asked for, when this update is of its ticket.
    pub(super) fn agent_edit_if_due(&self, path: &str) {
        let Some(id) = ticket_in(path) else {
            return;
        };
        let due = {
            let mut data = self.lock();
            let at = data.edit_before_update.iter().position(|t| *t == id);
            at.map(|at| data.edit_before_update.remove(at)).is_some()
        };
        if due {
            self.agent_edit_at(path);
        }
    }

    /// An agent's edit of the ticket `path` names, a second after its last change.
    pub(super) fn agent_edit_at(&self, path: &str) {
        let id = ticket_in(path);
        let mut data = self.lock();
        if let Some(t) = id.and_then(|id| data.tickets.get_mut(&id)) {
            t.subject = format!("{} (edited by an agent)", t.subject);
            let at = t.updated_s + 1;
            if let Some(id) = id {
                data.touch(id);
                if let Some(t) = data.tickets.get_mut(&id) {
                    t.updated_s = t.updated_s.max(at);
                }
            }
        }
    }
}

/// What tests and the demo read and change behind the API's back.
impl FakeZendesk {
    /// Tickets in a group (by name), or all with `None`.
    pub fn ticket_count(&self, group: Option<&str>) -> usize {
        let data = self.fake.lock();
        let gid = group.map(|g| data.groups.iter().find(|(_, n)| n == g).map(|(id, _)| *id));
        data.tickets
            .values()
            .filter(|t| gid.is_none_or(|g| g.is_some() && t.group == g))
            .count()
    }

    /// The `external_id` of every ticket, for duplicate counts.
    pub fn external_ids(&self) -> Vec<Option<String>> {
        let data = self.fake.lock();
        data.tickets
            .values()
            .map(|t| t.external_id.clone())
            .collect()
    }

    /// The id of a group by name.
    pub fn group_id(&self, name: &str) -> Option<u64> {
        let data = self.fake.lock();
        data.groups
            .iter()
            .find(|(_, n)| n == name)
            .map(|(id, _)| *id)
    }

    /// A ticket's status, subject and tags, as the tests look at it.
    pub fn ticket(&self, id: u64) -> Option<(String, String, Vec<String>)> {
        let data = self.fake.lock();
        data.tickets
            .get(&id)
            .map(|t| (t.status.clone(), t.subject.clone(), t.tags.clone()))
    }

    /// The value of a ticket's custom field, by title.
    pub fn field(&self, id: u64, title: &str) -> Option<Value> {
        let data = self.fake.lock();
        let field = data
            .fields
            .iter()
            .find(|(_, t)| t == title)
            .map(|(f, _)| *f)?;
        data.tickets.get(&id)?.custom.get(&field).cloned()
    }

    /// A ticket's comments: plain body and whether public.
    pub fn comments(&self, id: u64) -> Vec<(String, bool)> {
        let data = self.fake.lock();
        data.tickets
            .get(&id)
            .map(|t| {
                t.comments
                    .iter()
                    .map(|c| (c.body.clone(), c.public))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Closes a ticket as Zendesk's automations do some days after it is solved.
    pub fn close(&self, id: u64) {
        let mut data = self.fake.lock();
        if let Some(t) = data.tickets.get_mut(&id) {
            t.status = "closed".into();
        }
        data.touch(id);
    }

    /// An agent's edit behind the connector's back (the subject), for concurrent edits.
    pub fn agent_edit(&self, id: u64, subject: &str) {
        let mut data = self.fake.lock();
        if let Some(t) = data.tickets.get_mut(&id) {
            t.subject = subject.into();
        }
        data.touch(id);
    }

    /// An agent edits ticket `id` (its subject) just before the next update of it
    /// arrives: that update raced the agent, as concurrent edits do.
    pub fn agent_edits_before_next_update(&self, id: u64) {
        self.fake.lock().edit_before_update.push(id);
    }

    /// Makes a ticket's `updated_at` look `secs` older (so the next write is in a later
    /// second), for safe-update tests.
    pub fn age(&self, id: u64, secs: i64) {
        let mut data = self.fake.lock();
        if let Some(t) = data.tickets.get_mut(&id) {
            t.updated_s -= secs;
        }
    }
}
