//! The Lambda functions' tests, one test binary: a panic reported as its batch's failure
//! (`abort`), the order a batch received again runs in (`batch_modes`), the handlers of
//! two stacks in one process on moto (`functions_on_moto`), the six function binaries
//! under `cargo lambda watch` (`functions_under_watch`), a function URL's event to a
//! request and back (`function_url`), the names the one artifact takes
//! (`handler_names`), the functions' reading of `RUST_LOG` (`log_filter`) and of the node config
//! (`node_config`), and the
//! connectors `scripts/sam-build` builds them with (`sam_build`).

mod abort;
mod batch_modes;
#[path = "../../aws/tests/emulator/mod.rs"]
mod emulator;
mod function_url;
mod functions_on_moto;
mod functions_under_watch;
mod handler_names;
mod log_filter;
mod node_config;
mod sam_build;
