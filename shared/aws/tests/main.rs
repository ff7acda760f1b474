//! The AWS adapters' tests, one test binary: against the moto emulator (`adapters`) and
//! with `aws-smithy-mocks` for the error paths moto cannot produce (`mocks`).

mod adapters;
mod emulator;
mod mocks;
