//! The cross-crate end-to-end tests, one test binary with a module per area: one link of
//! the whole engine instead of nine.

mod admin;
mod demo;
mod github;
mod https;
mod invite_pairs;
mod jira;
mod nodes;
mod redmine;
mod restart;
mod rule_errors;
mod scheduler;
mod support;
mod webhooks;
