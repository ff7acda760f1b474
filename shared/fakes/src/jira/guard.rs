//! What runs before every route of the fake Jira (the caller's Basic or bearer auth,
//! injected faults, and the recording of each exchange), and Jira's error bodies the
//! handlers answer with.

use super::Fault;
use super::state::{Data, Fake, IssueData, account_of, find_issue};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;

/// Jira's error body.
pub(super) fn error(status: StatusCode, messages: &[&str], errors: Value) -> Response {
    let body = json!({ "errorMessages": messages, "errors": errors });
    (status, axum::Json(body)).into_response()
}

/// Jira's error body with one message and no field errors.
pub(super) fn refused(status: StatusCode, message: &str) -> Response {
    error(status, &[message], json!({}))
}

/// Jira's 400 about one field.
pub(super) fn bad_request(field: &str, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, &[], json!({ field: message }))
}

/// Jira's 400 for a body that is not JSON.
pub(super) fn bad_payload() -> Response {
    refused(
        StatusCode::BAD_REQUEST,
        "Invalid request payload. Refer to the REST API documentation and try again.",
    )
}

pub(super) fn issue_not_found() -> Response {
    refused(
        StatusCode::NOT_FOUND,
        "Issue does not exist or you do not have permission to see it.",
    )
}

/// The email of the caller, from Basic or bearer auth.
fn caller(fake: &Fake, headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return fake
            .options
            .oauth_tokens
            .iter()
            .any(|t| t == token.trim())
            .then(|| {
                fake.options
                    .accounts
                    .first()
                    .map(|(e, _)| e.clone())
                    .unwrap_or_default()
            });
    }
    let raw = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()?;
    let (email, token) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    fake.options
        .api_tokens
        .iter()
        .any(|(t, e)| t == token && e == email)
        .then(|| email.to_string())
}

/// Auth, injected faults and the recording of every exchange. The caller's email goes on
/// to the route in `x-fake-caller`.
pub(super) async fn guard(
    State(fake): State<Arc<Fake>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let answer = async |mut request: Request| {
        let who = caller(&fake, request.headers()).unwrap_or_default();
        let fault = fake
            .traffic
            .next_fault(fake.options.every_nth_429, || Fault::TooManyRequests(1));
        let mut response = match fault {
            Some(fault) => fault_answer(fault),
            None if who.is_empty() => refused(
                StatusCode::UNAUTHORIZED,
                "You are not authenticated. Authentication required to perform this operation.",
            ),
            None => {
                request.headers_mut().insert(
                    "x-fake-caller",
                    HeaderValue::from_str(&who).unwrap_or(HeaderValue::from_static("")),
                );
                next.run(request).await
            }
        };
        response
            .headers_mut()
            .insert("x-arequestid", HeaderValue::from_static("fake-jira"));
        (who, response)
    };
    fake.traffic.record(&matched, request, answer).await
}

/// Jira's answer for an injected fault.
fn fault_answer(fault: Fault) -> Response {
    match fault {
        Fault::TooManyRequests(s) => {
            let mut r = refused(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded.");
            let h = r.headers_mut();
            h.insert("retry-after", HeaderValue::from(s));
            h.insert("x-ratelimit-limit", HeaderValue::from(100));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0));
            h.insert("x-ratelimit-nearlimit", HeaderValue::from_static("true"));
            r
        }
        Fault::Unavailable => refused(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
    }
}

/// The email of the caller the guard let through.
pub(super) fn caller_email(headers: &HeaderMap) -> &str {
    headers
        .get("x-fake-caller")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The account id of the caller the guard let through.
pub(super) fn caller_account(data: &Data, headers: &HeaderMap) -> String {
    account_of(data, caller_email(headers))
}

/// The issue `key` names if the caller may browse its project: Jira answers an issue the
/// caller cannot see as it answers one that does not exist (404).
pub(super) fn visible_issue<'a>(
    fake: &Fake,
    data: &'a Data,
    headers: &HeaderMap,
    key: &str,
) -> Option<&'a IssueData> {
    find_issue(data, key).filter(|i| fake.can_browse(caller_email(headers), &i.project))
}
