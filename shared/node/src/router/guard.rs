//! The admin listener's checks, as axum middleware. Every request must name the listener
//! as its Host (a DNS-rebinding page names its own host) and, when it has an Origin, come
//! from the listener's own origin (a cross-site page does not): else 403. An `/api/*`
//! request must also carry the admin token as `Authorization: Bearer` (else 401). A call
//! that changes state must be `application/json` (else 415), which an HTML form cannot
//! send across sites without a CORS preflight, which this listener never grants: every
//! POST and DELETE handler reads its body with axum's `Json`, which refuses any other
//! type, and `openapi::tests::every_change_takes_a_json_body` keeps it so. The check is
//! there, after routing, so a method a path does not have is a 405, not a 415.

use super::ApiError;
use crate::admin::AdminToken;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the admin listener accepts: its token and the Host names it answers to.
#[derive(Clone, Debug)]
pub struct AdminGuard {
    token: AdminToken,
    hosts: Arc<HashSet<String>>,
}

impl AdminGuard {
    /// The guard of a listener bound to `addr`: it answers to that address, to
    /// `localhost` on its port, and to the extra `hosts` (`host` or `host:port`, as the
    /// browser or a proxy sends them).
    pub fn new(token: AdminToken, addr: SocketAddr, hosts: &[String]) -> AdminGuard {
        let port = addr.port();
        let mut allowed: HashSet<String> = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        allowed.insert(addr.to_string());
        allowed.insert(format!("localhost:{port}"));
        if addr.ip().is_unspecified() {
            allowed.insert(format!("127.0.0.1:{port}"));
            allowed.insert(format!("[::1]:{port}"));
        }
        AdminGuard {
            token,
            hosts: Arc::new(allowed),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.contains(&host.to_ascii_lowercase())
    }

    /// An Origin is this listener's when it is `http://` or `https://` one of its hosts.
    fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.to_ascii_lowercase();
        ["http://", "https://"]
            .iter()
            .filter_map(|scheme| origin.strip_prefix(scheme))
            .any(|host| self.hosts.contains(host))
    }

    /// Whether `presented` is the node's own admin token.
    pub(super) fn is_admin(&self, presented: &str) -> bool {
        self.token.matches(presented)
    }
}

/// The Host a request names: the header, or the URI's authority (HTTP/2).
fn host_of(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
}

/// Host and Origin, on every route of the admin listener.
pub async fn same_site(State(guard): State<AdminGuard>, req: Request, next: Next) -> Response {
    match host_of(&req) {
        Some(host) if guard.host_allowed(host) => {}
        Some(host) => {
            let host = host.to_string();
            tracing::warn!(%host, "admin request for a foreign Host refused");
            return forbidden(format!("Host {host} is not this admin listener"));
        }
        None => return forbidden("a Host header is needed".into()),
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default().to_string();
        if !guard.origin_allowed(&origin) {
            tracing::warn!(%origin, "admin request from a foreign Origin refused");
            return forbidden(format!("Origin {origin} may not use the admin API"));
        }
    }
    next.run(req).await
}

/// The bearer token a request presents, if any.
pub(super) fn presented(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// No token, or one this node does not know: 401.
pub(super) fn unauthorized() -> Response {
    let mut resp = ApiError(
        StatusCode::UNAUTHORIZED,
        "the admin API needs `Authorization: Bearer <token>` (the node's data dir has it in admin-token)".into(),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

pub(super) fn forbidden(reason: String) -> Response {
    ApiError(StatusCode::FORBIDDEN, reason).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn guard(addr: &str, hosts: &[&str]) -> AdminGuard {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        AdminGuard::new(
            AdminToken::parse(&"t".repeat(40)).unwrap(),
            addr.parse().unwrap(),
            &hosts,
        )
    }

    #[test]
    fn hosts_and_origins_are_the_listeners_own() {
        let g = guard("127.0.0.1:7711", &["Admin.Example.com"]);
        let table = [
            ("127.0.0.1:7711", true),
            ("LOCALHOST:7711", true),
            ("localhost:7712", false),
            ("127.0.0.1", false),
            ("evil.example:7711", false),
            ("admin.example.com", true),
            ("[::1]:7711", false),
        ];
        for (host, ok) in table {
            assert_eq!(g.host_allowed(host), ok, "{host}");
        }
        let origins = [
            ("http://127.0.0.1:7711", true),
            ("http://localhost:7711", true),
            ("https://admin.example.com", true),
            ("http://127.0.0.1:7711.evil.example", false),
            ("http://evil.example", false),
            ("null", false),
            ("", false),
        ];
        for (origin, ok) in origins {
            assert_eq!(g.origin_allowed(origin), ok, "{origin}");
        }
        let any = guard("0.0.0.0:80", &[]);
        assert!(any.host_allowed("127.0.0.1:80") && any.host_allowed("[::1]:80"));
        let v6 = guard("[::1]:9000", &[]);
        assert!(v6.host_allowed("[::1]:9000") && !v6.host_allowed("127.0.0.1:9000"));
    }

    #[test]
    fn only_a_bearer_with_the_token_is_authorized() {
        let g = guard("127.0.0.1:1", &[]);
        let token = "t".repeat(40);
        let table = [
            (Some(format!("Bearer {token}")), true),
            (Some(format!("bearer {token}")), true),
            (Some(format!("Basic {token}")), false),
            (Some(format!("Bearer {token}x")), false),
            (Some("Bearer".to_string()), false),
            (None, false),
        ];
        for (value, ok) in table {
            let mut h = HeaderMap::new();
            if let Some(v) = &value {
                h.insert(header::AUTHORIZATION, v.parse().unwrap());
            }
            let admin = presented(&h).is_some_and(|t| g.is_admin(t));
            assert_eq!(admin, ok, "{value:?}");
        }
    }
}
