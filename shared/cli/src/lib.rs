//! The `twinsync` command's library part, so the end-to-end tests run the very same demo.

pub mod admin;
pub mod demo;
pub mod dev_ca;
pub mod latency;
pub mod rate;
pub mod resume;
pub mod rules_test;
