//! The Azure DevOps Services connector, in the shape every connector has: `config` (a
//! personal access token or a Microsoft Entra bearer token), `client` (REST 7.1 and the
//! `Tracker` implementation: JSON Patch writes guarded by a `test` on `/rev`, WIQL polls
//! with `timePrecision`, batch reads, comments, attachments, service hook subscriptions,
//! rate limits), `webhook` (service hook deliveries checked against the subscription's
//! Basic credentials or header secret), `mapping` (work item JSON <-> the domain `Item`),
//! `html` (HTML <-> Markdown), `query` (a trigger's filter as WIQL) and `origin` (the tag that finds a twin again and the
//! hyperlink that shows it). The fake Azure DevOps is in twinsync-fakes.

pub mod client;
pub mod config;
pub mod html;
pub mod mapping;
pub mod origin;
pub mod query;
pub mod webhook;

pub use client::AdoTracker;
pub use config::AdoConfig;

/// Errors of the Azure DevOps connector that are not port errors (setting it up).
#[derive(Debug, thiserror::Error)]
pub enum AdoError {
    #[error("invalid Azure DevOps configuration: {0}")]
    Config(String),
    #[error("http client error: {0}")]
    Http(String),
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
}

impl AdoError {
    /// A bad configuration will not fix itself; a network hiccup may.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AdoError::Http(_))
    }
}
