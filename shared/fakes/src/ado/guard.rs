//! What runs before every route of the fake Azure DevOps (the caller's PAT or bearer
//! token, the `api-version` every call must name, injected faults, the recording of each
//! exchange), and Azure DevOps' error body the handlers answer with.

use super::Fault;
use super::state::Fake;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use std::sync::Arc;

/// Azure DevOps' error body: a `TFnnn`/`VSnnn` message and the exception's type key.
pub(super) fn error(status: StatusCode, type_key: &str, message: &str) -> Response {
    let body = json!({
        "$id": "1",
        "innerException": null,
        "message": message,
        "typeName": format!("Microsoft.TeamFoundation.WorkItemTracking.Server.{type_key}, Microsoft.TeamFoundation.WorkItemTracking.Server"),
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": 3000,
    });
    (status, axum::Json(body)).into_response()
}

/// A 400 about the request.
pub(super) fn bad_request(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "VssPropertyValidationException",
        message,
    )
}

pub(super) fn item_not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "WorkItemUnauthorizedAccessException",
        &format!(
            "TF401232: Work item {id} does not exist, or you do not have permissions to read it."
        ),
    )
}

pub(super) fn project_not_found(name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "ProjectDoesNotExistWithNameException",
        &format!(
            "TF200016: The following project does not exist: {name}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server."
        ),
    )
}

/// The email of the caller: a PAT in Basic auth (any user name, usually empty) or a
/// bearer token.
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
                    .identities
                    .first()
                    .map(|(e, _)| e.clone())
                    .unwrap_or_default()
            });
    }
    let raw = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()?;
    let (_, pat) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    fake.options
        .pats
        .iter()
        .find(|(t, _)| t == pat)
        .map(|(_, e)| e.clone())
}

/// What is wrong with the request's `api-version` (in the query, or in `Accept` as
/// Microsoft's clients send it), if anything: every write names one (a read without one
/// gets the latest), and a preview API (the comments) only takes a `-preview` version.
fn version_problem(method: &str, template: &str, query: &str, accept: &str) -> Option<String> {
    let version = query
        .split('&')
        .find_map(|p| p.strip_prefix("api-version="))
        .or_else(|| {
            accept
                .split(';')
                .find_map(|p| p.trim().strip_prefix("api-version="))
        })
        .map(|v| v.replace("%2D", "-").replace("%2E", "."));
    let Some(version) = version else {
        if method == "GET" || method == "OPTIONS" {
            return None;
        }
        return Some("VS800075: No api-version was supplied for the request. An api-version must be supplied.".into());
    };
    if !version.starts_with("7.") && !version.starts_with("6.") {
        return Some(format!(
            "VS800006: The requested REST API version of {version} is not supported."
        ));
    }
    if template.contains("/comments") && !version.contains("-preview") {
        return Some(format!(
            "VS800069: The requested version \"{version}\" of the resource is under preview. The -preview flag must be supplied in the api-version for such requests. For example: \"{version}-preview\""
        ));
    }
    None
}

/// Auth, `api-version`, injected faults and the recording of every exchange. The
/// caller's email goes on to the route in `x-fake-caller`.
pub(super) async fn guard(
    State(fake): State<Arc<Fake>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let template = matched.as_str().to_string();
    let answer = async |mut request: Request| {
        let who = caller(&fake, request.headers()).unwrap_or_default();
        let query = request.uri().query().unwrap_or("").to_string();
        let method = request.method().to_string();
        let accept = request
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let fault = fake
            .traffic
            .next_fault(fake.options.every_nth_429, || Fault::TooManyRequests(1));
        let mut response = match fault.and_then(fault_answer) {
            Some(refused) => refused,
            // Azure DevOps answers a missing or wrong PAT with a bare 401.
            None if who.is_empty() => StatusCode::UNAUTHORIZED.into_response(),
            None => match version_problem(&method, &template, &query, &accept) {
                Some(problem) => bad_request(&problem),
                None => {
                    request.headers_mut().insert(
                        "x-fake-caller",
                        HeaderValue::from_str(&who).unwrap_or(HeaderValue::from_static("")),
                    );
                    next.run(request).await
                }
            },
        };
        response
            .headers_mut()
            .insert("x-vss-e2eid", HeaderValue::from_static("fake-ado"));
        (who, response)
    };
    fake.traffic.record(&matched, request, answer).await
}

/// Azure DevOps' answer for an injected fault; none when it lets the request pass.
fn fault_answer(fault: Fault) -> Option<Response> {
    Some(match fault {
        Fault::TooManyRequests(s) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "RequestBlockedException",
                "TF400733: The request has been canceled: Request was blocked due to exceeding usage of resource 'Core' in namespace 'User'.",
            );
            let h = r.headers_mut();
            h.insert("retry-after", HeaderValue::from(s));
            h.insert("x-ratelimit-resource", HeaderValue::from_static("Core"));
            h.insert("x-ratelimit-delay", HeaderValue::from_static("0"));
            h.insert("x-ratelimit-limit", HeaderValue::from(200));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0));
            r
        }
        Fault::Unavailable => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableException",
            "Service Unavailable",
        ),
        Fault::Pass => return None,
    })
}

/// The email of the caller the guard let through.
pub(super) fn caller_email(headers: &HeaderMap) -> String {
    headers
        .get("x-fake-caller")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}
