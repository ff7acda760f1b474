//! The rows of the `messages` and `message_groups` tables, as the queue and its
//! dead-letter moves read and write them.

use crate::cached::ExecuteCached;
use rusqlite::{Connection, OptionalExtension, params};
use twinsync_ports::{NewMessage, SendOutcome};

/// Recomputes a group's row after its messages changed.
pub(crate) fn refresh_group(tx: &Connection, queue: &str, group: &str) -> rusqlite::Result<()> {
    let (head, available, count): (Option<i64>, Option<i64>, i64) = tx.query_row_cached(
        "SELECT MIN(seq), MAX(visible_at), COUNT(*) FROM messages WHERE queue = ?1 AND group_id = ?2",
        params![queue, group],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    match (count, head) {
        (0, _) | (_, None) => {
            tx.execute_cached(
                "DELETE FROM message_groups WHERE queue = ?1 AND group_id = ?2",
                params![queue, group],
            )?;
        }
        (_, Some(head)) => {
            tx.execute_cached(
                "INSERT INTO message_groups (queue, group_id, head_seq, available_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (queue, group_id) DO UPDATE SET head_seq = excluded.head_seq, available_at = excluded.available_at",
                params![queue, group, head, available.unwrap_or(0)],
            )?;
        }
    }
    Ok(())
}

/// Inserts one message unless its dedup id is in the window.
pub(crate) fn insert(
    tx: &Connection,
    queue: &str,
    message: &NewMessage,
    now: i64,
    window: i64,
) -> rusqlite::Result<SendOutcome> {
    let seen: Option<i64> = tx
        .query_row_cached(
            "SELECT expires_ms FROM dedup WHERE queue = ?1 AND dedup_id = ?2",
            params![queue, message.dedup_id],
            |r| r.get(0),
        )
        .optional()?;
    if seen.is_some_and(|expires| expires > now) {
        return Ok(SendOutcome::Duplicate);
    }
    tx.execute_cached(
        "INSERT INTO dedup (queue, dedup_id, expires_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (queue, dedup_id) DO UPDATE SET expires_ms = excluded.expires_ms",
        params![queue, message.dedup_id, now + window],
    )?;
    tx.execute_cached(
        "INSERT INTO messages (id, queue, group_id, dedup_id, body, sent_ms, visible_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
        params![
            uuid::Uuid::now_v7().to_string(),
            queue,
            message.group_id,
            message.dedup_id,
            message.body,
            now
        ],
    )?;
    tx.execute_cached(
        "INSERT OR IGNORE INTO queue_names (name) VALUES (?1)",
        params![queue],
    )?;
    refresh_group(tx, queue, &message.group_id)?;
    Ok(SendOutcome::Enqueued)
}

/// A stored message, as a receive reads it.
pub(crate) struct Row {
    pub(crate) seq: i64,
    pub(crate) id: String,
    pub(crate) dedup_id: String,
    pub(crate) body: String,
    pub(crate) sent_ms: i64,
    pub(crate) receive_count: u32,
    pub(crate) first_receive_ms: Option<i64>,
    pub(crate) redriven: bool,
}

/// Up to `limit` messages of a group (all for -1), in order.
pub(crate) fn group_rows(
    tx: &Connection,
    queue: &str,
    group: &str,
    limit: i64,
) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = tx.prepare_cached(
        "SELECT seq, id, dedup_id, body, sent_ms, receive_count, first_receive_ms, redriven FROM messages
         WHERE queue = ?1 AND group_id = ?2 ORDER BY seq LIMIT ?3",
    )?;
    stmt.query_map(params![queue, group, limit], |r| {
        Ok(Row {
            seq: r.get(0)?,
            id: r.get(1)?,
            dedup_id: r.get(2)?,
            body: r.get(3)?,
            sent_ms: r.get(4)?,
            receive_count: r.get(5)?,
            first_receive_ms: r.get(6)?,
            redriven: r.get(7)?,
        })
    })?
    .collect()
}
