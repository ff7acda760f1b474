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
pub mod scope;
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

/// A connection a listing names must be one the scope sees (else it does not exist for
/// the caller).
pub(crate) fn seen_connection(scope: &scope::Scope, connection: Option<&str>) -> ApiResult<()> {
    match connection {
        Some(c) if !c.is_empty() && !scope.sees(c) => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("unknown connection {c}"),
        )),
        _ => Ok(()),
    }
}

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

/// A whole number, also when written `3.0` (JSON Schema's integers include it).
pub(crate) fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::Deserialize;
    let n = serde_json::Number::deserialize(d)?;
    if let Some(v) = n.as_u64() {
        return Ok(v);
    }
    match n.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => Ok(f as u64),
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number of 0 or more"
        ))),
    }
}

/// [`whole_number`], or nothing.
pub(crate) fn maybe_whole_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole_number")] u64);
    use serde::Deserialize;
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "whole_number")]
        n: u64,
    }

    #[test]
    fn whole_numbers_table() {
        let cases = [
            ("3", Some(3)),
            ("3.0", Some(3)),
            ("0", Some(0)),
            ("3.5", None),
            ("-1", None),
            ("-1.0", None),
            ("\"3\"", None),
            ("1e300", None),
        ];
        for (text, want) in cases {
            let got = serde_json::from_str::<Body>(&format!("{{\"n\": {text}}}"))
                .ok()
                .map(|b| b.n);
            assert_eq!(got, want, "{text}");
        }
    }
}
