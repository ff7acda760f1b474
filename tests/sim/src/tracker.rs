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
use async_trait::async_trait;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use twinsync_core::{
    Attachment, Clock, Comment, ConnectorKind, Filter, Item, ItemUpdate, ManualClock, Named, User,
};
use twinsync_ports::{
    ChangeSignal, CommentAdded, ItemPage, PortError, PortResult, Preconditions, Tracker,
    WebhookError, WriteAnswer,
};

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
enum Call {
    Read,
    Write,
}

#[async_trait]
impl Tracker for SimTracker {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sandbox
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Attachments are fetched only from the source tracker's host: this one.
    fn url(&self) -> &str {
        &self.base_url
    }

    fn write_answer(&self) -> WriteAnswer {
        WriteAnswer::WholeItem
    }

    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        self.begin(Call::Read).await?;
        Ok(Some(self.projects.iter().any(|p| p.key == project)))
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        self.begin(Call::Read).await?;
        Ok(self.state().items.get(key).cloned())
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        let fault = self.begin(Call::Write).await?;
        let created = self.create(project, item, origin)?;
        self.answer(fault, created).await
    }

    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        let updated = self.update(key, update)?;
        self.answer(fault, updated).await
    }

    fn preconditions(&self) -> Preconditions {
        Preconditions::UpdatesAndComments
    }

    /// As the sandbox server's `If-Match`: a person's edit that lands first moves the
    /// version on, and the update is refused.
    async fn update_item_if(
        &self,
        key: &str,
        version: u64,
        update: &ItemUpdate,
    ) -> PortResult<Item> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        self.still_at(key, version)?;
        let updated = self.update(key, update)?;
        self.answer(fault, updated).await
    }

    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        let comment = self.comment(key, body, author, origin)?;
        self.answer(fault, comment).await
    }

    /// As the sandbox server's: refused once the item moved past `version`, answered
    /// with the item as the comment left it.
    async fn add_comment_if(
        &self,
        key: &str,
        version: u64,
        body: &str,
        author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<CommentAdded> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        self.still_at(key, version)?;
        let comment = self.comment(key, body, author, origin)?;
        let item = found(&self.state(), key)?;
        self.answer(
            fault,
            CommentAdded {
                comment,
                item: Some(item),
            },
        )
        .await
    }

    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        let fault = self.begin(Call::Write).await?;
        if body.trim().is_empty() {
            return Err(bad("comment body is required"));
        }
        self.spring(key);
        let now = self.clock.now_ms();
        {
            let mut s = self.state();
            let mut item = found(&s, key)?;
            let c = item
                .comments
                .iter_mut()
                .find(|c| c.id == comment_id)
                .ok_or_else(|| PortError::NotFound(format!("no comment {comment_id} on {key}")))?;
            if c.body != body {
                c.body = body.into();
                Self::record(&mut s, item, now);
            }
        }
        self.answer(fault, ()).await
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        let fault = self.begin(Call::Write).await?;
        self.spring(key);
        let stored = self.attach_file(key, attachment)?;
        self.answer(fault, stored).await
    }

    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        self.begin(Call::Read).await?;
        Ok(self
            .state()
            .items
            .values()
            .find(|i| i.project == project && i.origin.as_deref() == Some(origin))
            .cloned())
    }

    /// Oldest first by (updated, key), a page of 100, the cursor `ms:key` as the
    /// sandbox's.
    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        self.begin(Call::Read).await?;
        let filter = match query.trim() {
            "" => None,
            q => Some(Filter::parse(q).map_err(|e| bad(format!("bad filter: {e}")))?),
        };
        let after = match &page {
            Some(c) => {
                let (ms, key) = c.split_once(':').ok_or_else(|| bad("bad cursor"))?;
                (
                    ms.parse::<i64>().map_err(|_| bad("bad cursor"))?,
                    key.to_string(),
                )
            }
            None => (i64::MIN, String::new()),
        };
        let mut items: Vec<Item> = self
            .state()
            .items
            .values()
            .filter(|i| i.updated_ms >= since_ms)
            .filter(|i| (i.updated_ms, i.key.clone()) > after)
            .filter(|i| filter.as_ref().is_none_or(|f| f.matches(i)))
            .cloned()
            .collect();
        items.sort_by(|a, b| (a.updated_ms, &a.key).cmp(&(b.updated_ms, &b.key)));
        let next = (items.len() > 100).then(|| {
            let last = &items[99];
            format!("{}:{}", last.updated_ms, last.key)
        });
        items.truncate(100);
        Ok(ItemPage { items, next })
    }

    /// The simulation hands signals to ingest itself; a signed delivery never comes.
    fn verify_webhook(
        &self,
        _headers: &[(String, String)],
        _body: &[u8],
        _now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        Err(WebhookError::Unsigned(
            "the simulated tracker sends no HTTP",
        ))
    }
}
