//! The admin API's OpenAPI description, generated from the handlers' annotations and
//! their request and answer types, served at `/api/openapi.json`. Every operation also
//! lists the error answers the admin listener gives any call (see [`super::guard`] and
//! [`json_errors`]), all as `{"error": reason}`.

use super::{admin, jobs, monitor, versions, workspaces};
use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error answer of the admin API.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Why, in words.
    pub error: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "twinsync admin API",
        description = "The operator API of a twinsync node: connections, versions and Test Run, \
                       operations, bulk jobs, twins and the Item Sync Monitor's views. It is \
                       served on the admin listener only; every call carries the admin token."
    ),
    paths(
        admin::metrics, admin::invite, admin::local, admin::accept, admin::rotate_secret,
        admin::list_connections, admin::get_connection, admin::delete_connection,
        admin::activate, admin::deactivate, admin::operation, admin::list_twins,
        admin::get_twin, admin::list_events, admin::queue_depths,
        versions::save_draft, versions::activate_version, versions::test_run,
        versions::rollback, versions::discard, versions::diff, versions::shadow_start,
        versions::shadow_stop, versions::shadow_report,
        jobs::start, jobs::list, jobs::show, jobs::cancel,
        monitor::overview, monitor::search, monitor::pair, monitor::diff, monitor::retry,
        monitor::dead_letters,
        workspaces::list, workspaces::create, workspaces::add_integration, workspaces::assign,
        workspaces::subscribe, workspaces::add_token, workspaces::revoke_token,
    ),
    components(schemas(ErrorBody)),
    modifiers(&AdminAuth, &ErrorAnswers),
    security(("admin_token" = []))
)]
pub struct AdminApi;

/// The admin token, as a bearer token.
struct AdminAuth;

impl Modify for AdminAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The answers any call may get besides its own: a bad request (400, or 422 for a body of
/// the wrong shape), no or a wrong token (401), a foreign Host or Origin (403), an unknown
/// thing (404), a state that does not allow the call (409), a body too large (413), a change sent as something other than JSON (415),
/// a store or tracker that is down for now (503).
struct ErrorAnswers;

const ERRORS: [(&str, &str); 9] = [
    ("400", "the request is not valid"),
    ("401", "no admin token, or a wrong one"),
    ("403", "a Host or Origin other than this listener's"),
    ("404", "no such connection, version, twin or job"),
    ("409", "the state of what the call names does not allow it"),
    ("413", "the body is too large"),
    ("415", "a change must be sent as application/json"),
    ("422", "the JSON body is not of the expected shape"),
    (
        "503",
        "a store or tracker is unavailable for now; try again",
    ),
];

impl Modify for ErrorAnswers {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for item in api.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                for (code, why) in ERRORS {
                    op.responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| {
                            ResponseBuilder::new()
                                .description(why)
                                .content(
                                    "application/json",
                                    ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                                        .build(),
                                )
                                .build()
                                .into()
                        });
                }
            }
        }
    }
}

/// The description as JSON.
pub fn document() -> String {
    AdminApi::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the API description failed: {e}\"}}"))
}

/// An error answer that is not JSON yet (axum's own rejections of a path, query or body
/// are plain text) becomes `{"error": text}`, so every error has the documented shape.
pub async fn json_errors(response: Response) -> Response {
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| !v.as_bytes().starts_with(b"application/json"));
    if !(response.status().is_client_error() || response.status().is_server_error()) || !plain {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => e.to_string(),
    };
    let reason = if text.trim().is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_string()
    } else {
        text
    };
    let body = serde_json::json!({ "error": reason }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A POST or DELETE without a JSON body would take a cross-site form post: every one
    /// reads its body with `Json`, and the description says so.
    #[test]
    fn every_change_takes_a_json_body() {
        let api = AdminApi::openapi();
        let mut changes = 0;
        for (path, item) in &api.paths.paths {
            for (method, op) in [("post", &item.post), ("delete", &item.delete)] {
                let Some(op) = op else { continue };
                changes += 1;
                let body = op.request_body.as_ref();
                assert!(
                    body.is_some_and(|b| b.content.contains_key("application/json")),
                    "{method} {path} takes no JSON body"
                );
            }
        }
        assert!(changes >= 18, "only {changes} operations change state");
    }

    #[test]
    fn the_description_is_json_with_every_path() {
        let doc: serde_json::Value = serde_json::from_str(&document()).expect("JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/twins/{id}/pair"]["get"].is_object());
        assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
    }
}
