//! A fake Azure DevOps Services organization that follows the real REST 7.1 contract for
//! what twinsync uses: work items read one by one or in batches of at most 200, created
//! and updated only with JSON Patch (`application/json-patch+json`), a failed `test`
//! answered 412 as Azure DevOps answers it, the states each work item type allows, WIQL
//! (a subset, strict: dates with a time only with `timePrecision=true`, compared to the
//! second), the comments API (preview versions only, `continuationToken` paging,
//! Markdown or HTML), attachments, service hook subscriptions that deliver with the
//! Basic credentials and headers they were made with, PAT (Basic, any user name) and
//! bearer auth, and 429s with `Retry-After` and the `X-RateLimit-*` headers.
//!
//! Microsoft's clients find every route through the location service (`locations`).
//! The organization lives under `/{org}` as on dev.azure.com; [`FakeAdo::org_url`] is
//! the base a connector is given. State is in memory.

mod comments;
mod events;
mod guard;
mod items;
mod locations;
mod meta;
mod state;
mod wiql;

use crate::server::Running;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, options, post};
use std::sync::Arc;
use twinsync_ado::AdoError;
use twinsync_tls::Transport;

pub use crate::deliveries::Delivery;
pub use crate::plumbing::Exchange;

/// The organization's name in its URLs.
pub const ORG: &str = "acme";

/// What the fake knows at start.
#[derive(Clone, Default)]
pub struct FakeOptions {
    /// Project names that exist.
    pub projects: Vec<String>,
    /// People: email and display name. The first is the one bearer tokens act as.
    pub identities: Vec<(String, String)>,
    /// Personal access tokens and the email each belongs to.
    pub pats: Vec<(String, String)>,
    /// Microsoft Entra access tokens (bearer), acting as the first identity.
    pub oauth_tokens: Vec<String>,
    /// Custom fields by reference name (`Custom.Team`).
    pub custom_fields: Vec<String>,
    /// Every n-th request is answered 429 with `Retry-After: 1` (0: never).
    pub every_nth_429: u64,
}

/// A failure to inject into the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` seconds.
    TooManyRequests(u64),
    /// 503, as in an incident.
    Unavailable,
    /// No fault: the request passes (to aim a later fault at a later request).
    Pass,
}

/// A running fake Azure DevOps.
pub type FakeAdo = Running<FakeOptions, state::Data, Fault>;

impl FakeAdo {
    /// Starts on `addr` (`127.0.0.1:0` for any port), over plain HTTP.
    pub async fn start(addr: &str, options: FakeOptions) -> Result<FakeAdo, AdoError> {
        Self::start_on(addr, options, Transport::Plain).await
    }

    /// Starts on `addr` over plain HTTP or HTTPS, as the real service only speaks.
    pub async fn start_on(
        addr: &str,
        options: FakeOptions,
        transport: Transport,
    ) -> Result<FakeAdo, AdoError> {
        Running::serve(
            addr,
            transport,
            "fake Azure DevOps",
            |base| state::fake(base, options),
            router,
        )
        .await
        .map_err(|message| AdoError::Listen {
            addr: addr.into(),
            message,
        })
    }

    /// The organization's URL, `{url}/acme`, as `https://dev.azure.com/acme` is.
    pub fn org_url(&self) -> String {
        format!("{}/{ORG}", self.url)
    }
}

/// The routes twinsync uses, each behind the guard; any other path is a 404.
fn router(fake: Arc<state::Fake>) -> Router {
    Router::new()
        .route("/{org}/_apis/connectionData", get(meta::connection_data))
        .route("/{org}/_apis/ResourceAreas", get(locations::resource_areas))
        .route("/{org}/_apis/{area}", options(locations::area_locations))
        .route("/{org}/_apis/projects/{project}", get(meta::project))
        .route(
            "/{org}/_apis/wit/workitems/{id}",
            get(items::get_item)
                .patch(items::update_item)
                .delete(items::delete_item),
        )
        .route("/{org}/_apis/wit/attachments/{id}", get(items::download))
        .route(
            "/{org}/_apis/hooks/subscriptions",
            get(meta::list_subscriptions).post(meta::create_subscription),
        )
        .route(
            "/{org}/_apis/hooks/subscriptions/{id}",
            get(meta::get_subscription).put(meta::replace_subscription),
        )
        .route(
            "/{org}/{project}/_apis/wit/workitems/{type}",
            post(items::create_item),
        )
        .route(
            "/{org}/{project}/_apis/wit/workitemsbatch",
            post(items::batch),
        )
        .route("/{org}/{project}/_apis/wit/wiql", post(wiql::query))
        .route(
            "/{org}/{project}/_apis/wit/workitemtypes/{type}/states",
            get(meta::states),
        )
        .route(
            "/{org}/{project}/_apis/wit/attachments",
            post(items::upload),
        )
        .route(
            "/{org}/{project}/_apis/wit/workItems/{id}/comments",
            get(comments::list).post(comments::add),
        )
        .route(
            "/{org}/{project}/_apis/wit/workItems/{id}/comments/{comment}",
            get(comments::get_one)
                .patch(comments::edit)
                .delete(comments::delete),
        )
        .route_layer(middleware::from_fn_with_state(fake.clone(), guard::guard))
        .fallback(|| async {
            guard::error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "VS800011: The resource cannot be found.",
            )
        })
        .with_state(fake)
}
