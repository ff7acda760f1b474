//! Tracker servers that are not the product's connectors: the sandbox tracker's server
//! (the built-in tracker of `twinsync up` and the demo), and fakes of GitHub, Jira
//! Cloud, Azure DevOps, ServiceNow, Zendesk and Salesforce that follow the vendors' real API
//! contracts, for tests and the demo.
//!
//! They live apart from the connector crates so that a production build (a Lambda
//! function) compiles none of them; only the CLI's wiring and the tests link this crate.

pub mod ado;
pub mod deliveries;
pub mod github;
pub mod jira;
pub mod plumbing;
pub mod ports;
pub mod salesforce;
pub mod sandbox;
pub mod server;
pub mod servicenow;
pub mod zendesk;
