//! The cross-crate end-to-end tests, one test binary with a module per area: one link of
//! the whole engine instead of nine.

mod admin;
mod ado;
mod ado_fixtures;
mod ado_jira;
mod bad_input;
mod bad_input_link;
mod bad_input_webhooks;
mod capacity;
mod demo;
mod github;
mod github_strict;
mod https;
mod invite_pairs;
mod jira;
mod jira_find_again;
mod jira_strict;
mod jobs;
mod large_replicas;
mod local_connection;
mod metered;
mod nodes;
mod operations;
mod outages;
mod redmine;
mod removals;
mod restart;
mod rule_errors;
mod salesforce;
mod scheduler;
mod servicenow;
mod support;
mod sync_status;
mod versions;
mod webhooks;
mod zendesk;
