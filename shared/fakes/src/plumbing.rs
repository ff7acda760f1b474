//! What every fake vendor server does around its routes, written once: it records each
//! exchange (request and answer, for the contract tests and the call counts) and it
//! answers with injected faults (a 429 every n-th request, or faults a test queued).
//! [`Traffic`] keeps both, with the fake's webhook outbox.

use crate::deliveries::Outbox;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::request::Parts;
use axum::response::Response;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::task::JoinHandle;
use twinsync_core::{Clock, SystemClock};

/// Milliseconds since the Unix epoch: the fakes run on the wall clock, as the vendors do.
pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// Locks `mutex` even when a panic elsewhere poisoned it, so a fake keeps serving what it
/// has.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An answer that refuses a request, boxed: a `Response` is too large to carry in the
/// error of a `Result`.
pub type Refusal = Box<Response>;

/// The strings of a JSON array, `None` when `v` is not an array; other elements are
/// skipped, as the vendors ignore them.
pub fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

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

/// A request taken apart for recording: its parts and body to pass on, and the exchange
/// being recorded.
struct Received {
    parts: Parts,
    body: Bytes,
    exchange: Exchange,
}

impl Received {
    /// Reads `request` (a body over `limit` bytes counts as empty).
    async fn read(matched: &MatchedPath, request: Request, limit: usize) -> Received {
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
    fn into_request(parts: Parts, body: Bytes) -> Request {
        Request::from_parts(parts, Body::from(body))
    }
}

/// Completes `exchange` with `response` (a body over `limit` bytes is recorded as none)
/// and gives the response back to send.
async fn answered(
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

/// What a vendor fake keeps of its traffic, the same for every vendor: the exchanges it
/// answered, the faults it is to answer with, and the outbox of its webhooks.
pub struct Traffic<F> {
    /// Request bodies over this many bytes count as empty.
    request_limit: usize,
    /// Answer bodies over this many bytes are recorded as none.
    response_limit: usize,
    exchanges: Mutex<Vec<Exchange>>,
    faults: Mutex<Faults<F>>,
    /// Webhook deliveries: sent in order, counted, kept.
    pub outbox: Outbox,
    sender: JoinHandle<()>,
}

impl<F> Traffic<F> {
    /// Starts the webhook sender (`vendor` names it in logs), with the body limits the
    /// vendor's guard reads and records with.
    pub fn start(vendor: &'static str, request_limit: usize, response_limit: usize) -> Self {
        let (outbox, sender) = Outbox::start(vendor);
        Traffic {
            request_limit,
            response_limit,
            exchanges: Mutex::default(),
            faults: Mutex::new(Faults::default()),
            outbox,
            sender,
        }
    }

    /// Makes the next requests fail, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = F>) {
        lock(&self.faults).inject(faults);
    }

    /// The fault for the next request, if any (see [`Faults::next`]).
    pub fn next_fault(&self, every_nth: u64, nth: impl FnOnce() -> F) -> Option<F> {
        lock(&self.faults).next(every_nth, nth)
    }

    /// Every request so far and its answer.
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.exchanges).clone()
    }

    /// Has `answer` answer `request` and records the exchange; `answer` says who called
    /// (empty when refused) with the response.
    pub async fn record<A, Fut>(
        &self,
        matched: &MatchedPath,
        request: Request,
        answer: A,
    ) -> Response
    where
        A: FnOnce(Request) -> Fut,
        Fut: Future<Output = (String, Response)>,
    {
        let Received {
            parts,
            body,
            mut exchange,
        } = Received::read(matched, request, self.request_limit).await;
        let (caller, response) = answer(Received::into_request(parts, body)).await;
        exchange.caller = caller;
        let (exchange, response) = answered(exchange, response, self.response_limit).await;
        lock(&self.exchanges).push(exchange);
        response
    }

    /// Stops sending webhooks, those still queued included.
    pub fn stop(&self) {
        self.sender.abort();
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
