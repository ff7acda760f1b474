//! Crash points: every effect a handler has (a queue send, a twin write, a tracker write
//! and its answer) first passes [`Effects::point`]. When the simulation has armed a crash
//! at the n-th point, that point never returns: the simulation drops the handler's
//! future there, as a killed process would stop, and starts the node again on the same
//! database. Messages in hand stay in flight until their visibility ends.

use async_trait::async_trait;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::Notify;
use twinsync_core::{SyncEvent, Twin};
use twinsync_ports::{
    NewMessage, PortResult, Queue, QueueHooks, ReplicaRecord, SendOutcome, TwinQuery, TwinStore,
};

#[derive(Debug, Default)]
struct Armed {
    /// Points left before the crash; none when no crash is armed.
    left: Option<u32>,
    /// The point the node crashed at.
    crashed_at: Option<&'static str>,
}

/// One node's crash points.
#[derive(Debug, Default)]
pub struct Effects {
    armed: Mutex<Armed>,
    crashed: Notify,
}

impl Effects {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn armed(&self) -> std::sync::MutexGuard<'_, Armed> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Crash at the `n`-th point from now (0: the next one).
    pub fn arm(&self, n: u32) {
        *self.armed() = Armed {
            left: Some(n),
            crashed_at: None,
        };
    }

    pub fn disarm(&self) {
        self.armed().left = None;
    }

    /// The point the node crashed at, once it has.
    pub fn crashed_at(&self) -> Option<&'static str> {
        self.armed().crashed_at
    }

    /// Passes a crash point, or never returns when the crash is due.
    pub async fn point(&self, what: &'static str) {
        let crash = {
            let mut a = self.armed();
            match a.left {
                Some(0) if a.crashed_at.is_none() => {
                    a.crashed_at = Some(what);
                    true
                }
                Some(n) if a.crashed_at.is_none() => {
                    a.left = Some(n - 1);
                    false
                }
                // A crashed node does nothing more.
                Some(_) => true,
                None => false,
            }
        };
        if crash {
            self.crashed.notify_waiters();
            std::future::pending::<()>().await;
        }
    }

    /// Resolves when the node has crashed (at once if it has).
    pub async fn wait_crash(&self) {
        let notified = self.crashed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.crashed_at().is_some() {
            return;
        }
        notified.await;
    }
}

/// Queue sends pass a crash point first.
pub struct CrashingSends(pub Arc<Effects>);

#[async_trait]
impl QueueHooks for CrashingSends {
    async fn send(
        &self,
        inner: &dyn Queue,
        queue: &str,
        message: NewMessage,
    ) -> PortResult<SendOutcome> {
        self.0.point("queue send").await;
        inner.send(queue, message).await
    }

    async fn send_batch(
        &self,
        inner: &dyn Queue,
        queue: &str,
        messages: Vec<NewMessage>,
    ) -> PortResult<()> {
        self.0.point("queue send").await;
        inner.send_batch(queue, messages).await
    }
}

/// A twin store whose writes pass a crash point first.
pub struct CrashingTwins {
    pub inner: Arc<dyn TwinStore>,
    pub effects: Arc<Effects>,
}

#[async_trait]
impl TwinStore for CrashingTwins {
    async fn get(&self, id: &str) -> PortResult<Option<Twin>> {
        self.inner.get(id).await
    }
    async fn find_by_local(
        &self,
        connection_id: &str,
        local_key: &str,
    ) -> PortResult<Option<Twin>> {
        self.inner.find_by_local(connection_id, local_key).await
    }
    async fn find_by_remote(
        &self,
        connection_id: &str,
        remote_key: &str,
    ) -> PortResult<Option<Twin>> {
        self.inner.find_by_remote(connection_id, remote_key).await
    }
    async fn insert(&self, twin: &Twin) -> PortResult<()> {
        self.effects.point("twin insert").await;
        self.inner.insert(twin).await
    }
    async fn update(&self, twin: &Twin) -> PortResult<Twin> {
        self.effects.point("twin update").await;
        self.inner.update(twin).await
    }
    async fn delete(&self, id: &str) -> PortResult<()> {
        self.effects.point("twin delete").await;
        self.inner.delete(id).await
    }
    async fn replace(&self, gone: &[String], twin: &Twin) -> PortResult<()> {
        // One transaction: a crash at any of its points writes none of it. It passes the
        // points of the deletes and the insert it stands for, so schedules keep their
        // numbering.
        for _ in gone {
            self.effects.point("twin delete").await;
        }
        self.effects.point("twin insert").await;
        self.inner.replace(gone, twin).await
    }
    async fn list(&self, query: &TwinQuery) -> PortResult<Vec<Twin>> {
        self.inner.list(query).await
    }
    async fn count(&self, connection_id: Option<&str>) -> PortResult<u64> {
        self.inner.count(connection_id).await
    }
    async fn count_under_sync(&self, connection_id: &str) -> PortResult<u64> {
        self.inner.count_under_sync(connection_id).await
    }
    async fn add_event(&self, event: &SyncEvent) -> PortResult<()> {
        self.effects.point("event").await;
        self.inner.add_event(event).await
    }
    async fn events(
        &self,
        connection_id: Option<&str>,
        twin_id: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<SyncEvent>> {
        self.inner.events(connection_id, twin_id, limit).await
    }
    async fn add_replica(&self, record: &ReplicaRecord) -> PortResult<()> {
        self.effects.point("replica record").await;
        self.inner.add_replica(record).await
    }
    async fn replicas(&self, twin_id: &str) -> PortResult<Vec<ReplicaRecord>> {
        self.inner.replicas(twin_id).await
    }
}
