//! A deterministic simulation of two twinsync nodes, their queues and their trackers
//! under faults. One thread, a manual clock and a seeded generator decide everything, so
//! a seed that breaks an invariant replays exactly. See docs/reliability.md.

mod edits;
pub mod effects;
mod faults;
pub mod oracle;
mod rotation;
pub mod run;
mod settle;
pub mod tracker;
pub mod world;

pub use run::{Faults, Generator, Report, Size, run_seed};
