//! The sandbox tracker that ships with twinsync, and its connector.
//!
//! The sandbox is a small but real issue tracker: projects, items, comments, attachment
//! metadata, a REST API, signed outgoing webhooks and SQLite persistence. It lets a new
//! user see a sync without an account anywhere. The connector is laid out the way every
//! connector is: `config` (what the node config says), `client` (the REST client and the
//! `Tracker` implementation), `webhook` (signing and verification), `mapping` (wire types
//! to the domain `Item`), plus `server` (the tracker itself) and `testing` helpers.

pub mod client;
pub mod config;
pub mod mapping;
pub mod webhook;

pub use client::{MIN_WEBHOOK_SECRET, SandboxTracker};
pub use config::{Budget, SandboxConfig};

/// Errors of the sandbox connector.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("http client error: {0}")]
    Http(String),
}

impl SandboxError {
    /// A network hiccup may pass; a bad config will not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SandboxError::Http(_))
    }
}
