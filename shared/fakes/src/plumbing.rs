//! What every fake vendor server does around its routes, written once: it records each
//! exchange (request and answer, for the contract tests and the call counts) and it
//! answers with injected faults (a 429 every n-th request, or faults a test queued).

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::Value;
use std::collections::VecDeque;

/// One request and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    pub method: String,
    /// Who called (a login or an email), empty when refused.
    pub caller: String,
    /// The route, in the vendor's reference's words (`/repos/{owner}/{repo}/issues`).
    pub template: String,
    pub path: String,
    pub query: String,
    pub request: Option<Value>,
    pub status: u16,
    pub response: Option<Value>,
}

/// A request taken apart for a guard: its parts and body to pass on, and the exchange
/// being recorded.
pub struct Received {
    pub parts: Parts,
    pub body: Bytes,
    pub exchange: Exchange,
}

impl Received {
    /// Reads `request` (a body over `limit` bytes counts as empty).
    pub async fn read(matched: &MatchedPath, request: Request, limit: usize) -> Received {
        let exchange = Exchange {
            method: request.method().to_string(),
            caller: String::new(),
            template: matched.as_str().to_string(),
            path: request.uri().path().to_string(),
            query: request.uri().query().unwrap_or("").to_string(),
            request: None,
            status: 0,
            response: None,
        };
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, limit).await.unwrap_or_default();
        let request = serde_json::from_slice(&body).ok();
        Received {
            parts,
            body,
            exchange: Exchange {
                request,
                ..exchange
            },
        }
    }

    /// The request to pass on to the route.
    pub fn into_request(parts: Parts, body: Bytes) -> Request {
        Request::from_parts(parts, Body::from(body))
    }
}

/// Completes `exchange` with `response` (a body over `limit` bytes is recorded as none)
/// and gives the response back to send.
pub async fn answered(
    mut exchange: Exchange,
    response: Response,
    limit: usize,
) -> (Exchange, Response) {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.unwrap_or_default();
    exchange.status = parts.status.as_u16();
    exchange.response = serde_json::from_slice(&bytes).ok();
    (exchange, Response::from_parts(parts, Body::from(bytes)))
}

/// Faults to answer with: those a test queued, in order, and one every n-th request.
#[derive(Debug)]
pub struct Faults<F> {
    queued: VecDeque<F>,
    requests: u64,
}

impl<F> Default for Faults<F> {
    fn default() -> Self {
        Self {
            queued: VecDeque::new(),
            requests: 0,
        }
    }
}

impl<F> Faults<F> {
    pub fn inject(&mut self, faults: impl IntoIterator<Item = F>) {
        self.queued.extend(faults);
    }

    /// The fault for the next request, if any: every `every_nth` request (0: never) gets
    /// `nth()` before the queued ones.
    pub fn next(&mut self, every_nth: u64, nth: impl FnOnce() -> F) -> Option<F> {
        self.requests += 1;
        if every_nth > 0 && self.requests.is_multiple_of(every_nth) {
            return Some(nth());
        }
        self.queued.pop_front()
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_request_and_then_the_queued_faults() {
        let mut faults = Faults::default();
        faults.inject(["a", "b"]);
        let seen: Vec<_> = (0..6).map(|_| faults.next(3, || "nth")).collect();
        assert_eq!(
            seen,
            [Some("a"), Some("b"), Some("nth"), None, None, Some("nth")]
        );
        assert_eq!(faults.requests(), 6);
        let mut never: Faults<&str> = Faults::default();
        assert_eq!(never.next(0, || "nth"), None);
    }
}
