//! Moves between a queue and its dead-letter queue: the last-resort move of a message
//! unhandled for too long, and the operator's redrive back.

use crate::cached::ExecuteCached;
use crate::messages::{group_rows, refresh_group};
use crate::port_err;
use rusqlite::{Connection, params};
use twinsync_ports::{PortResult, QueueMessage, RedriveFilter, queues};

/// Moves one message of `queue` to its dead-letter queue, in the same group.
pub(crate) fn to_dead_letter_queue(
    tx: &Connection,
    queue: &str,
    group: &str,
    seq: i64,
) -> rusqlite::Result<()> {
    let dlq = queues::dlq(queue);
    tx.execute_cached(
        "UPDATE messages SET queue = ?1, visible_at = 0, receipt = NULL, delayed = 0, receive_count = 0,
             first_receive_ms = NULL WHERE seq = ?2",
        params![dlq, seq],
    )?;
    tx.execute_cached(
        "INSERT OR IGNORE INTO queue_names (name) VALUES (?1)",
        params![dlq],
    )?;
    refresh_group(tx, &dlq, group)
}

/// Moves the messages of `queue`'s dead-letter queue that `select` picks to the end of
/// `queue`: each is inserted again (a new sequence number, so it follows what its group
/// got meanwhile, as on SQS) with a fresh receive count and budget, marked redriven.
pub(crate) fn redrive_rows(
    tx: &Connection,
    queue: &str,
    select: &RedriveFilter,
    now: i64,
) -> PortResult<u64> {
    let dlq = queues::dlq(queue);
    let groups: Vec<String> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT group_id FROM message_groups WHERE queue = ?1 ORDER BY head_seq",
            )
            .map_err(port_err)?;
        stmt.query_map(params![dlq], |r| r.get(0))
            .map_err(port_err)?
            .collect::<Result<_, _>>()
            .map_err(port_err)?
    };
    let mut moved = 0;
    for group in groups {
        for row in group_rows(tx, &dlq, &group, -1).map_err(port_err)? {
            let message = QueueMessage {
                id: row.id,
                receipt: String::new(),
                group_id: group.clone(),
                dedup_id: row.dedup_id,
                body: row.body,
                receive_count: row.receive_count,
                sent_ms: row.sent_ms,
                first_receive_ms: row.first_receive_ms.unwrap_or(0),
                redriven: row.redriven,
            };
            if !select(&message) {
                continue;
            }
            tx.execute_cached("DELETE FROM messages WHERE seq = ?1", params![row.seq])
                .map_err(port_err)?;
            tx.execute_cached(
                "INSERT INTO messages (id, queue, group_id, dedup_id, body, sent_ms, visible_at, redriven)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 1)",
                params![
                    uuid::Uuid::now_v7().to_string(),
                    queue,
                    group,
                    message.dedup_id,
                    message.body,
                    now
                ],
            )
            .map_err(port_err)?;
            moved += 1;
        }
        refresh_group(tx, &dlq, &group).map_err(port_err)?;
        refresh_group(tx, queue, &group).map_err(port_err)?;
    }
    tx.execute_cached(
        "INSERT OR IGNORE INTO queue_names (name) VALUES (?1)",
        params![queue],
    )
    .map_err(port_err)?;
    Ok(moved)
}
