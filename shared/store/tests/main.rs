//! The SQLite adapters' tests, one test binary: the queue's SQS FIFO semantics (`queue`)
//! and the twin and connection stores (`stores`).

mod queue;
mod stores;
