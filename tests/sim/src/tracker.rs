//! The simulation's tracker: the sandbox tracker's contract held in memory, so that every
//! call answers at once and in the same order for the same seed. It is as strict as the
//! sandbox server (`twinsync-fakes`): unknown statuses and priorities, empty summaries and
//! empty comments are refused; an update that changes nothing records nothing; every
//! change moves the item's version and time on.
//!
//! The simulation asks it for faults: the next call answered 429 or 500, or a write done
//! but its answer lost (the caller sees 500, the item has changed), or a person's edit
//! that lands just before sync's next write of an item, after sync read it.

use crate::edits::PersonEdit;
use crate::effects::Effects;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

mod port;
use twinsync_core::{Attachment, Clock, Comment, Item, ItemUpdate, ManualClock, Named, User};
use twinsync_ports::{ChangeSignal, PortError, PortResult};

/// A fault the next tracker call meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackerFault {
    /// 429 with a Retry-After.
    RateLimited,
    /// 500 before anything is done.
    Unavailable,
    /// A write is done, then its answer is lost (500). Reads answer normally.
    AnswerLost,
    /// The answer takes this long: the caller's lease and its message's visibility may
    /// run out meanwhile, so another delivery of the same work can start.
    Slow { ms: i64 },
}

/// One project: its statuses (the first is a new item's) and priorities.
#[derive(Debug, Clone)]
pub struct Project {
    pub key: String,
    pub statuses: Vec<String>,
    pub priorities: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    items: BTreeMap<String, Item>,
    next_number: BTreeMap<String, u64>,
    next_child: u64,
    faults: VecDeque<TrackerFault>,
    /// Changes people and sync made, as the webhooks the tracker would send.
    signals: Vec<ChangeSignal>,
    calls: u64,
    /// People's edits that land just before sync's next write of their item, by key.
    pub(crate) ambush: BTreeMap<String, PersonEdit>,
    /// The items as such edits left them, for the simulation to record.
    pub(crate) sprung: Vec<Item>,
}

/// An in-memory sandbox tracker.
pub struct SimTracker {
    instance: String,
    base_url: String,
    projects: Vec<Project>,
    clock: ManualClock,
    state: Mutex<State>,
    /// Where a write may be cut short by a crash of the node calling it.
    effects: Mutex<Option<Arc<Effects>>>,
}

impl std::fmt::Debug for SimTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimTracker")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// Item `key` as stored, or the tracker's 404.
pub(crate) fn found(s: &State, key: &str) -> PortResult<Item> {
    s.items
        .get(key)
        .cloned()
        .ok_or_else(|| PortError::NotFound(format!("no item {key}")))
}

fn bad(why: impl Into<String>) -> PortError {
    PortError::Rejected(why.into())
}

impl SimTracker {
    pub fn new(instance: &str, projects: Vec<Project>, clock: ManualClock) -> Self {
        Self {
            instance: instance.into(),
            base_url: format!("https://{instance}.invalid"),
            projects,
            clock,
            state: Mutex::new(State::default()),
            effects: Mutex::new(None),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held leaves consistent data: every change is made
        // on a clone and stored at the end.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The effects of the node now using this tracker (a restarted node brings new ones).
    pub fn attach(&self, effects: Arc<Effects>) {
        *self.effects.lock().unwrap_or_else(|p| p.into_inner()) = Some(effects);
    }

    fn effects(&self) -> Option<Arc<Effects>> {
        self.effects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The next call meets `fault`.
    pub fn inject(&self, fault: TrackerFault) {
        self.state().faults.push_back(fault);
    }

    /// No fault is due any more.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// Takes the webhooks sent since the last call.
    pub fn take_signals(&self) -> Vec<ChangeSignal> {
        std::mem::take(&mut self.state().signals)
    }

    pub fn items(&self) -> Vec<Item> {
        self.state().items.values().cloned().collect()
    }

    pub fn project(&self, key: &str) -> PortResult<&Project> {
        self.projects
            .iter()
            .find(|p| p.key == key)
            .ok_or_else(|| bad(format!("unknown project {key:?}")))
    }

    fn check_in(what: &str, value: &str, allowed: &[String]) -> PortResult<()> {
        if allowed.iter().any(|a| a == value) {
            Ok(())
        } else {
            Err(bad(format!("{what} {value:?} is not one of {allowed:?}")))
        }
    }

    /// A call's start: its fault, if one is due. Writes first pass a crash point.
    async fn begin(&self, kind: Call) -> PortResult<Option<TrackerFault>> {
        if kind == Call::Write
            && let Some(e) = self.effects()
        {
            e.point("tracker write").await;
        }
        let fault = {
            let mut s = self.state();
            s.calls += 1;
            s.faults.pop_front()
        };
        match fault {
            Some(TrackerFault::RateLimited) => Err(PortError::RateLimited {
                retry_after_ms: 1_000,
                refused: twinsync_ports::Refusal::Whole,
            }),
            Some(TrackerFault::Unavailable) => Err(PortError::Unavailable("500".into())),
            Some(TrackerFault::AnswerLost) if kind == Call::Write => {
                Ok(Some(TrackerFault::AnswerLost))
            }
            Some(TrackerFault::Slow { ms }) => {
                self.clock.advance_ms(ms);
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// A write's answer: lost when the fault says so.
    async fn answer<T>(&self, fault: Option<TrackerFault>, value: T) -> PortResult<T> {
        if let Some(e) = self.effects() {
            e.point("tracker answer").await;
        }
        match fault {
            Some(TrackerFault::AnswerLost) => Err(PortError::Unavailable(
                "500 after the write (answer lost)".into(),
            )),
            _ => Ok(value),
        }
    }

    /// Stores `item` as changed now and sends its webhook.
    fn record(s: &mut State, mut item: Item, now: i64) -> Item {
        item.version += 1;
        item.updated_ms = now.max(item.updated_ms + 1);
        s.signals.push(ChangeSignal {
            item_key: item.key.clone(),
            project: item.project.clone(),
            version: item.version,
            delivery_id: format!("{}:{}", item.key, item.version),
            origin: item.origin.clone(),
        });
        s.items.insert(item.key.clone(), item.clone());
        item
    }

    /// Creates an item as a person or as sync would; `origin` empty for a person.
    pub fn create(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        let p = self.project(project)?;
        if item.summary.trim().is_empty() {
            return Err(bad("summary is required"));
        }
        let status = match item.status_name() {
            Some(st) => {
                Self::check_in("status", st, &p.statuses)?;
                st.to_string()
            }
            None => p.statuses.first().cloned().unwrap_or_default(),
        };
        if let Some(pr) = item.priority_name() {
            Self::check_in("priority", pr, &p.priorities)?;
        }
        let now = self.clock.now_ms();
        let mut s = self.state();
        let number = s.next_number.entry(project.to_string()).or_insert(1);
        let key = format!("{project}-{number}");
        *number += 1;
        let stored = Item {
            key: key.clone(),
            project: project.into(),
            url: format!("{}/items/{key}", self.base_url),
            status: Some(Named::new(status)),
            comments: Vec::new(),
            attachments: Vec::new(),
            version: 0,
            updated_ms: now - 1,
            origin: (!origin.is_empty()).then(|| origin.to_string()),
            ..item.clone()
        };
        Ok(Self::record(&mut s, stored, now))
    }

    /// The sandbox's 412 for an `If-Match` that no longer holds, as a lost race.
    fn still_at(&self, key: &str, version: u64) -> PortResult<()> {
        let at = found(&self.state(), key)?.version;
        match at == version {
            true => Ok(()),
            false => Err(PortError::Conflict(format!(
                "sandbox: {key} is at version {at}, not {version}"
            ))),
        }
    }

    /// Applies an update as a person or as sync would.
    pub fn update(&self, key: &str, u: &ItemUpdate) -> PortResult<Item> {
        let now = self.clock.now_ms();
        let mut s = self.state();
        let current = found(&s, key)?;
        let p = self.project(&current.project)?;
        let mut next = current.clone();
        if let Some(v) = &u.summary {
            if v.trim().is_empty() {
                return Err(bad("summary cannot be empty"));
            }
            next.summary = v.clone();
        }
        if let Some(v) = &u.description {
            next.description = v.clone();
        }
        if let Some(v) = u.status.as_deref().filter(|v| !v.is_empty()) {
            Self::check_in("status", v, &p.statuses)?;
            next.status = Some(Named::new(v));
        }
        if let Some(v) = &u.priority {
            if !v.is_empty() {
                Self::check_in("priority", v, &p.priorities)?;
            }
            next.priority = (!v.is_empty()).then(|| Named::new(v));
        }
        if let Some(v) = &u.labels {
            next.labels = v.clone();
        }
        if let Some(v) = &u.assignee {
            next.assignee = v.clone();
        }
        if let Some(v) = &u.custom_fields {
            next.custom_fields = v.clone();
        }
        if next == current {
            // Nothing changes, so nothing is recorded and no webhook fires.
            return Ok(current);
        }
        Ok(Self::record(&mut s, next, now))
    }

    /// Adds a comment as a person or as sync would.
    pub fn comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        if body.trim().is_empty() {
            return Err(bad("comment body is required"));
        }
        let now = self.clock.now_ms();
        let mut s = self.state();
        let mut item = found(&s, key)?;
        s.next_child += 1;
        let comment = Comment {
            id: s.next_child.to_string(),
            author: author.cloned(),
            body: body.into(),
            created_ms: now,
            origin: origin.filter(|o| !o.is_empty()).map(String::from),
            remote_id: None,
            internal: false,
        };
        item.comments.push(comment.clone());
        Self::record(&mut s, item, now);
        Ok(comment)
    }

    /// Adds an attachment as a person or as sync would.
    pub fn attach_file(&self, key: &str, a: &Attachment) -> PortResult<Attachment> {
        if a.filename.trim().is_empty() {
            return Err(bad("filename is required"));
        }
        let now = self.clock.now_ms();
        let mut s = self.state();
        let mut item = found(&s, key)?;
        s.next_child += 1;
        let stored = Attachment {
            id: s.next_child.to_string(),
            remote_id: None,
            ..a.clone()
        };
        item.attachments.push(stored.clone());
        Self::record(&mut s, item, now);
        Ok(stored)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Read,
    Write,
}
