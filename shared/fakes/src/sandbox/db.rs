//! The sandbox tracker's SQLite storage.

use rusqlite::{Connection, OptionalExtension, Row, params};
use twinsync_sandbox::mapping::{WireAttachment, WireComment, WireItem, WireSync, WireUser};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS projects (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    statuses TEXT NOT NULL,
    priorities TEXT NOT NULL,
    next_number INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    project TEXT NOT NULL REFERENCES projects(key),
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT,
    priority TEXT,
    labels TEXT NOT NULL,
    assignee TEXT,
    reporter TEXT,
    custom_fields TEXT NOT NULL,
    origin TEXT,
    version INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS items_updated ON items(updated_ms, key);
CREATE INDEX IF NOT EXISTS items_origin ON items(origin);
CREATE TABLE IF NOT EXISTS comments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_key TEXT NOT NULL REFERENCES items(key),
    author TEXT,
    body TEXT NOT NULL,
    origin TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_item ON comments(item_key, seq);
CREATE TABLE IF NOT EXISTS attachments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_key TEXT NOT NULL REFERENCES items(key),
    filename TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    url TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_item ON attachments(item_key, seq);
CREATE TABLE IF NOT EXISTS item_sync (
    item_key TEXT PRIMARY KEY REFERENCES items(key),
    status TEXT NOT NULL,
    reason TEXT,
    twin_key TEXT,
    twin_url TEXT,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL
);
"#;

pub fn open(path: Option<&std::path::Path>) -> rusqlite::Result<Connection> {
    let conn = match path {
        Some(p) => Connection::open(p)?,
        None => Connection::open_in_memory()?,
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Only this server opens its database, on one connection: holding the file's lock
    // for good (set before WAL, so the WAL index lives in memory) spares every request
    // the shared-memory locks each transaction took, over a hundred system calls per
    // item a Bulk Exalate moves. A second server on the same file is refused (busy).
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Every statement stays prepared (a few dozen, updates by the columns they set)
    // rather than parsed again on each request.
    conn.set_prepared_statement_cache_capacity(64);
    // Plans that do not depend on bound values, so a cached statement is not prepared
    // again when the number bound to its `LIMIT ?` changes (a listing's page size).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

fn user(v: Option<String>) -> Option<WireUser> {
    v.and_then(|s| serde_json::from_str(&s).ok())
}

pub const ITEM_COLUMNS: &str = "key, project, summary, description, status, priority, labels, assignee, reporter, custom_fields, origin, version, created_ms, updated_ms";

/// An item row without comments and attachments.
pub fn item_from_row(r: &Row<'_>, base_url: &str) -> rusqlite::Result<WireItem> {
    let key: String = r.get(0)?;
    let labels: String = r.get(6)?;
    let custom: String = r.get(9)?;
    Ok(WireItem {
        url: format!("{base_url}/api/items/{key}"),
        key,
        project: r.get(1)?,
        summary: r.get(2)?,
        description: r.get(3)?,
        status: r.get(4)?,
        priority: r.get(5)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        assignee: user(r.get(7)?),
        reporter: user(r.get(8)?),
        custom_fields: serde_json::from_str(&custom).unwrap_or_default(),
        origin: r.get(10)?,
        version: r.get::<_, i64>(11)? as u64,
        created_ms: r.get(12)?,
        updated_ms: r.get(13)?,
        comments: vec![],
        attachments: vec![],
        sync: None,
    })
}

/// Fills in comments and attachments.
pub fn load_children(conn: &Connection, item: &mut WireItem) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, author, body, origin, created_ms FROM comments WHERE item_key = ?1 ORDER BY seq",
    )?;
    item.comments = stmt
        .query_map(params![item.key], |r| {
            Ok(WireComment {
                id: r.get::<_, i64>(0)?.to_string(),
                author: user(r.get(1)?),
                body: r.get(2)?,
                origin: r.get(3)?,
                created_ms: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT seq, filename, mime_type, size, url FROM attachments WHERE item_key = ?1 ORDER BY seq",
    )?;
    item.attachments = stmt
        .query_map(params![item.key], |r| {
            Ok(WireAttachment {
                id: r.get::<_, i64>(0)?.to_string(),
                filename: r.get(1)?,
                mime_type: r.get(2)?,
                size: r.get::<_, i64>(3)? as u64,
                url: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    item.sync = conn
        .prepare_cached(
            "SELECT status, reason, twin_key, twin_url, updated_ms FROM item_sync WHERE item_key = ?1",
        )?
        .query_row(params![item.key], |r| {
            Ok(WireSync {
                status: r.get(0)?,
                reason: r.get(1)?,
                twin_key: r.get(2)?,
                twin_url: r.get(3)?,
                updated_ms: r.get(4)?,
            })
        })
        .optional()?;
    Ok(())
}

pub fn get_item(
    conn: &Connection,
    key: &str,
    base_url: &str,
) -> rusqlite::Result<Option<WireItem>> {
    let mut item = conn
        .prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE key = ?1"))?
        .query_row(params![key], |r| item_from_row(r, base_url))
        .optional()?;
    if let Some(i) = item.as_mut() {
        load_children(conn, i)?;
    }
    Ok(item)
}

/// The project's allowed statuses and priorities.
pub fn project_lists(
    conn: &Connection,
    key: &str,
) -> rusqlite::Result<Option<(Vec<String>, Vec<String>)>> {
    conn.prepare_cached("SELECT statuses, priorities FROM projects WHERE key = ?1")?
        .query_row(params![key], |r| {
            let s: String = r.get(0)?;
            let p: String = r.get(1)?;
            Ok((
                serde_json::from_str(&s).unwrap_or_default(),
                serde_json::from_str(&p).unwrap_or_default(),
            ))
        })
        .optional()
}

pub fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}
