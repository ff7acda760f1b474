//! What runs before every route of the fake GitHub (the caller's token, the hourly rate
//! limit, injected faults, and the recording of each exchange), and what the handlers
//! answer with: GitHub's error bodies and its `Link` paging.

use super::Fault;
use super::state::{Data, Fake};
use crate::plumbing::now_ms;
use axum::body::Bytes;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const DOCS: &str = "https://docs.github.com/rest";

/// The routes an app's JWT calls, the only ones without a token of their own.
pub(super) const INSTALLATION_TOKENS: &str = "/app/installations/{installation_id}/access_tokens";
pub(super) const THE_APP: &str = "/app";
/// The fake app's slug: its installation writes as `twinsync[bot]`.
pub(super) const APP_SLUG: &str = "twinsync";

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": DOCS,
        "status": status.as_u16().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

pub(super) fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

/// GitHub's 422 for a field a rule of its own refuses, saying why.
pub(super) fn invalid_because(resource: &str, field: &str, message: &str) -> Response {
    let body = json!({
        "message": "Validation Failed",
        "errors": [{"resource": resource, "field": field, "code": "custom", "message": message}],
        "documentation_url": DOCS,
        "status": "422",
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

pub(super) fn invalid(resource: &str, field: &str, code: &str) -> Response {
    let body = json!({
        "message": "Validation Failed",
        "errors": [{"resource": resource, "field": field, "code": code}],
        "documentation_url": DOCS,
        "status": "422",
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

/// A write's JSON body; GitHub answers 400 when it is not JSON.
pub(super) struct Input(pub(super) Value);

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        serde_json::from_slice(&body)
            .map(Input)
            .map_err(|_| error(StatusCode::BAD_REQUEST, "Problems parsing JSON"))
    }
}

/// Who the request is from: a token's login, or `None` when refused.
pub(super) fn caller(fake: &Fake, data: &Data, headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))?
        .trim();
    if let Some((_, login)) = fake.options.tokens.iter().find(|(t, _)| t == token) {
        return Some((token.to_string(), login.clone()));
    }
    match data.installation_tokens.get(token) {
        Some(expires) if *expires > now_ms() => {
            Some((token.to_string(), format!("{APP_SLUG}[bot]")))
        }
        _ => None,
    }
}

/// The caller's login, empty when refused.
pub(super) fn login_of(fake: &Fake, data: &Data, headers: &HeaderMap) -> String {
    caller(fake, data, headers)
        .map(|(_, l)| l)
        .unwrap_or_default()
}

/// A token's limit in its window after a request, for the `x-ratelimit-*` headers.
struct Rate {
    limit: u32,
    used: u32,
    /// When the window ends (s).
    reset: i64,
    /// Which of GitHub's limits: `core`, or `search` (30 requests a minute).
    resource: &'static str,
}

/// What the guard decided before the route: who calls, the answer the route is not to
/// see (a fault, a refused token, a spent window, a repository out of reach), and the
/// caller's limit.
struct Checked {
    who: String,
    early: Option<Response>,
    rate: Option<Rate>,
}

/// Auth, rate limit, repository access, injected faults and the recording of every
/// exchange.
pub(super) async fn guard(
    State(fake): State<Arc<Fake>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let template = matched.as_str();
    let answer = async |request: Request| {
        let checked = check(&fake, &request, template);
        let mut response = match checked.early {
            Some(r) => r,
            None => next.run(request).await,
        };
        if let Some(rate) = checked.rate {
            insert_rate(response.headers_mut(), &rate);
        }
        response.headers_mut().insert(
            "x-github-api-version-selected",
            HeaderValue::from_static("2022-11-28"),
        );
        (checked.who, response)
    };
    fake.traffic.record(&matched, request, answer).await
}

/// Finds the caller, then the first reason not to pass the request on: an injected
/// fault, no or a wrong token, the token's window spent (the request counts otherwise),
/// or a repository the token may not reach or write.
fn check(fake: &Fake, request: &Request, template: &str) -> Checked {
    let headers = request.headers();
    let mut data = fake.lock();
    let who = login_of(fake, &data, headers);
    let nth = fake.options.every_nth_429;
    let refused = |early| Checked {
        who: who.clone(),
        early: Some(early),
        rate: None,
    };
    if let Some(fault) = fake.traffic.next_fault(nth, || Fault::TooManyRequests(1)) {
        return refused(fault_answer(fault));
    }
    if template == INSTALLATION_TOKENS || template == THE_APP {
        return Checked {
            who,
            early: None,
            rate: None,
        };
    }
    match caller(fake, &data, headers) {
        None if headers.contains_key("authorization") => {
            refused(error(StatusCode::UNAUTHORIZED, "Bad credentials"))
        }
        None => refused(error(StatusCode::UNAUTHORIZED, "Requires authentication")),
        Some((token, _)) => {
            let search = template == "/search/issues";
            let (spent, rate) = spend(fake, &mut data, &token, search);
            let early = spent
                .or_else(|| out_of_reach(fake, &token, request.method(), request.uri().path()));
            Checked {
                who,
                early,
                rate: Some(rate),
            }
        }
    }
}

/// GitHub's answer when `token` may not `method` the repository `path` is under: 404
/// where it cannot see it (GitHub does not tell a private repository from a missing one),
/// 403 where it may only read (a fine-grained token without write access to issues).
fn out_of_reach(fake: &Fake, token: &str, method: &Method, path: &str) -> Option<Response> {
    let mut parts = path.strip_prefix("/repos/")?.split('/');
    let repo = format!("{}/{}", parts.next()?, parts.next()?);
    match fake.options.reach(token, &repo) {
        None => Some(not_found()),
        Some(false) if method != Method::GET => Some(error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by personal access token",
        )),
        Some(_) => None,
    }
}

/// GitHub's answer for an injected fault.
fn fault_answer(fault: Fault) -> Response {
    match fault {
        Fault::TooManyRequests(s) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "API rate limit exceeded");
            r.headers_mut().insert("retry-after", HeaderValue::from(s));
            r
        }
        Fault::SecondaryLimit(s) => {
            let mut r = error(
                StatusCode::FORBIDDEN,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
            );
            r.headers_mut().insert("retry-after", HeaderValue::from(s));
            r
        }
        Fault::BadGateway => error(StatusCode::BAD_GATEWAY, "Server Error"),
    }
}

/// Counts a request against `token`'s window (a new window starts afresh): the hour of
/// the core limit, or the minute of the search limit (30 requests: GitHub's "custom rate
/// limit for searching", docs.github.com/rest/search/search#rate-limit). The 403 when the
/// window's requests are spent.
fn spend(fake: &Fake, data: &mut Data, token: &str, search: bool) -> (Option<Response>, Rate) {
    let (resource, limit, window) = if search {
        ("search", 30, 60)
    } else {
        ("core", fake.options.hourly_limit(), 3600)
    };
    let now_s = now_ms() / 1000;
    let entry = data
        .used
        .entry(format!("{resource}:{token}"))
        .or_insert((0, now_s + window));
    if entry.1 <= now_s {
        *entry = (0, now_s + window);
    }
    let over = entry.0 >= limit;
    if !over {
        entry.0 += 1;
    }
    let rate = Rate {
        limit,
        used: entry.0,
        reset: entry.1,
        resource,
    };
    let early = over.then(|| {
        error(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for user. (But here's the good news: Authenticated requests get a higher rate limit.)",
        )
    });
    (early, rate)
}

fn insert_rate(h: &mut HeaderMap, rate: &Rate) {
    h.insert("x-ratelimit-limit", HeaderValue::from(rate.limit));
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(rate.limit.saturating_sub(rate.used)),
    );
    h.insert("x-ratelimit-reset", HeaderValue::from(rate.reset));
    h.insert("x-ratelimit-used", HeaderValue::from(rate.used));
    h.insert(
        "x-ratelimit-resource",
        HeaderValue::from_static(rate.resource),
    );
}

/// The `per_page` (1 to 100, 30 when not given) and `page` (from 1) asked for.
pub(super) fn page_params(q: &HashMap<String, String>) -> (usize, usize) {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    (per_page, page)
}

/// A page of `all` with GitHub's `Link` header.
pub(super) fn paged(
    base: &str,
    path: &str,
    q: &HashMap<String, String>,
    all: Vec<Value>,
) -> Response {
    let (per_page, page) = page_params(q);
    let last = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link_to = |n: usize| page_link(base, path, q, n);
    let mut links = Vec::new();
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("<{}>; rel=\"first\"", link_to(1)));
    }
    let mut resp = axum::Json(Value::Array(items)).into_response();
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        resp.headers_mut().insert("link", v);
    }
    resp
}

/// The URL of page `n`: the same query, sorted, with `page` last.
fn page_link(base: &str, path: &str, q: &HashMap<String, String>, n: usize) -> String {
    let mut params: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| k.as_str() != "page")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    params.sort();
    params.push(("page".into(), n.to_string()));
    let qs = reqwest::Url::parse_with_params("http://x/", &params)
        .ok()
        .and_then(|u| u.query().map(str::to_string))
        .unwrap_or_default();
    format!("{base}{path}?{qs}")
}
