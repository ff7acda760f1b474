//! Connections, trigger cursors, transport nonces and scheduler state.

use crate::cached::ExecuteCached;
use crate::{Db, port_err, queue::purge_dedup};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;
use twinsync_core::{Clock, Connection};
use twinsync_ports::{ConnectionStore, PollCursor, PortError, PortResult};

pub struct SqliteConnectionStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl SqliteConnectionStore {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> PortResult<String> {
    serde_json::to_string(v).map_err(|e| PortError::Storage(e.to_string()))
}

#[async_trait]
impl ConnectionStore for SqliteConnectionStore {
    async fn get(&self, id: &str) -> PortResult<Option<Connection>> {
        self.db
            .read_record("SELECT body FROM connections WHERE id = ?1", (id,))
            .await
    }

    async fn list(&self) -> PortResult<Vec<Connection>> {
        self.db
            .read_records("SELECT body FROM connections ORDER BY id", [])
            .await
    }

    async fn insert(&self, connection: &Connection) -> PortResult<()> {
        let body = to_json(connection)?;
        self.db
            .write(|conn| {
                conn.execute_cached(
                    "INSERT INTO connections (id, revision, body) VALUES (?1, ?2, ?3)",
                    params![connection.id, connection.revision as i64, body],
                )
                .map_err(port_err)
            })
            .await?;
        Ok(())
    }

    async fn update(&self, connection: &Connection) -> PortResult<Connection> {
        let mut stored = connection.clone();
        stored.revision = connection.revision + 1;
        let body = to_json(&stored)?;
        let n = self
            .db
            .write(|conn| {
                conn.execute_cached(
                    "UPDATE connections SET revision = ?1, body = ?2 WHERE id = ?3 AND revision = ?4",
                    params![
                        stored.revision as i64,
                        body,
                        stored.id,
                        connection.revision as i64
                    ],
                )
                .map_err(port_err)
            })
            .await?;
        if n == 0 {
            return Err(PortError::Conflict(format!(
                "connection {} changed since revision {}",
                connection.id, connection.revision
            )));
        }
        Ok(stored)
    }

    async fn delete(&self, id: &str) -> PortResult<()> {
        self.db
            .write(|tx| {
                tx.execute_cached("DELETE FROM connections WHERE id = ?1", params![id])
                    .map_err(port_err)?;
                tx.execute_cached("DELETE FROM cursors WHERE connection_id = ?1", params![id])
                    .map_err(port_err)?;
                Ok(())
            })
            .await
    }

    async fn cursor(
        &self,
        connection_id: &str,
        trigger_id: &str,
    ) -> PortResult<Option<PollCursor>> {
        self.db
            .read_record(
                "SELECT body FROM cursors WHERE connection_id = ?1 AND trigger_id = ?2",
                (connection_id, trigger_id),
            )
            .await
    }

    async fn set_cursor(
        &self,
        connection_id: &str,
        trigger_id: &str,
        cursor: &PollCursor,
    ) -> PortResult<()> {
        let body = to_json(cursor)?;
        self.db
            .write(|conn| {
                conn.execute_cached(
                    "INSERT INTO cursors (connection_id, trigger_id, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (connection_id, trigger_id) DO UPDATE SET body = excluded.body",
                    params![connection_id, trigger_id, body],
                )
                .map_err(port_err)
            })
            .await?;
        Ok(())
    }

    async fn remember_nonce(&self, nonce: &str, expires_ms: i64) -> PortResult<bool> {
        let now = self.clock.now_ms();
        self.db
            .write(|tx| {
                let known: Option<i64> = tx
                    .query_row_cached(
                        "SELECT expires_ms FROM nonces WHERE nonce = ?1",
                        params![nonce],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(port_err)?;
                if known.is_some_and(|e| e > now) {
                    return Ok(false);
                }
                tx.execute_cached(
                    "INSERT INTO nonces (nonce, expires_ms) VALUES (?1, ?2)
                     ON CONFLICT (nonce) DO UPDATE SET expires_ms = excluded.expires_ms",
                    params![nonce, expires_ms],
                )
                .map_err(port_err)?;
                Ok(true)
            })
            .await
    }

    async fn purge_expired(&self, now_ms: i64) -> PortResult<u64> {
        self.db
            .write(|conn| {
                let nonces = conn
                    .execute_cached("DELETE FROM nonces WHERE expires_ms <= ?1", params![now_ms])
                    .map_err(port_err)?;
                let dedup = purge_dedup(conn, now_ms).map_err(port_err)?;
                Ok((nonces + dedup) as u64)
            })
            .await
    }

    async fn get_meta(&self, key: &str) -> PortResult<Option<String>> {
        self.db
            .read(|conn| {
                conn.query_row_cached("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(port_err)
            })
            .await
    }

    async fn replace_meta(
        &self,
        key: &str,
        expected: Option<&str>,
        value: &str,
    ) -> PortResult<bool> {
        let changed = self
            .db
            .write(|conn| {
                match expected {
                    None => conn.execute_cached(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                        params![key, value],
                    ),
                    Some(old) => conn.execute_cached(
                        "UPDATE meta SET value = ?3 WHERE key = ?1 AND value = ?2",
                        params![key, old, value],
                    ),
                }
                .map_err(port_err)
            })
            .await?;
        Ok(changed == 1)
    }

    async fn set_meta(&self, key: &str, value: &str) -> PortResult<()> {
        self.db
            .write(|conn| {
                conn.execute_cached(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![key, value],
                )
                .map_err(port_err)
            })
            .await?;
        Ok(())
    }
}
