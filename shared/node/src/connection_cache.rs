//! Connections read once per invocation. A Lambda invocation handles one batch or one
//! request; every handler of it asks for its connection, and on DynamoDB each ask was a
//! strongly consistent read. [`PerInvocation`] keeps what was read until the next
//! invocation begins; writes go through and replace the cached record, and a write that
//! lost a race forgets it, so the retry reads the fresh one.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use twinsync_core::Connection;
use twinsync_ports::{ConnectionStore, PollCursor, PortError, PortResult};

/// What one invocation has read.
#[derive(Default)]
struct Seen {
    by_id: HashMap<String, Option<Connection>>,
    all: Option<Vec<Connection>>,
}

/// A [`ConnectionStore`] that reads each connection once between two [`Self::begin`]s.
pub struct PerInvocation {
    inner: Arc<dyn ConnectionStore>,
    seen: Mutex<Seen>,
}

impl PerInvocation {
    pub fn new(inner: Arc<dyn ConnectionStore>) -> Self {
        Self {
            inner,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// A new invocation: what the last one read may have changed since.
    pub fn begin(&self) {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Seen::default();
        }
    }

    fn remember(&self, id: &str, connection: Option<Connection>) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.all = None;
            seen.by_id.insert(id.to_string(), connection);
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.all = None;
            seen.by_id.remove(id);
        }
    }
}

#[async_trait]
impl ConnectionStore for PerInvocation {
    async fn get(&self, id: &str) -> PortResult<Option<Connection>> {
        if let Some(c) = self.seen.lock().ok().and_then(|s| s.by_id.get(id).cloned()) {
            return Ok(c);
        }
        let c = self.inner.get(id).await?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.by_id.insert(id.to_string(), c.clone());
        }
        Ok(c)
    }

    async fn list(&self) -> PortResult<Vec<Connection>> {
        if let Some(all) = self.seen.lock().ok().and_then(|s| s.all.clone()) {
            return Ok(all);
        }
        let all = self.inner.list().await?;
        if let Ok(mut seen) = self.seen.lock() {
            for c in &all {
                seen.by_id.insert(c.id.clone(), Some(c.clone()));
            }
            seen.all = Some(all.clone());
        }
        Ok(all)
    }

    async fn insert(&self, connection: &Connection) -> PortResult<()> {
        let answer = self.inner.insert(connection).await;
        match &answer {
            Ok(()) => self.remember(&connection.id, Some(connection.clone())),
            Err(_) => self.forget(&connection.id),
        }
        answer
    }

    async fn update(&self, connection: &Connection) -> PortResult<Connection> {
        let answer = self.inner.update(connection).await;
        match &answer {
            Ok(stored) => self.remember(&stored.id, Some(stored.clone())),
            // A lost race: the retry must read the record that won.
            Err(PortError::Conflict(_)) => self.forget(&connection.id),
            Err(_) => {}
        }
        answer
    }

    async fn delete(&self, id: &str) -> PortResult<()> {
        let answer = self.inner.delete(id).await;
        self.forget(id);
        answer
    }

    async fn cursor(
        &self,
        connection_id: &str,
        trigger_id: &str,
    ) -> PortResult<Option<PollCursor>> {
        self.inner.cursor(connection_id, trigger_id).await
    }

    async fn set_cursor(
        &self,
        connection_id: &str,
        trigger_id: &str,
        cursor: &PollCursor,
    ) -> PortResult<()> {
        self.inner
            .set_cursor(connection_id, trigger_id, cursor)
            .await
    }

    async fn remember_nonce(&self, nonce: &str, expires_ms: i64) -> PortResult<bool> {
        self.inner.remember_nonce(nonce, expires_ms).await
    }

    async fn purge_expired(&self, now_ms: i64) -> PortResult<u64> {
        self.inner.purge_expired(now_ms).await
    }

    async fn get_meta(&self, key: &str) -> PortResult<Option<String>> {
        self.inner.get_meta(key).await
    }

    async fn set_meta(&self, key: &str, value: &str) -> PortResult<()> {
        self.inner.set_meta(key, value).await
    }

    async fn replace_meta(
        &self,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> PortResult<bool> {
        self.inner.replace_meta(key, expected, value).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use twinsync_core::{ConnectionStatus, SystemClock};

    fn connection(id: &str) -> Connection {
        Connection {
            id: id.into(),
            name: id.into(),
            local_node: "a".into(),
            remote_node: "b".into(),
            local_instance: "sandbox".into(),
            target_project: "P".into(),
            status: ConnectionStatus::Active,
            status_reason: None,
            versions: vec![],
            link: None,
            revision: 0,
            updated_ms: 0,
        }
    }

    #[tokio::test]
    async fn reads_once_per_invocation_and_sees_its_own_writes() {
        let (_, _, store) = twinsync_store::open_in_memory(Arc::new(SystemClock)).unwrap();
        let store: Arc<dyn ConnectionStore> = Arc::new(store);
        store.insert(&connection("c")).await.unwrap();
        let cached = PerInvocation::new(store.clone());
        let first = cached.get("c").await.unwrap().unwrap();

        // Another writer changes it: this invocation keeps what it read...
        let mut other = first.clone();
        other.name = "renamed elsewhere".into();
        store.update(&other).await.unwrap();
        assert_eq!(cached.get("c").await.unwrap().unwrap().name, "c");
        // ...and its own write of the stale record loses, then reads the fresh one.
        let mut mine = first.clone();
        mine.name = "mine".into();
        assert!(matches!(
            cached.update(&mine).await,
            Err(PortError::Conflict(_))
        ));
        assert_eq!(
            cached.get("c").await.unwrap().unwrap().name,
            "renamed elsewhere"
        );

        // Its own successful write is what it reads next; a new invocation reads again.
        let mut fresh = cached.get("c").await.unwrap().unwrap();
        fresh.name = "mine".into();
        cached.update(&fresh).await.unwrap();
        assert_eq!(cached.list().await.unwrap()[0].name, "mine");
        let mut again = store.get("c").await.unwrap().unwrap();
        again.name = "third".into();
        store.update(&again).await.unwrap();
        assert_eq!(cached.get("c").await.unwrap().unwrap().name, "mine");
        cached.begin();
        assert_eq!(cached.get("c").await.unwrap().unwrap().name, "third");
    }
}
