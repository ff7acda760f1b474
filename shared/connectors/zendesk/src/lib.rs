//! The Zendesk Support connector, in the shape every connector has: `config` (API token
//! or OAuth bearer token, budgets), `client` (REST API v2 and the `Tracker`
//! implementation: safe updates, the incremental cursor export, uploads, webhook and
//! trigger registration), `webhook` (`X-Zendesk-Webhook-Signature` checked in constant
//! time within a time window), `mapping` (ticket JSON <-> the domain `Item`) and `html`
//! (Zendesk's comment HTML <-> Markdown). The fake Zendesk is in twinsync-fakes.

pub mod client;
pub mod config;
pub mod html;
pub mod mapping;
pub mod webhook;

pub use client::ZendeskTracker;
pub use config::ZendeskConfig;

/// Errors of the Zendesk connector that are not port errors (setting it up).
#[derive(Debug, thiserror::Error)]
pub enum ZendeskError {
    #[error("invalid Zendesk configuration: {0}")]
    Config(String),
    #[error("http client error: {0}")]
    Http(String),
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
}

impl ZendeskError {
    /// A bad configuration will not fix itself; a network hiccup may.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ZendeskError::Http(_) | ZendeskError::Listen { .. })
    }
}
