//! The Jira Cloud connector, in the shape every connector has: `config` (what the node
//! config says: Basic email + API token, or an OAuth 2.0 bearer token), `client` (REST API
//! v3 and the `Tracker` implementation, with rate-limit handling and workflow
//! transitions), `webhook` (event parsing, `X-Hub-Signature` when a secret is set),
//! `mapping` (Jira's JSON to the domain `Item`; entity properties as origin markers),
//! `origin` (finding an issue again by its marker without an app: a custom field or the
//! recent creates, each candidate's property checked) and `adf` (Atlassian Document
//! Format <-> Markdown). The fake Jira is in twinsync-fakes.

pub mod adf;
pub mod client;
pub mod config;
pub mod mapping;
pub mod origin;
pub mod webhook;

pub use client::JiraTracker;
pub use config::JiraConfig;

/// Errors of the Jira connector that are not port errors (setting it up).
#[derive(Debug, thiserror::Error)]
pub enum JiraError {
    #[error("invalid Jira configuration: {0}")]
    Config(String),
    #[error("http client error: {0}")]
    Http(String),
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
    /// Markdown whose blocks (quotes, lists) nest deeper than a Jira document may.
    #[error(
        "the text nests quotes or lists too deep for a Jira document (more than {max} levels of blocks)"
    )]
    TooDeep { max: usize },
}

impl JiraError {
    /// A bad configuration will not fix itself; a network hiccup may.
    pub fn is_retryable(&self) -> bool {
        matches!(self, JiraError::Http(_))
    }
}
