//! A fake GitHub that follows the real REST contract for what twinsync uses: the same
//! paths, JSON shapes (every property the published OpenAPI description marks required),
//! `Link` pagination, error bodies, rate-limit headers, 429s and secondary limits, app
//! installation tokens (RS256 JWTs checked with the app's public key), and signed webhook
//! deliveries. The contract tests check its answers against `@octokit/openapi`. It refuses
//! what GitHub refuses: repositories a token may not reach (404) or write (403), invalid
//! fields and over-long texts (422), searches beyond GitHub's limits (422, or 403 when the
//! search rate limit of 30 a minute is spent).
//!
//! State is in memory: a fake lives as long as a test or a demo. This module holds what
//! callers see and the route table; `state` the data, `guard` what runs before every
//! route, and `issues`, `comments` and `hooks` the routes' handlers.

mod comments;
mod guard;
mod hooks;
mod issues;
mod state;

use crate::server::Running;
use axum::Router;
use axum::extract::Path;
use axum::middleware;
use axum::routing::{get, post};
use std::sync::Arc;
use twinsync_github::GithubError;
use twinsync_tls::Transport;

pub use crate::deliveries::Delivery;
pub use crate::plumbing::Exchange;

/// What the fake knows at start.
#[derive(Clone, Default)]
pub struct FakeOptions {
    /// Personal access tokens and the login each belongs to.
    pub tokens: Vec<(String, String)>,
    /// A GitHub App: id, installation id, and the PEM of its public key.
    pub app: Option<(u64, u64, String)>,
    /// Repositories (`owner/name`) that exist.
    pub repos: Vec<String>,
    /// Requests per hour per token before 403 "API rate limit exceeded" (0: 5,000).
    pub rate_limit: u32,
    /// How long the search index lags behind writes, as on GitHub.
    pub search_lag_ms: i64,
    /// Installation tokens expire after this long (0: one hour, as on GitHub).
    pub installation_token_ttl_ms: i64,
    /// Every n-th request is answered 429 with `Retry-After: 1` (0: never), so a whole run
    /// meets rate limits, not just its start.
    pub every_nth_429: u64,
    /// What a token may do where: (token, `owner/name`, may write). A token named here
    /// reaches only its repositories, read-only where it may not write (a fine-grained
    /// token); a token not named here reaches every repository (a classic `repo` token).
    pub grants: Vec<(String, String, bool)>,
}

impl FakeOptions {
    /// Requests per hour per token, GitHub's 5,000 unless a test set fewer.
    fn hourly_limit(&self) -> u32 {
        if self.rate_limit == 0 {
            5_000
        } else {
            self.rate_limit
        }
    }

    /// Whether `token` reaches `repo` (`None`: it cannot see it) and may write there.
    pub(super) fn reach(&self, token: &str, repo: &str) -> Option<bool> {
        if !self.grants.iter().any(|(t, _, _)| t == token) {
            return Some(true);
        }
        self.grants
            .iter()
            .find(|(t, r, _)| t == token && r == repo)
            .map(|(_, _, write)| *write)
    }

    /// How long an installation token lives, GitHub's hour unless a test set it.
    fn token_ttl_ms(&self) -> i64 {
        if self.installation_token_ttl_ms > 0 {
            self.installation_token_ttl_ms
        } else {
            3_600_000
        }
    }
}

/// A failure to inject into the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` seconds.
    TooManyRequests(u64),
    /// 403 "secondary rate limit" with `Retry-After` seconds.
    SecondaryLimit(u64),
    /// 502, as GitHub's front end sometimes answers.
    BadGateway,
}

/// A running fake GitHub.
pub type FakeGithub = Running<FakeOptions, state::Data, Fault>;

impl FakeGithub {
    /// Starts on `addr` (`127.0.0.1:0` for any port), over plain HTTP.
    pub async fn start(addr: &str, options: FakeOptions) -> Result<FakeGithub, GithubError> {
        Self::start_on(addr, options, Transport::Plain).await
    }

    /// Starts on `addr` over plain HTTP or HTTPS, as the real GitHub only speaks.
    pub async fn start_on(
        addr: &str,
        options: FakeOptions,
        transport: Transport,
    ) -> Result<FakeGithub, GithubError> {
        Running::serve(
            addr,
            transport,
            "fake GitHub",
            |base| state::fake(base, options),
            router,
        )
        .await
        .map_err(|message| GithubError::Listen {
            addr: addr.into(),
            message,
        })
    }
}

/// The path parameters of a repository's routes: owner and name.
type RepoPath = Path<(String, String)>;

/// The path parameters of an issue's routes (owner, name, number), and of a comment's
/// (owner, name, comment id).
type IssuePath = Path<(String, String, u64)>;

/// The routes twinsync uses, each behind the guard; any other path is GitHub's 404.
fn router(fake: Arc<state::Fake>) -> Router {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/issues",
            get(issues::list_issues).post(issues::create_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{issue_number}",
            get(issues::get_issue).patch(issues::update_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            get(comments::list_comments).post(comments::create_comment),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            get(comments::get_comment)
                .patch(comments::update_comment)
                .delete(comments::delete_comment),
        )
        .route(
            "/repos/{owner}/{repo}/milestones",
            get(issues::list_milestones),
        )
        .route("/repos/{owner}/{repo}/hooks", post(hooks::create_hook))
        .route("/search/issues", get(hooks::search_issues))
        .route(guard::INSTALLATION_TOKENS, post(hooks::installation_token))
        .route(guard::THE_APP, get(hooks::the_app))
        .route("/rate_limit", get(hooks::rate_limit))
        .route("/user", get(hooks::authenticated_user))
        .route_layer(middleware::from_fn_with_state(fake.clone(), guard::guard))
        .fallback(|| async { guard::not_found() })
        .with_state(fake)
}
