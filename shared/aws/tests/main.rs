//! The AWS adapters' tests, one test binary: against the moto emulator (`adapters`) and
//! with a server of canned answers for the error paths moto cannot produce (`answers`).

mod adapters;
mod answers;
mod emulator;
mod routes;
