//! The database handle and its schema.

use crate::cached::ExecuteCached;
use crate::commit::{self, Inner, Role, Settled};
use crate::{StoreError, collect_json, json_err, port_err};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use twinsync_ports::PortResult;

/// One SQLite database shared by a node's stores. Queries are short, so a mutex around
/// one connection is simpler and faster than a pool; it is never held across an await.
/// Writes share commits (`commit`, group commit).
#[derive(Clone)]
pub struct Db {
    inner: Arc<Mutex<Inner>>,
    /// Which groups of writes are committed, for the writers that wait on them.
    settled: Arc<watch::Sender<Settled>>,
    /// One activity counter per queue name, shared by every handle on this database, so
    /// a send through any of them wakes the consumers of that queue.
    wakers: Arc<Mutex<HashMap<String, watch::Sender<u64>>>>,
    /// Twin writes since the trigram index was last brought up to date.
    twin_writes: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

const SCHEMA_VERSION: i64 = 7;

/// The longest a write waits for the writer that began its group to commit it.
const GROUP_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    group_id TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    delayed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_group ON messages(queue, group_id, seq);
CREATE INDEX IF NOT EXISTS messages_receipt ON messages(receipt);
CREATE TABLE IF NOT EXISTS message_groups (
    queue TEXT NOT NULL,
    group_id TEXT NOT NULL,
    head_seq INTEGER NOT NULL,
    available_at INTEGER NOT NULL,
    PRIMARY KEY (queue, group_id)
);
CREATE INDEX IF NOT EXISTS message_groups_order ON message_groups(queue, head_seq);
CREATE TABLE IF NOT EXISTS dedup (
    queue TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (queue, dedup_id)
);
CREATE INDEX IF NOT EXISTS dedup_expiry ON dedup(expires_ms);
CREATE TABLE IF NOT EXISTS queue_names (name TEXT PRIMARY KEY);

CREATE TABLE IF NOT EXISTS twins (
    id TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    local_key TEXT,
    remote_key TEXT,
    status TEXT NOT NULL,
    revision INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS twins_local ON twins(connection_id, local_key);
CREATE UNIQUE INDEX IF NOT EXISTS twins_remote ON twins(connection_id, remote_key);
CREATE INDEX IF NOT EXISTS twins_order ON twins(connection_id, created_ms, id);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    connection_id TEXT NOT NULL,
    twin_id TEXT,
    at_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_twin ON events(twin_id, seq);
CREATE INDEX IF NOT EXISTS events_connection ON events(connection_id, seq);
CREATE TABLE IF NOT EXISTS replicas (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    twin_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS replicas_twin ON replicas(twin_id, seq);

CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    connection_id TEXT NOT NULL,
    trigger_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (connection_id, trigger_id)
);
CREATE TABLE IF NOT EXISTS nonces (
    nonce TEXT PRIMARY KEY,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces(expires_ms);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

/// The changes from each schema version to the next, applied in order to a database made
/// by an older build: `MIGRATIONS[i]` takes version `i + 1` to `i + 2`. The schema above
/// stays the first version's, so a new database goes through the same steps.
const MIGRATIONS: [&str; 6] = [
    // 2: the retry budget counts time, not receives: when each message was first
    // received, and whether an operator redrove it from its dead-letter queue.
    "ALTER TABLE messages ADD COLUMN first_receive_ms INTEGER;
     ALTER TABLE messages ADD COLUMN redriven INTEGER NOT NULL DEFAULT 0;",
    // 3: the monitor searches twins by summary and error text (`Twin::search_text`) and
    // pages the newest first across connections.
    "ALTER TABLE twins ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
     UPDATE twins SET search_text = lower(
         coalesce(json_extract(body, '$.baseline.summary'), json_extract(body, '$.previous.summary'), '')
         || char(10) || coalesce(json_extract(body, '$.status.message'), ''));
     CREATE INDEX IF NOT EXISTS twins_created ON twins(created_ms, id);",
    // 4: text search through a trigram index (FTS5) of each twin's keys and search text,
    // kept by triggers, so a rare word is found among 100,000 twins without reading them
    // all; and the newest twins of a status (the monitor's errors) from an index. The
    // index follows twins by rowid, which only VACUUM would renumber; no node runs it.
    "CREATE VIRTUAL TABLE IF NOT EXISTS twins_text USING fts5(text, tokenize = 'trigram');
     INSERT INTO twins_text(rowid, text)
         SELECT rowid, coalesce(local_key, '') || ' ' || coalesce(remote_key, '') || ' ' || search_text
         FROM twins;
     CREATE TRIGGER IF NOT EXISTS twins_text_insert AFTER INSERT ON twins BEGIN
         INSERT INTO twins_text(rowid, text) VALUES (new.rowid,
             coalesce(new.local_key, '') || ' ' || coalesce(new.remote_key, '') || ' ' || new.search_text);
     END;
     CREATE TRIGGER IF NOT EXISTS twins_text_update
     AFTER UPDATE OF local_key, remote_key, search_text ON twins BEGIN
         UPDATE twins_text SET text =
             coalesce(new.local_key, '') || ' ' || coalesce(new.remote_key, '') || ' ' || new.search_text
         WHERE rowid = new.rowid;
     END;
     CREATE TRIGGER IF NOT EXISTS twins_text_delete AFTER DELETE ON twins BEGIN
         DELETE FROM twins_text WHERE rowid = old.rowid;
     END;
     CREATE INDEX IF NOT EXISTS twins_status ON twins(status, created_ms, id);",
    // 5: a twin's text is indexed again only when it changed. Every twin write sets the
    // three columns, and an `UPDATE OF` trigger fires on a set column whatever its value:
    // each step of a sync (lease, send, apply, ack) rewrote the twin's trigrams.
    "DROP TRIGGER IF EXISTS twins_text_update;
     CREATE TRIGGER twins_text_update
     AFTER UPDATE OF local_key, remote_key, search_text ON twins
     WHEN old.local_key IS NOT new.local_key
       OR old.remote_key IS NOT new.remote_key
       OR old.search_text IS NOT new.search_text
     BEGIN
         UPDATE twins_text SET text =
             coalesce(new.local_key, '') || ' ' || coalesce(new.remote_key, '') || ' ' || new.search_text
         WHERE rowid = new.rowid;
     END;",
    // 6: the trigram index is brought up to date in batches (`text_index`), not in
    // each twin write: indexing in every commit made each one write a new FTS5 segment
    // and merge segments, about a fifth of a Bulk Exalate's time. The triggers now note
    // the twin as waiting; a search indexes what waits before it looks, so it finds what
    // any write before it wrote.
    "CREATE TABLE IF NOT EXISTS twins_text_waiting (id INTEGER PRIMARY KEY);
     DROP TRIGGER IF EXISTS twins_text_insert;
     DROP TRIGGER IF EXISTS twins_text_update;
     DROP TRIGGER IF EXISTS twins_text_delete;
     CREATE TRIGGER twins_text_insert AFTER INSERT ON twins BEGIN
         INSERT OR IGNORE INTO twins_text_waiting(id) VALUES (new.rowid);
     END;
     CREATE TRIGGER twins_text_update
     AFTER UPDATE OF local_key, remote_key, search_text ON twins
     WHEN old.local_key IS NOT new.local_key
       OR old.remote_key IS NOT new.remote_key
       OR old.search_text IS NOT new.search_text
     BEGIN
         INSERT OR IGNORE INTO twins_text_waiting(id) VALUES (new.rowid);
     END;
     CREATE TRIGGER twins_text_delete AFTER DELETE ON twins BEGIN
         DELETE FROM twins_text WHERE rowid = old.rowid;
         DELETE FROM twins_text_waiting WHERE id = old.rowid;
     END;",
    // 7: a twin's replica history keeps the newest `REPLICA_HISTORY` (50) of each
    // direction, as a ring: each record has its version's place (`ReplicaRecord::slot`),
    // and a new one replaces the one there. Of what older builds kept, the newest record
    // of each place stays. The ring's index also finds a twin's records, which a history
    // of at most 100 sorts by `seq` in no time, so the old index goes (one index a write).
    "ALTER TABLE replicas ADD COLUMN direction TEXT NOT NULL DEFAULT '';
     ALTER TABLE replicas ADD COLUMN slot INTEGER NOT NULL DEFAULT 0;
     UPDATE replicas SET
         direction = coalesce(json_extract(body, '$.direction'), ''),
         slot = coalesce(json_extract(body, '$.version'), 0) % 50;
     DELETE FROM replicas WHERE seq NOT IN (
         SELECT max(seq) FROM replicas GROUP BY twin_id, direction, slot);
     CREATE UNIQUE INDEX replicas_slot ON replicas(twin_id, direction, slot);
     DROP INDEX IF EXISTS replicas_twin;",
];

/// Brings a database at schema version `from` to [`SCHEMA_VERSION`], each step in a
/// transaction with its version, so a crash leaves it at one version or the next.
fn migrate(conn: &mut Connection, from: i64) -> Result<(), StoreError> {
    for (to, step) in (from + 1..=SCHEMA_VERSION).zip(MIGRATIONS.iter().skip((from - 1) as usize)) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", to)?;
        tx.commit()?;
        tracing::info!(version = to, "database schema migrated");
    }
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}

/// Prepared statements kept per connection: more than the store's forty or so.
const STATEMENT_CACHE: usize = 96;

impl Db {
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let conn = Connection::open(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::init(conn)
    }

    pub fn open_in_memory() -> Result<Db, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Db, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL lets readers run beside the writer; NORMAL sync is durable across process
        // crashes, which is what the queue semantics need.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A group commit's writes each run in a savepoint, whose journal SQLite spills to
        // a temporary file past 64 KiB: in memory instead (it is gone with the
        // transaction anyway).
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Plans that do not depend on bound values: SQLite otherwise re-prepares a
        // statement whenever the number bound to its `LIMIT ?` changes (a receive's batch
        // size, a group's message count), which made parsing 3.5% of a Bulk Exalate's CPU
        // time although every statement is cached.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        // 16 MiB of page cache: a node's hot set (queue heads, the twins being synced)
        // fits, and the rest is the OS's page cache. 64 MiB per node made the bulk demo's
        // RSS 261 MB for no measurable speed (122.7 vs 119.6 items/s; search unchanged).
        conn.pragma_update(None, "cache_size", -16384)?;
        // Every statement the store runs stays prepared (about forty): parsing them again
        // on each call was an eighth of the bulk demo's CPU time.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "database schema {version} is newer than this build ({SCHEMA_VERSION})"
            )));
        }
        conn.execute_batch(SCHEMA)?;
        migrate(&mut conn, version.max(1))?;
        Ok(Db {
            inner: Arc::new(Mutex::new(Inner::new(conn))),
            settled: Arc::new(watch::Sender::new(Settled::default())),
            wakers: Arc::default(),
            twin_writes: Arc::default(),
        })
    }

    /// The connection; a poisoned lock (a panic elsewhere) still gives it back, since
    /// every write runs in a savepoint and cannot be left half-done.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a read. One that saw writes not yet committed answers once they are, so a
    /// caller never acts on what a crash could take back.
    pub(crate) async fn read<T>(
        &self,
        op: impl FnOnce(&Connection) -> PortResult<T>,
    ) -> PortResult<T> {
        let (value, pending) = {
            let inner = self.lock();
            (op(&inner.conn), inner.pending())
        };
        let value = value?;
        if let Some(group) = pending {
            self.settled(group).await?;
        }
        Ok(value)
    }

    /// A read for a hint only (when the next message is due), which need not wait for
    /// a commit: acting on it early costs one look too many.
    pub(crate) fn peek<T>(&self, op: impl FnOnce(&Connection) -> T) -> T {
        op(&self.lock().conn)
    }

    /// Runs a write in the open group transaction and returns once the group is
    /// committed. The write that began the group commits it after one turn of the
    /// scheduler, in which the other ready writers join it.
    pub(crate) async fn write<T>(
        &self,
        op: impl FnOnce(&Connection) -> PortResult<T>,
    ) -> PortResult<T> {
        let (value, group, role) = {
            let mut inner = self.lock();
            let (group, role) = inner.join(&self.settled)?;
            (inner.run(op), group, role)
        };
        if role == Role::Leads {
            let commit = CommitOnDrop { db: self, group };
            tokio::task::yield_now().await;
            drop(commit);
        }
        let value = value?;
        self.settled(group).await?;
        Ok(value)
    }

    /// Waits until `group` is over; its failure is the caller's. A group whose writer
    /// is still held but no longer polled (a future kept and forgotten) would hold its
    /// waiters for good, so a waiter that has waited [`GROUP_WAIT`] commits it itself.
    async fn settled(&self, group: u64) -> PortResult<()> {
        // The writer that committed its group finds it over: no subscription, no timer.
        if !commit::is_over(&self.settled.borrow(), group) {
            let mut watch = self.settled.subscribe();
            let over =
                tokio::time::timeout(GROUP_WAIT, watch.wait_for(|s| commit::is_over(s, group)));
            if over.await.is_err() {
                self.lock().finish(group, &self.settled);
            }
        }
        commit::outcome(&self.settled.borrow(), group)
    }

    /// Reads the records a query's rows hold as JSON in their first column.
    pub(crate) async fn read_records<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params + Send,
    ) -> PortResult<Vec<T>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(sql).map_err(port_err)?;
            collect_json(&mut stmt, params)
        })
        .await
    }

    /// Reads the record a query's one row holds as JSON in its first column, if any.
    pub(crate) async fn read_record<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: impl rusqlite::Params + Send,
    ) -> PortResult<Option<T>> {
        let body: Option<String> = self
            .read(|conn| {
                conn.query_row_cached(sql, params, |r| r.get(0))
                    .optional()
                    .map_err(port_err)
            })
            .await?;
        body.map(|b| serde_json::from_str(&b).map_err(json_err))
            .transpose()
    }

    /// How many commits this handle's writes have made: a write that shares a group
    /// commit adds none of its own.
    pub fn commits(&self) -> u64 {
        self.lock().committed()
    }

    /// Counts a twin write; true every [`text_index::BATCH`] of them, when the twins
    /// that wait should be indexed.
    pub(crate) fn twin_written(&self) -> bool {
        if self.twin_writes.fetch_add(1, Ordering::Relaxed) + 1 < crate::text_index::BATCH {
            return false;
        }
        self.twin_writes.store(0, Ordering::Relaxed);
        true
    }

    /// The activity counter of `queue`, made on first use.
    pub(crate) fn waker(&self, queue: &str) -> watch::Sender<u64> {
        let mut wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        wakers
            .entry(queue.to_string())
            .or_insert_with(|| watch::Sender::new(0))
            .clone()
    }

    /// Tells the consumers of `queue` that a message may have become receivable.
    pub(crate) fn wake(&self, queue: &str) {
        self.waker(queue).send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Commits the group its writer began, also when that writer's future is dropped while it
/// lets the others join: a group left open would hold every later writer.
struct CommitOnDrop<'a> {
    db: &'a Db,
    group: u64,
}

impl Drop for CommitOnDrop<'_> {
    fn drop(&mut self) {
        self.db.lock().finish(self.group, &self.db.settled);
    }
}
