//! The GitHub connector, in the shape every connector has: `config` (what the node config
//! says), `auth` (personal access token or GitHub App installation token), `client` (the
//! REST client and the `Tracker` implementation, with rate-limit handling), `webhook`
//! (`X-Hub-Signature-256` verification and event parsing), `mapping` (GitHub's JSON to the
//! domain `Item`), and `fake` (a GitHub that follows the real contract, for tests and the
//! demo).
//!
//! Keys are `owner/repo#number`, GitHub's own notation, so one instance can reach every
//! repository its token can.

pub mod auth;
pub mod client;
pub mod config;
pub mod mapping;
pub mod webhook;

pub use client::GithubTracker;
pub use config::{GithubApp, GithubConfig, UserEntry};

/// Errors of the GitHub connector that are not port errors (setting it up).
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("invalid GitHub configuration: {0}")]
    Config(String),
    #[error("http client error: {0}")]
    Http(String),
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
}

impl GithubError {
    /// A bad configuration will not fix itself; a network hiccup may.
    pub fn is_retryable(&self) -> bool {
        matches!(self, GithubError::Http(_))
    }
}
