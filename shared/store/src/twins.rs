//! Twins, their replica history and their sync events.

use crate::cached::ExecuteCached;
use crate::text_index;
use crate::twin_list::{ListSql, TextMatch};
use crate::{Db, collect_json, port_err};
use async_trait::async_trait;
use rusqlite::params;
use twinsync_core::{SyncEvent, SyncEventKind, Twin};
use twinsync_ports::{PortError, PortResult, ReplicaRecord, TwinQuery, TwinStore};

/// A twin's timeline, or a connection's feed without the twin's routine steps
/// (`SyncEvent::in_connection_feed`): the kinds left out are `SyncEventKind::ROUTINE`'s, by
/// their stored names.
static EVENTS_QUERY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let routine = SyncEventKind::ROUTINE
        .iter()
        .filter_map(|k| serde_json::to_value(k).ok())
        .filter_map(|v| v.as_str().map(|name| format!("'{name}'")))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT body FROM events
         WHERE (?1 IS NULL OR connection_id = ?1) AND (?2 IS NULL OR twin_id = ?2)
           AND (?2 IS NOT NULL OR twin_id IS NULL
                OR json_extract(body, '$.kind') NOT IN ({routine}))
         ORDER BY seq DESC LIMIT ?3"
    )
});

pub struct SqliteTwinStore {
    db: Db,
}

impl SqliteTwinStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Counts a twin write, and every [`text_index::BATCH`] of them indexes the twins
    /// that wait. The write is committed whatever happens here: an index that cannot be
    /// written now is written by the next batch or search, so it is only logged.
    async fn twin_written(&self) {
        if !self.db.twin_written() {
            return;
        }
        let indexed = self
            .db
            .write(|conn| text_index::index_waiting(conn).map_err(port_err))
            .await;
        if let Err(e) = indexed {
            tracing::warn!(error = %e, "the twins' text index could not be updated; the next search does it");
        }
    }

    async fn count_of(&self, sql: &str, params: impl rusqlite::Params + Send) -> PortResult<u64> {
        self.db
            .read(|conn| {
                conn.query_row_cached(sql, params, |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
                    .map_err(port_err)
            })
            .await
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> PortResult<String> {
    serde_json::to_string(v).map_err(|e| PortError::Storage(e.to_string()))
}

/// Inserts a twin's row; a unique key taken is a `Conflict` (`port_err`).
fn insert_row(conn: &rusqlite::Connection, twin: &Twin) -> PortResult<()> {
    let body = to_json(twin)?;
    conn.execute_cached(
        "INSERT INTO twins (id, connection_id, local_key, remote_key, status, revision, created_ms, body, search_text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            twin.id,
            twin.connection_id,
            twin.local_key,
            twin.remote_key,
            twin.status.label(),
            twin.revision as i64,
            twin.created_ms,
            body,
            twin.search_text()
        ],
    )
    .map_err(port_err)?;
    Ok(())
}

/// Deletes a twin's row and its replica history.
fn delete_rows(conn: &rusqlite::Connection, id: &str) -> PortResult<()> {
    conn.execute_cached("DELETE FROM twins WHERE id = ?1", params![id])
        .map_err(port_err)?;
    conn.execute_cached("DELETE FROM replicas WHERE twin_id = ?1", params![id])
        .map_err(port_err)?;
    Ok(())
}

#[async_trait]
impl TwinStore for SqliteTwinStore {
    async fn get(&self, id: &str) -> PortResult<Option<Twin>> {
        self.db
            .read_record("SELECT body FROM twins WHERE id = ?1", (id,))
            .await
    }

    async fn find_by_local(
        &self,
        connection_id: &str,
        local_key: &str,
    ) -> PortResult<Option<Twin>> {
        self.db
            .read_record(
                "SELECT body FROM twins WHERE connection_id = ?1 AND local_key = ?2",
                (connection_id, local_key),
            )
            .await
    }

    async fn find_by_remote(
        &self,
        connection_id: &str,
        remote_key: &str,
    ) -> PortResult<Option<Twin>> {
        self.db
            .read_record(
                "SELECT body FROM twins WHERE connection_id = ?1 AND remote_key = ?2",
                (connection_id, remote_key),
            )
            .await
    }

    async fn insert(&self, twin: &Twin) -> PortResult<()> {
        self.db.write(|conn| insert_row(conn, twin)).await?;
        self.twin_written().await;
        Ok(())
    }

    async fn update(&self, twin: &Twin) -> PortResult<Twin> {
        let mut stored = twin.clone();
        stored.revision = twin.revision + 1;
        let body = to_json(&stored)?;
        let n = self
            .db
            .write(|conn| {
                conn.execute_cached(
                "UPDATE twins SET local_key = ?1, remote_key = ?2, status = ?3, revision = ?4, body = ?5,
                        search_text = ?8
                 WHERE id = ?6 AND revision = ?7",
                params![
                    stored.local_key,
                    stored.remote_key,
                    stored.status.label(),
                    stored.revision as i64,
                    body,
                    stored.id,
                    twin.revision as i64,
                    stored.search_text()
                ],
            )
            .map_err(port_err)
            })
            .await?;
        if n == 0 {
            return Err(PortError::Conflict(format!(
                "twin {} changed since revision {}",
                twin.id, twin.revision
            )));
        }
        self.twin_written().await;
        Ok(stored)
    }

    async fn delete(&self, id: &str) -> PortResult<()> {
        self.db.write(|conn| delete_rows(conn, id)).await
    }

    async fn replace(&self, gone: &[String], twin: &Twin) -> PortResult<()> {
        self.db
            .write(|tx| {
                for id in gone {
                    delete_rows(tx, id)?;
                }
                insert_row(tx, twin)
            })
            .await?;
        self.twin_written().await;
        Ok(())
    }

    async fn list(&self, query: &TwinQuery) -> PortResult<Vec<Twin>> {
        if query.text.is_some() {
            // The index must hold every write made before this search.
            self.db
                .write(|conn| text_index::index_waiting(conn).map_err(port_err))
                .await?;
        }
        self.db
            .read(|conn| {
                let text = TextMatch::choose(conn, query.text.as_deref()).map_err(port_err)?;
                let list = ListSql::of(query, text);
                let mut stmt = conn.prepare_cached(&list.sql).map_err(port_err)?;
                collect_json(&mut stmt, rusqlite::params_from_iter(list.params))
            })
            .await
    }

    async fn count(&self, connection_id: Option<&str>) -> PortResult<u64> {
        self.count_of(
            "SELECT COUNT(*) FROM twins WHERE (?1 IS NULL OR connection_id = ?1)",
            (connection_id,),
        )
        .await
    }

    async fn count_under_sync(&self, connection_id: &str) -> PortResult<u64> {
        self.count_of(
            "SELECT COUNT(*) FROM twins WHERE connection_id = ?1 AND status != 'unlinked'",
            (connection_id,),
        )
        .await
    }

    async fn add_event(&self, event: &SyncEvent) -> PortResult<()> {
        let body = to_json(event)?;
        self.db
            .write(|conn| {
                conn.execute_cached(
                    "INSERT INTO events (connection_id, twin_id, at_ms, body) VALUES (?1, ?2, ?3, ?4)",
                    params![event.connection_id, event.twin_id, event.at_ms, body],
                )
                .map_err(port_err)
            })
            .await?;
        Ok(())
    }

    async fn events(
        &self,
        connection_id: Option<&str>,
        twin_id: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<SyncEvent>> {
        self.db
            .read_records(&EVENTS_QUERY, (connection_id, twin_id, limit as i64))
            .await
    }

    async fn add_replica(&self, record: &ReplicaRecord) -> PortResult<()> {
        let body = to_json(record)?;
        let slot = record.slot() as i64;
        self.db
            .write(|conn| {
                // The record takes its version's place in the ring (as on DynamoDB): the
                // one it replaces is REPLICA_HISTORY versions older, or a retry's own.
                conn.execute_cached(
                    "INSERT OR REPLACE INTO replicas (twin_id, direction, slot, body)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![record.twin_id, record.direction, slot, body],
                )
                .map_err(port_err)
            })
            .await?;
        Ok(())
    }

    async fn replicas(&self, twin_id: &str) -> PortResult<Vec<ReplicaRecord>> {
        self.db
            .read_records(
                "SELECT body FROM replicas WHERE twin_id = ?1 ORDER BY seq",
                (twin_id,),
            )
            .await
    }
}
