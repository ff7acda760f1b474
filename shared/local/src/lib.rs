//! The embedded deployment: a whole node process on this machine. It starts the sandbox
//! trackers, opens each node's SQLite stores, serves each node's public and admin listeners and drives
//! the handlers from the SQLite queues with the local runner. `twinsync up`, the demo and
//! the end-to-end tests use it; the Lambda functions never link it.

pub mod faults;
pub mod metered;
pub mod process;
pub mod quiet;
pub mod runner;
pub mod runtimes;
pub mod serve;
