//! A fake Zendesk Support that follows the real REST API v2 contract for what twinsync
//! uses: the same paths (with or without `.json`), JSON shapes, error bodies (`error`,
//! `description`, `details`), API-token (`{email}/token:{token}`) and bearer auth,
//! cursor pagination (`page[size]`, `meta.has_more`, `links.next`), the incremental
//! cursor export with its own limit, comments only through ticket updates with
//! `html_body` sanitized (HTML comments dropped) and a plain `body` derived from it,
//! `safe_update` conflicts (409 `UpdateConflict`), closed tickets that refuse updates,
//! upload tokens, webhooks with signing secrets and the triggers that call them (signed
//! deliveries), and 429s with `Retry-After`.
//!
//! State is in memory: a fake lives as long as a test or a demo. This module holds what
//! callers see and the route table; `state` the data, `render` its JSON, `guard` what
//! runs before every route, and the other modules the routes' handlers.

mod export;
mod guard;
mod hooks;
mod meta;
mod render;
mod state;
mod tickets;

use crate::server::Running;
use axum::Router;
use axum::middleware;
use axum::routing::{MethodRouter, get, post, put};
use std::sync::Arc;
use twinsync_tls::Transport;
use twinsync_zendesk::ZendeskError;

pub use crate::deliveries::Delivery;
pub use crate::plumbing::Exchange;

/// What the fake knows at start.
#[derive(Clone, Default)]
pub struct FakeOptions {
    /// Group names.
    pub groups: Vec<String>,
    /// People: email and name. The first is the API user; all are agents but those in
    /// `end_users`.
    pub users: Vec<(String, String)>,
    /// Emails of the people who are customers (end users), not agents.
    pub end_users: Vec<String>,
    /// API tokens and the email each belongs to.
    pub api_tokens: Vec<(String, String)>,
    /// OAuth access tokens (bearer), acting as the first user.
    pub oauth_tokens: Vec<String>,
    /// Custom ticket field titles (text fields).
    pub custom_fields: Vec<String>,
    /// Every n-th request is answered 429 with `Retry-After: 1` (0: never).
    pub every_nth_429: u64,
    /// Incremental exports allowed a minute (Zendesk's is 10); 0: no limit.
    pub export_per_minute: u32,
}

/// A failure to inject into the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` seconds.
    TooManyRequests(u64),
    /// 503, as Zendesk answers in an incident.
    Unavailable,
    /// No fault: the request passes (to aim a later fault at a later request).
    Pass,
    /// The request passes, and its answer says the window is used up
    /// (`ratelimit-remaining: 0`, `ratelimit-reset` seconds), as Zendesk's last
    /// request of a minute does.
    WindowExhausted(u64),
    /// An agent edits the ticket the request names (its subject, a second later) just
    /// before the request reaches it: a concurrent edit, for safe updates.
    AgentEdit,
}

/// A running fake Zendesk.
pub type FakeZendesk = Running<FakeOptions, state::Data, Fault>;

impl FakeZendesk {
    /// Starts on `addr` (`127.0.0.1:0` for any port), over plain HTTP.
    pub async fn start(addr: &str, options: FakeOptions) -> Result<FakeZendesk, ZendeskError> {
        Self::start_on(addr, options, Transport::Plain).await
    }

    /// Starts on `addr` over plain HTTP or HTTPS, as the real Zendesk only speaks.
    pub async fn start_on(
        addr: &str,
        options: FakeOptions,
        transport: Transport,
    ) -> Result<FakeZendesk, ZendeskError> {
        Running::serve(
            addr,
            transport,
            "fake Zendesk",
            |base| state::fake(base, options),
            router,
        )
        .await
        .map_err(|message| ZendeskError::Listen {
            addr: addr.into(),
            message,
        })
    }
}

/// `path` and `path.json`: Zendesk answers both.
fn both(
    router: Router<Arc<state::Fake>>,
    path: &str,
    method: MethodRouter<Arc<state::Fake>>,
) -> Router<Arc<state::Fake>> {
    router
        .route(path, method.clone())
        .route(&format!("{path}.json"), method)
}

/// The routes twinsync uses, each behind the guard; any other path is Zendesk's 404.
fn router(fake: Arc<state::Fake>) -> Router {
    let mut r = Router::new();
    r = both(
        r,
        "/api/v2/tickets",
        get(tickets::list).post(tickets::create),
    );
    // A ticket id may carry `.json`; the handlers take it off.
    r = r.route(
        "/api/v2/tickets/{id}",
        get(tickets::show)
            .put(tickets::update)
            .delete(tickets::delete),
    );
    r = both(r, "/api/v2/tickets/{id}/comments", get(tickets::comments));
    r = both(
        r,
        "/api/v2/tickets/{id}/comments/{comment}/redact",
        put(tickets::redact),
    );
    r = both(r, "/api/v2/incremental/tickets/cursor", get(export::cursor));
    r = both(r, "/api/v2/users/search", get(meta::user_search));
    r = both(r, "/api/v2/groups", get(meta::groups));
    r = both(r, "/api/v2/ticket_fields", get(meta::ticket_fields));
    r = both(r, "/api/v2/uploads", post(meta::upload));
    r = both(
        r,
        "/api/v2/webhooks",
        get(hooks::list_webhooks).post(hooks::create_webhook),
    );
    r = r.route(
        "/api/v2/webhooks/{id}/signing_secret",
        get(hooks::signing_secret),
    );
    r = both(
        r,
        "/api/v2/triggers",
        get(hooks::list_triggers).post(hooks::create_trigger),
    );
    r.route_layer(middleware::from_fn_with_state(fake.clone(), guard::guard))
        // Attachment content is reached by its token, without the API's auth.
        .route("/attachments/token/{token}/", get(meta::attachment_content))
        .fallback(|| async { guard::not_found("InvalidEndpoint") })
        .with_state(fake)
}
