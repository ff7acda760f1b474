//! The node's HTTP surface, as two routers on two listeners. The public one (tracker
//! webhooks, the node-to-node `/v1/*` endpoints, `/health`) may face the internet; the
//! admin one (`/api/*`, the Item Sync Monitor) listens on loopback and answers only
//! requests that carry the admin token, name the listener as their Host and come from
//! its own origin (see [`guard`]). On AWS the function URLs serve only the public one.

pub mod admin;
pub mod guard;
mod jobs;
mod monitor;
pub mod openapi;
pub mod public;
pub(crate) mod schemas;
mod versions;
mod workspaces;

use crate::NodeError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use admin::admin_router;
pub use guard::AdminGuard;
pub use public::public_router;

/// An error answer: status plus `{"error": reason}`.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        let status = match &e {
            NodeError::UnknownConnection(_)
            | NodeError::UnknownInstance(_)
            | NodeError::NotFound(_)
            | NodeError::Port(twinsync_ports::PortError::NotFound(_)) => StatusCode::NOT_FOUND,
            NodeError::Conflict(_) | NodeError::CapacityReached(_) => StatusCode::CONFLICT,
            NodeError::Operation(_)
            | NodeError::Rules(_)
            | NodeError::BadMessage(_)
            | NodeError::Config(_) => StatusCode::BAD_REQUEST,
            e if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A number from the query string, within `range` (as the API description says), or
/// `default` when left out.
pub(crate) fn bounded(
    name: &str,
    value: Option<usize>,
    range: std::ops::RangeInclusive<usize>,
    default: usize,
) -> ApiResult<usize> {
    match value {
        None => Ok(default),
        Some(v) if range.contains(&v) => Ok(v),
        Some(v) => Err(ApiError(
            StatusCode::BAD_REQUEST,
            format!(
                "{name} must be {} to {}, not {v}",
                range.start(),
                range.end()
            ),
        )),
    }
}
