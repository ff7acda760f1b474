//! Group commit: the writes that reach the database while a commit is pending share it.
//!
//! A node's handlers make many small writes side by side (a receive, a twin, a send, a
//! delete for each message of each queue). Committing each on its own wrote the same
//! pages to the write-ahead log again and again and took the file locks each time; a
//! Bulk Exalate spent about a third of its time there. Now a write joins the open group
//! transaction in a savepoint of its own, the first write of a group commits it after
//! one turn of the scheduler, and every write (and every read that saw the group's
//! writes) returns only once its group is committed. So nothing a caller goes on to do,
//! such as a tracker write, rests on data a crash could still take back.

use crate::cached::ExecuteCached;
use crate::port_err;
use rusqlite::Connection;
use std::collections::VecDeque;
use twinsync_ports::{PortError, PortResult};

/// The connection and the group transaction open on it.
pub(crate) struct Inner {
    pub(crate) conn: Connection,
    /// The open group, if a write has begun one that is not committed yet.
    group: Option<u64>,
    /// The number the next group gets.
    next: u64,
    /// Groups committed so far.
    committed: u64,
}

/// Groups that are over: every group up to `through` is committed or failed.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    through: u64,
    /// Groups that failed, with why; the last few only, which is all a waiter needs, since
    /// it reads this as soon as its group is over.
    failed: VecDeque<(u64, String)>,
}

/// How many failed groups `Settled` remembers.
const FAILURES_KEPT: usize = 64;

/// Whether the write that joined a group began it, and so commits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Leads,
    Follows,
}

impl Inner {
    pub(crate) fn new(conn: Connection) -> Self {
        Self {
            conn,
            group: None,
            next: 1,
            committed: 0,
        }
    }

    /// How many groups have been committed on this connection.
    pub(crate) fn committed(&self) -> u64 {
        self.committed
    }

    /// The group open now, if a read would see writes that are not committed.
    pub(crate) fn pending(&self) -> Option<u64> {
        self.group
    }

    /// Joins the open group, or begins one. A group whose transaction SQLite has rolled
    /// back already (an I/O error ends the whole transaction) is failed here, so that no
    /// later write runs outside it believing it is inside.
    pub(crate) fn join(
        &mut self,
        settled: &tokio::sync::watch::Sender<Settled>,
    ) -> PortResult<(u64, Role)> {
        if let Some(group) = self.group {
            if !self.conn.is_autocommit() {
                return Ok((group, Role::Follows));
            }
            self.finish(group, settled);
        }
        self.conn
            .execute_cached("BEGIN IMMEDIATE", [])
            .map_err(port_err)?;
        let group = self.next;
        self.next += 1;
        self.group = Some(group);
        Ok((group, Role::Leads))
    }

    /// Runs one write in a savepoint of the group: a write that fails leaves nothing of
    /// itself, and the group's other writes stand.
    pub(crate) fn run<T>(
        &mut self,
        op: impl FnOnce(&Connection) -> PortResult<T>,
    ) -> PortResult<T> {
        let savepoint = Savepoint::begin(&self.conn)?;
        let value = op(&self.conn)?;
        savepoint.release()?;
        Ok(value)
    }

    /// Commits `group` if it is still the open one, and tells its waiters how it went.
    pub(crate) fn finish(&mut self, group: u64, settled: &tokio::sync::watch::Sender<Settled>) {
        if self.group != Some(group) {
            return;
        }
        self.group = None;
        let outcome = if self.conn.is_autocommit() {
            Err("its transaction was rolled back by an earlier error".to_string())
        } else {
            self.conn.execute_batch("COMMIT").map_err(|e| {
                // A failed COMMIT may leave the transaction open: end it, so that the
                // next group begins on a clean connection.
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                e.to_string()
            })
        };
        if outcome.is_ok() {
            self.committed += 1;
        }
        if let Err(why) = &outcome {
            tracing::error!(group, reason = %why, "a group of database writes failed; each of its writers is told");
        }
        publish(settled, group, outcome);
    }
}

/// A write's savepoint, on statements prepared once (rusqlite's `Savepoint` parses its
/// SQL on every write). Dropped without [`Savepoint::release`] (an error, a panic), it
/// takes back what the write did.
struct Savepoint<'c> {
    conn: &'c Connection,
    released: bool,
}

impl<'c> Savepoint<'c> {
    fn begin(conn: &'c Connection) -> PortResult<Self> {
        conn.execute_cached("SAVEPOINT write", [])
            .map_err(port_err)?;
        Ok(Self {
            conn,
            released: false,
        })
    }

    /// Keeps what the write did. A release that fails leaves the savepoint to the drop,
    /// which takes the write back, as rusqlite's `Savepoint::commit` does.
    fn release(mut self) -> PortResult<()> {
        self.conn
            .execute_cached("RELEASE write", [])
            .map_err(port_err)?;
        self.released = true;
        Ok(())
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.conn.execute_cached("ROLLBACK TO write", []);
            let _ = self.conn.execute_cached("RELEASE write", []);
        }
    }
}

fn publish(settled: &tokio::sync::watch::Sender<Settled>, group: u64, outcome: Result<(), String>) {
    settled.send_modify(|s| {
        s.through = s.through.max(group);
        if let Err(why) = outcome {
            if s.failed.len() == FAILURES_KEPT {
                s.failed.pop_front();
            }
            s.failed.push_back((group, why));
        }
    });
}

/// Whether `group` failed, once it is over.
pub(crate) fn outcome(settled: &Settled, group: u64) -> PortResult<()> {
    match settled.failed.iter().find(|(g, _)| *g == group) {
        Some((_, why)) => Err(PortError::Storage(format!(
            "the write was not committed: {why}"
        ))),
        None => Ok(()),
    }
}

/// Whether `group` is over.
pub(crate) fn is_over(settled: &Settled, group: u64) -> bool {
    settled.through >= group
}
