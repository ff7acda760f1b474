//! Local adapters of the ports on SQLite (WAL): a queue with SQS FIFO semantics and the
//! twin and connection stores. One node keeps everything in one database file.

mod cached;
mod commit;
mod connections;
mod db;
mod dead_letters;
mod messages;
mod queue;
mod text_index;
pub use text_index::BATCH as TEXT_INDEX_BATCH;
mod twin_list;
mod twins;

pub use connections::SqliteConnectionStore;
pub use db::Db;
pub use queue::{QueueSettings, SqliteQueue};
pub use twins::SqliteTwinStore;

use std::path::Path;
use std::sync::Arc;
use twinsync_core::Clock;
use twinsync_ports::PortError;

/// Errors of opening and migrating a database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {path}: {message}")]
    Open { path: String, message: String },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A busy or locked database may work on the next try; the rest will not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// Maps a SQLite error to the ports' error: a unique-constraint failure is a lost race.
pub(crate) fn port_err(e: rusqlite::Error) -> PortError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            PortError::Conflict(e.to_string())
        }
        _ => PortError::Storage(e.to_string()),
    }
}

pub(crate) fn json_err(e: serde_json::Error) -> PortError {
    PortError::Storage(format!("stored record is unreadable: {e}"))
}

/// Runs a prepared query whose first column is a JSON record and decodes every row.
pub(crate) fn collect_json<T: serde::de::DeserializeOwned>(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: impl rusqlite::Params,
) -> twinsync_ports::PortResult<Vec<T>> {
    let rows = stmt
        .query_map(params, |r| r.get::<_, String>(0))
        .map_err(port_err)?;
    let mut out = Vec::new();
    for body in rows {
        out.push(serde_json::from_str(&body.map_err(port_err)?).map_err(json_err)?);
    }
    Ok(out)
}

/// The three stores of one node over one database file.
pub fn open_node_store(
    path: &Path,
    clock: Arc<dyn Clock>,
    queue: QueueSettings,
) -> Result<(SqliteQueue, SqliteTwinStore, SqliteConnectionStore), StoreError> {
    let db = Db::open(path)?;
    Ok(stores(db, clock, queue))
}

/// The same over an in-memory database, for tests.
pub fn open_in_memory(
    clock: Arc<dyn Clock>,
) -> Result<(SqliteQueue, SqliteTwinStore, SqliteConnectionStore), StoreError> {
    Ok(stores(
        Db::open_in_memory()?,
        clock,
        QueueSettings::default(),
    ))
}

fn stores(
    db: Db,
    clock: Arc<dyn Clock>,
    queue: QueueSettings,
) -> (SqliteQueue, SqliteTwinStore, SqliteConnectionStore) {
    (
        SqliteQueue::new(db.clone(), clock.clone(), queue),
        SqliteTwinStore::new(db.clone()),
        SqliteConnectionStore::new(db, clock),
    )
}
