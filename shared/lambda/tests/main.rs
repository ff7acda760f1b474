//! The Lambda functions' tests, one test binary: the handlers of two stacks in one process
//! on moto (`functions_on_moto`), and the six function binaries under `cargo lambda watch`
//! (`functions_under_watch`).

#[path = "../../aws/tests/emulator/mod.rs"]
mod emulator;
mod functions_on_moto;
mod functions_under_watch;
