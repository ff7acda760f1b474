//! A fake Jira Cloud that follows the real REST API v3 contract for what twinsync uses:
//! the same paths, JSON shapes, error bodies (`errorMessages` + `errors`), Basic and
//! bearer auth, `nextPageToken` paging of the enhanced JQL search, a workflow whose
//! statuses change only through transitions, entity properties, multipart attachment
//! uploads that demand `X-Atlassian-Token: no-check`, dynamic webhooks with a JQL filter
//! and expiry, 429s with `Retry-After`, and signed webhook deliveries.
//!
//! JQL (`jql`): Jira's syntax, fields (system, `cf[N]` or a custom field's name, entity
//! properties only when an app indexes them), operators per field type, text search with
//! stemming, `currentUser()`, relative and absolute dates; anything else is refused as
//! Jira refuses it, with a 400 and Jira's message. Accounts see only the projects they may
//! browse: an issue elsewhere is a 404, a search leaves it out.
//!
//! State is in memory: a fake lives as long as a test or a demo. This module holds what
//! callers see and the route table; `state` the data, `render` its JSON, `jql` the
//! queries, `events` the webhook deliveries, `guard` what runs before every route, and
//! the other modules the routes' handlers.

mod attachments;
mod comments;
mod events;
mod fields;
mod guard;
mod hooks;
mod issues;
mod jql;
mod links;
mod meta;
mod render;
mod search;
mod state;

use crate::server::Running;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post, put};
use std::sync::Arc;
use twinsync_jira::JiraError;
use twinsync_tls::Transport;

pub use crate::deliveries::Delivery;
pub use crate::plumbing::Exchange;

/// What the fake knows at start.
#[derive(Clone, Default)]
pub struct FakeOptions {
    /// Project keys that exist.
    pub projects: Vec<String>,
    /// People: email and display name. The first is the API user.
    pub accounts: Vec<(String, String)>,
    /// API tokens (Basic auth) and the email each belongs to.
    pub api_tokens: Vec<(String, String)>,
    /// OAuth 2.0 access tokens (bearer), acting as the first account.
    pub oauth_tokens: Vec<String>,
    /// Custom fields: id (`customfield_10020`), name, schema type (`string`, `option`).
    pub custom_fields: Vec<(String, String, String)>,
    /// The secret deliveries are signed with (`X-Hub-Signature`); empty: unsigned.
    pub webhook_secret: String,
    /// Every n-th request is answered 429 with `Retry-After: 1` (0: never).
    pub every_nth_429: u64,
    /// Issue entity properties an installed app indexes for JQL, as `key.path` (what a
    /// Connect `jiraEntityProperties` or Forge `jira:entityProperty` module declares); JQL
    /// on any other property is Jira's 400.
    pub indexed_properties: Vec<String>,
    /// The projects each account may browse (email, project key); an account not named
    /// here sees every project.
    pub project_access: Vec<(String, String)>,
}

/// A failure to inject into the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` seconds.
    TooManyRequests(u64),
    /// 503, as Jira answers in an incident.
    Unavailable,
}

/// A running fake Jira.
pub type FakeJira = Running<FakeOptions, state::Data, Fault>;

impl FakeJira {
    /// Starts on `addr` (`127.0.0.1:0` for any port), over plain HTTP.
    pub async fn start(addr: &str, options: FakeOptions) -> Result<FakeJira, JiraError> {
        Self::start_on(addr, options, Transport::Plain).await
    }

    /// Starts on `addr` over plain HTTP or HTTPS, as the real Jira only speaks.
    pub async fn start_on(
        addr: &str,
        options: FakeOptions,
        transport: Transport,
    ) -> Result<FakeJira, JiraError> {
        Running::serve(
            addr,
            transport,
            "fake Jira",
            |base| state::fake(base, options),
            router,
        )
        .await
        .map_err(|message| JiraError::Listen {
            addr: addr.into(),
            message,
        })
    }
}

/// The routes twinsync uses, each behind the guard; any other path is Jira's 404.
fn router(fake: Arc<state::Fake>) -> Router {
    Router::new()
        .route("/rest/api/3/issue", post(issues::create_issue))
        .route(
            "/rest/api/3/issue/{issueIdOrKey}",
            get(issues::get_issue)
                .put(issues::edit_issue)
                .delete(issues::delete_issue),
        )
        .route(
            "/rest/api/3/issue/{issueIdOrKey}/transitions",
            get(issues::get_transitions).post(issues::do_transition),
        )
        .route(
            "/rest/api/3/issue/{issueIdOrKey}/comment",
            get(comments::list_comments).post(comments::add_comment),
        )
        .route(
            "/rest/api/3/issue/{issueIdOrKey}/comment/{id}",
            put(comments::edit_comment).delete(comments::delete_comment),
        )
        .route(
            "/rest/api/3/issue/{issueIdOrKey}/remotelink",
            get(links::list).post(links::upsert),
        )
        .route(
            "/rest/api/3/issue/{issueIdOrKey}/attachments",
            post(attachments::add_attachments),
        )
        .route(
            "/rest/api/3/attachment/content/{id}",
            get(attachments::attachment_content),
        )
        .route(
            "/rest/api/3/search/jql",
            get(search::search_get).post(search::search_post),
        )
        .route("/rest/api/3/user/search", get(meta::user_search))
        .route("/rest/api/3/myself", get(meta::myself))
        .route("/rest/api/3/field", get(meta::list_fields))
        .route(
            "/rest/api/3/webhook",
            get(hooks::list_webhooks).post(hooks::register_webhooks),
        )
        .route("/rest/api/3/webhook/refresh", put(hooks::refresh_webhooks))
        .route_layer(middleware::from_fn_with_state(fake.clone(), guard::guard))
        .fallback(|| async { guard::refused(StatusCode::NOT_FOUND, "null for uri: not found") })
        .with_state(fake)
}
