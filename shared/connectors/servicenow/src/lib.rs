//! The ServiceNow connector, in the shape every connector has: `config` (the instance,
//! the table, Basic or OAuth 2.0), `auth` (the `Authorization` header, OAuth tokens from
//! `/oauth_token.do` refreshed before they expire and after a 401), `client` (the Table
//! and Attachment APIs and the `Tracker` implementation), `webhook` (the signed push of
//! the business rule in `docs/servicenow-push.md`), `mapping` (records, journal entries
//! and attachments to the domain `Item`) and `query` (encoded queries). The fake
//! ServiceNow is in twinsync-fakes.

pub mod auth;
pub mod client;
pub mod config;
pub mod mapping;
pub mod query;
pub mod webhook;

pub use client::ServiceNowTracker;
pub use config::{OAuthConfig, OAuthGrant, ServiceNowConfig};

/// Errors of the ServiceNow connector that are not port errors (setting it up).
#[derive(Debug, thiserror::Error)]
pub enum ServiceNowError {
    #[error("invalid ServiceNow configuration: {0}")]
    Config(String),
    #[error("http client error: {0}")]
    Http(String),
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
}

impl ServiceNowError {
    /// A bad configuration will not fix itself; a network hiccup may.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ServiceNowError::Http(_))
    }
}
