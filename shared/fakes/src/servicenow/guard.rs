//! What runs before every API route of the fake ServiceNow (Basic or bearer auth,
//! injected faults, the recording of each exchange), ServiceNow's error bodies, and the
//! OAuth token endpoint (`POST /oauth_token.do`).

use super::Fault;
use super::state::{Fake, Token, sys_id};
use crate::plumbing::now_ms;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// ServiceNow's error body.
pub(super) fn error(status: StatusCode, message: &str, detail: Option<&str>) -> Response {
    let body = json!({ "error": { "message": message, "detail": detail }, "status": "failure" });
    (status, axum::Json(body)).into_response()
}

pub(super) fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "No Record found",
        Some("Record doesn't exist or ACL restricts the record retrieval"),
    )
}

pub(super) fn invalid_table(table: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &format!("Invalid table {table}"),
        None,
    )
}

/// The user name of the caller, from Basic auth or a live OAuth token.
fn caller(fake: &Fake, headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        let data = fake.lock();
        let t = data.tokens.get(token.trim())?;
        return (t.expires_ms > now_ms()).then(|| t.user.clone());
    }
    let raw = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    fake.options
        .users
        .iter()
        .any(|u| u.user_name == user && u.password == password)
        .then(|| user.to_string())
}

/// Auth, injected faults and the recording of every exchange. The caller's user name
/// goes on to the route in `x-fake-caller`.
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
        let response = match fault {
            Some(fault) => fault_answer(fault),
            None if who.is_empty() => error(
                StatusCode::UNAUTHORIZED,
                "User Not Authenticated",
                Some("Required to provide Auth information"),
            ),
            None => {
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

/// ServiceNow's answer for an injected fault: a rate limit rule's 429 with its headers.
fn fault_answer(fault: Fault) -> Response {
    match fault {
        Fault::TooManyRequests(s) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit exceeded",
                Some("The rate limit rule for this user has been exceeded"),
            );
            let reset = now_ms() / 1_000 + s as i64;
            let h = r.headers_mut();
            h.insert("retry-after", HeaderValue::from(s));
            h.insert("x-ratelimit-limit", HeaderValue::from(100));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0));
            h.insert("x-ratelimit-reset", HeaderValue::from(reset));
            r
        }
        Fault::WindowExhausted(s) => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded", None);
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from(100));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0));
            h.insert(
                "x-ratelimit-reset",
                HeaderValue::from(now_ms() / 1_000 + s as i64),
            );
            r
        }
        Fault::Unavailable => error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", None),
    }
}

/// The user name the guard let through.
pub(super) fn caller_name(headers: &HeaderMap) -> String {
    headers
        .get("x-fake-caller")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// `POST /oauth_token.do`: the client credentials, password and refresh token grants,
/// form-encoded, as the instance's OAuth provider answers them.
pub(super) async fn token(
    State(fake): State<Arc<Fake>>,
    matched: MatchedPath,
    request: Request,
) -> Response {
    let answer = async |request: Request| {
        let body = axum::body::to_bytes(request.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let form: HashMap<String, String> = url::form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        let denied = || {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "access_denied", "error_description": "access_denied"})),
            )
                .into_response()
        };
        let client_ok = fake
            .options
            .oauth_clients
            .iter()
            .any(|(id, secret)| id == get("client_id") && secret == get("client_secret"));
        if !client_ok {
            return (String::new(), denied());
        }
        let user = match get("grant_type") {
            "client_credentials" => fake.options.oauth_user.clone(),
            "password" => fake
                .options
                .users
                .iter()
                .find(|u| u.user_name == get("username") && u.password == get("password"))
                .map(|u| u.user_name.clone()),
            "refresh_token" => fake.lock().refresh.get(get("refresh_token")).cloned(),
            _ => None,
        };
        let Some(user) = user else {
            return (String::new(), denied());
        };
        let (access, refresh) = (sys_id(), sys_id());
        let expires_in = fake.options.token_seconds.max(1);
        {
            let mut data = fake.lock();
            data.tokens.insert(
                access.clone(),
                Token {
                    user: user.clone(),
                    expires_ms: now_ms() + expires_in as i64 * 1_000,
                },
            );
            data.refresh.insert(refresh.clone(), user.clone());
        }
        let body = json!({
            "access_token": access,
            "refresh_token": refresh,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": expires_in,
        });
        (user, axum::Json(body).into_response())
    };
    fake.traffic.record(&matched, request, answer).await
}
