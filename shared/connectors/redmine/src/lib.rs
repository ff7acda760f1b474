//! The Redmine connector, in the shape of every connector: `config`, `client` (REST and the
//! `Tracker` implementation), `mapping` (Redmine JSON to the domain `Item`).
//!
//! Redmine has no webhooks, so its triggers are polled. `updated_on` has one-second
//! resolution; an item's version is 1 + its journal count, so the poll cursor can tell two
//! edits in the same second apart. The origin marker lives in a custom field made at setup
//! (`scripts/redmine-up`); a comment's marker is an HTML comment at the end of its note,
//! invisible in Redmine's Markdown rendering and stripped by the mapping.

pub mod client;
pub mod config;
pub mod mapping;
pub mod textile;

pub use client::RedmineTracker;
pub use config::RedmineConfig;

#[derive(Debug, thiserror::Error)]
pub enum RedmineError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("http client error: {0}")]
    Http(String),
}

impl RedmineError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, RedmineError::Http(_))
    }
}
