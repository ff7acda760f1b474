//! The Item Sync Monitor: a page, its script and its style, served with the binary (no
//! build step). A browser cannot put the admin token on a page it navigates to, so
//! `/monitor` is a static page whose script takes the token once (from a `#token=`
//! fragment, which never reaches the server, or a form), keeps it in sessionStorage and
//! calls the admin API with it as a bearer header. The script renders the JSON of
//! [`views`] with DOM text nodes only; the page's Content-Security-Policy allows no inline
//! script.

pub mod diff;
pub mod views;

use crate::Node;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// Only the page's own script and style, no framing, no referrer.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; img-src 'self'; form-action 'self'; \
                      frame-ancestors 'none'; base-uri 'none'";

/// The monitor's static files. They hold no data, so they need no token.
pub fn page_routes() -> Router<Arc<Node>> {
    Router::new()
        .route(
            "/monitor",
            get(|| async { asset(PAGE, "text/html; charset=utf-8") }),
        )
        .route(
            "/monitor/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/monitor/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}
