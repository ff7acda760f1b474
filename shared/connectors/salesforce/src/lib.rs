//! The Salesforce connector for Cases, in the shape every connector has: `config` (the
//! org, the connected app, the org's one-time setup fields), `auth` (OAuth 2.0 JWT bearer
//! or refresh-token flow; the token answer's `instance_url` is the base of every call),
//! `client` (the REST API and the `Tracker` implementation), `outbound` (SOAP Outbound
//! Messages, the push), `mapping` (Case, CaseComment and ContentVersion JSON to the domain
//! `Item`) and `soql` (queries and the poll window). The fake Salesforce is in
//! twinsync-fakes.
//!
//! Keys are Case `Id`s (18 characters): every REST call addresses a record by Id, an Id
//! never changes, and `CaseNumber` would cost a query per call. The project of a Case is
//! its record type's `DeveloperName` (`Case` for orgs without record types): record types
//! are how an org separates kinds of cases, and unlike queues they do not change as a case
//! is worked.

pub mod auth;
pub mod client;
pub mod config;
pub mod mapping;
pub mod outbound;
pub mod soql;

pub use client::SalesforceTracker;
pub use config::SalesforceConfig;

/// Errors of the Salesforce connector that are not port errors (setting it up).
#[derive(Debug, thiserror::Error)]
pub enum SalesforceError {
    #[error("invalid Salesforce configuration: {0}")]
    Config(String),
    #[error("cannot read the connected app's key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("http client error: {0}")]
    Http(String),
}

impl SalesforceError {
    /// A bad configuration or key will not fix itself; a network hiccup may.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SalesforceError::Http(_))
    }
}
