//! The SQLite adapters' tests, one test binary: the queue's SQS FIFO semantics (`queue`)
//! the twin and connection stores (`stores`), and writes sharing commits (`group_commit`).

mod group_commit;
mod queue;
mod stores;
