//! What runs before every REST resource of the fake Salesforce (the session, the daily
//! allocation, injected faults, `Sforce-Limit-Info`, the recording of each exchange),
//! Salesforce's error bodies, and the OAuth token endpoint.

use super::Fault;
use super::state::{Fake, Session};
use crate::plumbing::now_ms;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// Salesforce's error body: a list of `{message, errorCode}`.
pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!([{ "message": message, "errorCode": code, "fields": [] }])),
    )
        .into_response()
}

pub(super) fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource does not exist",
    )
}

/// The User Id of a live session.
fn caller(fake: &Fake, headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("OAuth "))?;
    let data = fake.lock();
    let s = data.sessions.get(token.trim())?;
    (s.expires_ms > now_ms()).then(|| s.user_id.clone())
}

fn limit_info(used: u64, max: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("api-usage={used}/{max}"))
        .unwrap_or(HeaderValue::from_static("api-usage=0/0"))
}

/// Session, faults, the daily allocation and the recording of every exchange. The
/// caller's User Id goes on to the resource in `x-fake-caller`.
pub(super) async fn guard(
    State(fake): State<Arc<Fake>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let answer = async |mut request: Request| {
        let who = caller(&fake, request.headers()).unwrap_or_default();
        let max = fake.options.daily_limit;
        let fault = fake
            .traffic
            .next_fault(fake.options.every_nth_unavailable, || Fault::Unavailable(1));
        let used = {
            let mut data = fake.lock();
            if !who.is_empty() {
                data.api_usage += 1;
            }
            data.api_usage
        };
        let mut response = match fault.and_then(fault_answer) {
            Some(refused) => refused,
            None if who.is_empty() => error(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
            ),
            None if used > max => error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
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
            .insert("sforce-limit-info", limit_info(used.min(max), max));
        (who, response)
    };
    fake.traffic.record(&matched, request, answer).await
}

/// Salesforce's answer for an injected fault; none when it lets the request pass.
fn fault_answer(fault: Fault) -> Option<Response> {
    Some(match fault {
        Fault::RequestLimit(wait) => {
            let mut r = error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            );
            if let Some(s) = wait {
                r.headers_mut().insert("retry-after", HeaderValue::from(s));
            }
            r
        }
        Fault::Unavailable(s) => {
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVER_UNAVAILABLE",
                "Server temporarily unavailable",
            );
            r.headers_mut().insert("retry-after", HeaderValue::from(s));
            r
        }
        Fault::Pass => return None,
    })
}

/// The User Id the guard let through.
pub(super) fn caller_id(headers: &HeaderMap) -> String {
    headers
        .get("x-fake-caller")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
}

/// `POST /services/oauth2/token`: the JWT bearer and refresh-token flows, form-encoded,
/// answered as Salesforce does (no `expires_in`; the `instance_url` to call).
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
        let refuse = |e: &str, d: &str| {
            (
                String::new(),
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"error": e, "error_description": d})),
                )
                    .into_response(),
            )
        };
        let username = match get("grant_type") {
            twinsync_salesforce::auth::JWT_GRANT => {
                match check_assertion(&fake, get("assertion")) {
                    Ok(u) => u,
                    Err(d) => return refuse("invalid_grant", &d),
                }
            }
            "refresh_token" => {
                if !fake
                    .options
                    .apps
                    .iter()
                    .any(|(id, _)| id == get("client_id"))
                {
                    return refuse("invalid_client_id", "client identifier invalid");
                }
                match fake
                    .options
                    .refresh_tokens
                    .iter()
                    .find(|(t, _)| t == get("refresh_token"))
                {
                    Some((_, u)) => u.clone(),
                    None => return refuse("invalid_grant", "expired access/refresh token"),
                }
            }
            _ => return refuse("unsupported_grant_type", "grant type not supported"),
        };
        let user_id = {
            let data = fake.lock();
            data.all("User")
                .iter()
                .find(|u| u["Username"] == json!(username))
                .and_then(|u| u["Id"].as_str().map(str::to_string))
        };
        let Some(user_id) = user_id else {
            return refuse("invalid_grant", "user hasn't approved this consumer");
        };
        let access = format!("00DFK0000000001!{}", uuid::Uuid::new_v4().simple());
        let expires_ms = now_ms() + fake.options.session_seconds as i64 * 1_000;
        fake.lock().sessions.insert(
            access.clone(),
            Session {
                user_id: user_id.clone(),
                expires_ms,
            },
        );
        let body = json!({
            "access_token": access,
            "scope": "api",
            "instance_url": fake.base,
            "id": format!("{}/id/{}/{user_id}", fake.base, fake.options.organization_id),
            "token_type": "Bearer",
            "issued_at": now_ms().to_string(),
        });
        (user_id, axum::Json(body).into_response())
    };
    fake.traffic.record(&matched, request, answer).await
}

/// Checks a JWT bearer assertion as Salesforce does: RS256 under the connected app's
/// certificate, iss = its consumer key, aud = this login URL, exp within three minutes;
/// gives the username in `sub`.
fn check_assertion(fake: &Fake, jwt: &str) -> Result<String, String> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| format!("invalid assertion: {e}"))?;
    if header.alg != jsonwebtoken::Algorithm::RS256 {
        return Err("invalid assertion: RS256 expected".into());
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_audience(&[fake.base.as_str()]);
    for (client_id, pem) in &fake.options.apps {
        let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) else {
            continue;
        };
        let Ok(data) = jsonwebtoken::decode::<Claims>(jwt, &key, &validation) else {
            continue;
        };
        let c = data.claims;
        if &c.iss != client_id || c.aud != fake.base {
            continue;
        }
        if c.exp > now_ms() / 1_000 + 300 {
            return Err("invalid assertion: exp too far in the future".into());
        }
        return Ok(c.sub);
    }
    Err("invalid assertion: no connected app signed it".into())
}
