//! What runs before every route of the fake Zendesk (the caller's API token or bearer
//! token, injected faults, and the recording of each exchange), and Zendesk's error
//! bodies the handlers answer with.

use super::Fault;
use super::state::{Data, Fake};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;

/// Zendesk's error body: `{"error": ..., "description": ...}`.
pub(super) fn error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "description": description })),
    )
        .into_response()
}

/// Zendesk's 422 about one field.
pub(super) fn invalid(field: &str, message: &str) -> Response {
    let body = json!({
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": { field: [{ "description": message, "error": "InvalidValue" }] },
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

pub(super) fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, what, "Not found")
}

/// Zendesk's 400 for a body that is not the JSON a route takes.
pub(super) fn bad_payload(detail: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "Unprocessable Entity", detail)
}

/// The email of the caller, from `{email}/token:{token}` Basic or bearer auth.
fn caller(fake: &Fake, headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return fake
            .options
            .oauth_tokens
            .iter()
            .any(|t| t == token.trim())
            .then(|| fake.options.users.first().map(|(e, _)| e.clone()))
            .flatten();
    }
    let raw = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()?;
    let (email, token) = std::str::from_utf8(&decoded).ok()?.split_once("/token:")?;
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
            .next_fault(fake.options.every_nth_429, || Fault::TooManyRequests(1))
            .filter(|f| *f != Fault::Pass);
        let response = match fault {
            Some(Fault::AgentEdit) if !who.is_empty() => {
                fake.agent_edit_at(request.uri().path());
                request.headers_mut().insert(
                    "x-fake-caller",
                    HeaderValue::from_str(&who).unwrap_or(HeaderValue::from_static("")),
                );
                next.run(request).await
            }
            Some(Fault::WindowExhausted(reset)) if !who.is_empty() => {
                request.headers_mut().insert(
                    "x-fake-caller",
                    HeaderValue::from_str(&who).unwrap_or(HeaderValue::from_static("")),
                );
                let mut r = next.run(request).await;
                let h = r.headers_mut();
                h.insert("x-rate-limit", HeaderValue::from(700));
                h.insert("x-rate-limit-remaining", HeaderValue::from(0));
                h.insert("ratelimit-remaining", HeaderValue::from(0));
                h.insert("ratelimit-reset", HeaderValue::from(reset));
                r
            }
            Some(fault) => fault_answer(fault),
            None if who.is_empty() => (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({ "error": "Couldn't authenticate you" })),
            )
                .into_response(),
            _ => {
                if request.method() == axum::http::Method::PUT {
                    fake.agent_edit_if_due(request.uri().path());
                }
                request.headers_mut().insert(
                    "x-fake-caller",
                    HeaderValue::from_str(&who).unwrap_or(HeaderValue::from_static("")),
                );
                next.run(request).await
            }
        };
        (who, response)
    };
    fake.traffic.record(&matched, request, answer).await
}

/// Zendesk's answer for an injected fault.
pub(super) fn fault_answer(fault: Fault) -> Response {
    match fault {
        Fault::TooManyRequests(s) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "APIRateLimitExceeded",
                "Number of allowed API requests per minute exceeded",
            );
            let h = r.headers_mut();
            h.insert("retry-after", HeaderValue::from(s));
            h.insert("x-rate-limit", HeaderValue::from(700));
            h.insert("x-rate-limit-remaining", HeaderValue::from(0));
            r
        }
        // Pass and AgentEdit let the request through; the guard never asks for them here.
        Fault::Unavailable | Fault::Pass | Fault::AgentEdit | Fault::WindowExhausted(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service Unavailable",
        ),
    }
}

/// The user id of the caller the guard let through.
pub(super) fn caller_id(data: &Data, headers: &HeaderMap) -> u64 {
    let email = headers
        .get("x-fake-caller")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    data.user_by_email(email).map(|u| u.id).unwrap_or(0)
}

/// A JSON body, or Zendesk's 400.
pub(super) fn json_body(body: &[u8]) -> Result<Value, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| Box::new(bad_payload(&e.to_string())))
}
