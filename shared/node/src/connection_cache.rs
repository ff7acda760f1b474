//! Connections read once per invocation. A Lambda invocation handles one batch or one
//! request; every handler of it asks for its connection, and on DynamoDB each ask was a
//! strongly consistent read. [`PerInvocation`] keeps what was read until the next
//! invocation begins; writes go through and replace the cached record, and a write that
//! lost a race forgets it, so the retry reads the fresh one. The messages of a batch are
//! handled side by side, so their first asks come together: they share one read.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use twinsync_core::{Connection, ConnectionRoute};
use twinsync_ports::{ConnectionStore, PollCursor, PortError, PortResult};

/// One connection's record as this invocation read it, or the read under way.
type Slot = Arc<OnceCell<Option<Connection>>>;

/// A slot already holding `connection` (`None`: the store has none by that id).
fn answered(connection: Option<Connection>) -> Slot {
    Arc::new(OnceCell::new_with(Some(connection)))
}

/// What one invocation has read.
#[derive(Default)]
struct Seen {
    by_id: HashMap<String, Slot>,
    all: Option<Vec<Connection>>,
    routes: Option<Vec<ConnectionRoute>>,
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
            seen.routes = None;
            seen.by_id.insert(id.to_string(), answered(connection));
        }
    }

    fn forget(&self, id: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.all = None;
            seen.routes = None;
            seen.by_id.remove(id);
        }
    }

    /// The slot of `id`, made empty on first ask; `None` if the lock was poisoned.
    fn slot(&self, id: &str) -> Option<Slot> {
        let mut seen = self.seen.lock().ok()?;
        Some(seen.by_id.entry(id.to_string()).or_default().clone())
    }
}

#[async_trait]
impl ConnectionStore for PerInvocation {
    async fn get(&self, id: &str) -> PortResult<Option<Connection>> {
        let Some(slot) = self.slot(id) else {
            return self.inner.get(id).await;
        };
        // The first ask reads; asks that come while it reads wait for its answer. A failed
        // read leaves the slot empty, so the next ask reads again.
        slot.get_or_try_init(|| self.inner.get(id)).await.cloned()
    }

    async fn list(&self) -> PortResult<Vec<Connection>> {
        if let Some(all) = self.seen.lock().ok().and_then(|s| s.all.clone()) {
            return Ok(all);
        }
        let all = self.inner.list().await?;
        if let Ok(mut seen) = self.seen.lock() {
            for c in &all {
                seen.by_id.insert(c.id.clone(), answered(Some(c.clone())));
            }
            seen.all = Some(all.clone());
        }
        Ok(all)
    }

    async fn routes(&self) -> PortResult<Vec<ConnectionRoute>> {
        if let Some(routes) = self.seen.lock().ok().and_then(|s| s.routes.clone()) {
            return Ok(routes);
        }
        let routes = self.inner.routes().await?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.routes = Some(routes.clone());
        }
        Ok(routes)
    }

    async fn check_routes(&self, connections: &[Connection]) -> PortResult<usize> {
        let changed = self.inner.check_routes(connections).await;
        if let Ok(mut seen) = self.seen.lock() {
            seen.routes = None;
        }
        changed
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

    /// A store whose reads take a while and are counted, so that asks made side by side
    /// overlap. The test asks for nothing else.
    struct SlowReads {
        inner: Arc<dyn ConnectionStore>,
        gets: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl ConnectionStore for SlowReads {
        async fn get(&self, id: &str) -> PortResult<Option<Connection>> {
            self.gets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.inner.get(id).await
        }
        async fn list(&self) -> PortResult<Vec<Connection>> {
            unreachable!("the test only reads by id")
        }
        async fn insert(&self, _: &Connection) -> PortResult<()> {
            unreachable!("the test only reads by id")
        }
        async fn update(&self, _: &Connection) -> PortResult<Connection> {
            unreachable!("the test only reads by id")
        }
        async fn delete(&self, _: &str) -> PortResult<()> {
            unreachable!("the test only reads by id")
        }
        async fn cursor(&self, _: &str, _: &str) -> PortResult<Option<PollCursor>> {
            unreachable!("the test only reads by id")
        }
        async fn set_cursor(&self, _: &str, _: &str, _: &PollCursor) -> PortResult<()> {
            unreachable!("the test only reads by id")
        }
        async fn remember_nonce(&self, _: &str, _: i64) -> PortResult<bool> {
            unreachable!("the test only reads by id")
        }
        async fn purge_expired(&self, _: i64) -> PortResult<u64> {
            unreachable!("the test only reads by id")
        }
        async fn get_meta(&self, _: &str) -> PortResult<Option<String>> {
            unreachable!("the test only reads by id")
        }
        async fn set_meta(&self, _: &str, _: &str) -> PortResult<()> {
            unreachable!("the test only reads by id")
        }
        async fn replace_meta(&self, _: &str, _: Option<&str>, _: &str) -> PortResult<bool> {
            unreachable!("the test only reads by id")
        }
    }

    #[tokio::test]
    async fn a_batch_asking_side_by_side_shares_one_read() {
        let (_, _, store) = twinsync_store::open_in_memory(Arc::new(SystemClock)).unwrap();
        store.insert(&connection("c")).await.unwrap();
        let slow = Arc::new(SlowReads {
            inner: Arc::new(store),
            gets: Default::default(),
        });
        let cached = PerInvocation::new(slow.clone());
        let reads = || slow.gets.load(std::sync::atomic::Ordering::SeqCst);
        // Seven messages of a batch, each asking for its connection at once.
        let asks = futures::future::join_all((0..7).map(|_| cached.get("c"))).await;
        assert!(
            asks.iter()
                .all(|a| a.as_ref().unwrap().as_ref().unwrap().id == "c")
        );
        assert_eq!(reads(), 1);
        // An unknown connection is read once too, and remembered as absent.
        let absent = futures::future::join_all((0..3).map(|_| cached.get("x"))).await;
        assert!(absent.iter().all(|a| a.as_ref().unwrap().is_none()));
        assert_eq!(reads(), 2);
        // The next invocation reads again.
        cached.begin();
        cached.get("c").await.unwrap();
        assert_eq!(reads(), 3);
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

        // Routes the same way: read once an invocation, and its own writes replace them.
        let route = |routes: Vec<ConnectionRoute>| (routes[0].status, routes[0].revision);
        let before = cached.get("c").await.unwrap().unwrap();
        assert_eq!(
            route(cached.routes().await.unwrap()),
            (ConnectionStatus::Active, before.revision)
        );
        let mut elsewhere = store.get("c").await.unwrap().unwrap();
        elsewhere.name = "fourth".into();
        let elsewhere = store.update(&elsewhere).await.unwrap();
        assert_eq!(route(cached.routes().await.unwrap()).1, before.revision);
        let mut paused = elsewhere.clone();
        paused.status = ConnectionStatus::Deactivated;
        let paused = cached.update(&paused).await.unwrap();
        assert_eq!(
            route(cached.routes().await.unwrap()),
            (ConnectionStatus::Deactivated, paused.revision)
        );
    }
}
