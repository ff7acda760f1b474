//! Twins, their replica history and their sync events.

use crate::db::ExecuteCached;
use crate::text_index;
use crate::twin_list::{ListSql, TextMatch};
use crate::{Db, collect_json, json_err, port_err};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
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

    fn one(&self, sql: &str, a: &str, b: Option<&str>) -> PortResult<Option<Twin>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached(sql).map_err(port_err)?;
        let body: Option<String> = match b {
            Some(b) => stmt.query_row(params![a, b], |r| r.get(0)),
            None => stmt.query_row(params![a], |r| r.get(0)),
        }
        .optional()
        .map_err(port_err)?;
        body.map(|b| serde_json::from_str(&b).map_err(json_err))
            .transpose()
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
        self.one("SELECT body FROM twins WHERE id = ?1", id, None)
    }

    async fn find_by_local(
        &self,
        connection_id: &str,
        local_key: &str,
    ) -> PortResult<Option<Twin>> {
        self.one(
            "SELECT body FROM twins WHERE connection_id = ?1 AND local_key = ?2",
            connection_id,
            Some(local_key),
        )
    }

    async fn find_by_remote(
        &self,
        connection_id: &str,
        remote_key: &str,
    ) -> PortResult<Option<Twin>> {
        self.one(
            "SELECT body FROM twins WHERE connection_id = ?1 AND remote_key = ?2",
            connection_id,
            Some(remote_key),
        )
    }

    async fn insert(&self, twin: &Twin) -> PortResult<()> {
        let mut conn = self.db.lock();
        insert_row(&conn, twin)?;
        self.db.twin_written(&mut conn);
        Ok(())
    }

    async fn update(&self, twin: &Twin) -> PortResult<Twin> {
        let mut stored = twin.clone();
        stored.revision = twin.revision + 1;
        let body = to_json(&stored)?;
        let mut conn = self.db.lock();
        let n = conn
            .execute_cached(
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
            .map_err(port_err)?;
        if n == 0 {
            return Err(PortError::Conflict(format!(
                "twin {} changed since revision {}",
                twin.id, twin.revision
            )));
        }
        self.db.twin_written(&mut conn);
        Ok(stored)
    }

    async fn delete(&self, id: &str) -> PortResult<()> {
        let conn = self.db.lock();
        delete_rows(&conn, id)
    }

    async fn replace(&self, gone: &[String], twin: &Twin) -> PortResult<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(port_err)?;
        for id in gone {
            delete_rows(&tx, id)?;
        }
        insert_row(&tx, twin)?;
        tx.commit().map_err(port_err)?;
        self.db.twin_written(&mut conn);
        Ok(())
    }

    async fn list(&self, query: &TwinQuery) -> PortResult<Vec<Twin>> {
        let mut conn = self.db.lock();
        if query.text.is_some() {
            // The index must hold every write made before this search.
            text_index::index_waiting(&mut conn).map_err(port_err)?;
        }
        let text = TextMatch::choose(&conn, query.text.as_deref()).map_err(port_err)?;
        let list = ListSql::of(query, text);
        let mut stmt = conn.prepare_cached(&list.sql).map_err(port_err)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(list.params), |r| {
                r.get::<_, String>(0)
            })
            .map_err(port_err)?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body.map_err(port_err)?).map_err(json_err)?);
        }
        Ok(out)
    }

    async fn count(&self, connection_id: Option<&str>) -> PortResult<u64> {
        let conn = self.db.lock();
        conn.query_row_cached(
            "SELECT COUNT(*) FROM twins WHERE (?1 IS NULL OR connection_id = ?1)",
            params![connection_id],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as u64)
        .map_err(port_err)
    }

    async fn count_under_sync(&self, connection_id: &str) -> PortResult<u64> {
        let conn = self.db.lock();
        conn.query_row_cached(
            "SELECT COUNT(*) FROM twins WHERE connection_id = ?1 AND status != 'unlinked'",
            params![connection_id],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n as u64)
        .map_err(port_err)
    }

    async fn add_event(&self, event: &SyncEvent) -> PortResult<()> {
        let body = to_json(event)?;
        let conn = self.db.lock();
        conn.execute_cached(
            "INSERT INTO events (connection_id, twin_id, at_ms, body) VALUES (?1, ?2, ?3, ?4)",
            params![event.connection_id, event.twin_id, event.at_ms, body],
        )
        .map_err(port_err)?;
        Ok(())
    }

    async fn events(
        &self,
        connection_id: Option<&str>,
        twin_id: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<SyncEvent>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached(&EVENTS_QUERY).map_err(port_err)?;
        let rows = stmt
            .query_map(params![connection_id, twin_id, limit as i64], |r| {
                r.get::<_, String>(0)
            })
            .map_err(port_err)?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body.map_err(port_err)?).map_err(json_err)?);
        }
        Ok(out)
    }

    async fn add_replica(&self, record: &ReplicaRecord) -> PortResult<()> {
        let body = to_json(record)?;
        let conn = self.db.lock();
        conn.execute_cached(
            "INSERT INTO replicas (twin_id, body) VALUES (?1, ?2)",
            params![record.twin_id, body],
        )
        .map_err(port_err)?;
        Ok(())
    }

    async fn replicas(&self, twin_id: &str) -> PortResult<Vec<ReplicaRecord>> {
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached("SELECT body FROM replicas WHERE twin_id = ?1 ORDER BY seq")
            .map_err(port_err)?;
        collect_json(&mut stmt, params![twin_id])
    }
}
