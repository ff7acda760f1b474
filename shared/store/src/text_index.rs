//! The twins' trigram index (`twins_text`, schema 6), brought up to date in batches.
//!
//! A twin write only notes the twin in `twins_text_waiting` (by trigger). Indexing each
//! write in its own commit made FTS5 write a segment per commit and merge them again;
//! a batch writes one. A search indexes what waits first, so it sees every write before it.

use rusqlite::Connection;

/// Twin writes between two batches. A batch is one segment of a few pages; 256 twins'
/// texts are far below what makes a search wait when it indexes them first.
pub const BATCH: usize = 256;

/// Indexes the twins that wait; run as one write, so all at once or not at all.
pub(crate) fn index_waiting(tx: &Connection) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM twins_text WHERE rowid IN (SELECT id FROM twins_text_waiting)")?
        .execute([])?;
    tx.prepare_cached(
        "INSERT INTO twins_text(rowid, text)
         SELECT t.rowid,
                coalesce(t.local_key, '') || ' ' || coalesce(t.remote_key, '') || ' ' || t.search_text
         FROM twins_text_waiting w JOIN twins t ON t.rowid = w.id",
    )?
    .execute([])?;
    tx.prepare_cached("DELETE FROM twins_text_waiting")?
        .execute([])?;
    Ok(())
}
