//! The incremental ticket export, cursor based
//! (`GET /api/v2/incremental/tickets/cursor.json`): the first request names a
//! `start_time` (epoch seconds, not in the future), the next ones the `cursor` the last
//! answer gave, until `end_of_stream`. Every ticket changed at or after `start_time` is
//! in it, those changed in the same second included, each once per change, in the order
//! of their changes. It has a limit of its own (10 requests a minute on most plans).

use super::guard::{bad_payload, error};
use super::render::{named_by, sideloads};
use super::state::Fake;
use crate::plumbing::now_ms;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

fn encode(change: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("change:{change}"))
}

fn decode(cursor: &str) -> Option<u64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("change:")?
        .parse()
        .ok()
}

pub(super) async fn cursor(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let now = now_ms();
    let mut data = fake.lock();
    let limit = fake.options.export_per_minute as usize;
    if limit > 0 {
        while data.exports.front().is_some_and(|t| *t <= now - 60_000) {
            data.exports.pop_front();
        }
        if data.exports.len() >= limit {
            let wait = data
                .exports
                .front()
                .map(|t| (t + 60_000 - now) / 1000 + 1)
                .unwrap_or(60);
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "APIRateLimitExceeded",
                "Number of allowed incremental export API requests per minute exceeded",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(wait.max(1)));
            return r;
        }
        data.exports.push_back(now);
    }
    let per_page = match query.get("per_page").map(|p| p.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return bad_payload("per_page must be between 1 and 1000"),
    };
    let after = match (query.get("cursor"), query.get("start_time")) {
        (Some(c), _) => match decode(c) {
            Some(change) => Err(change),
            None => return bad_payload("cursor is invalid"),
        },
        (None, Some(s)) => match s.parse::<i64>() {
            Ok(s) if s <= now / 1000 => Ok(s),
            Ok(_) => return bad_payload("start_time must be in the past"),
            Err(_) => return bad_payload("start_time must be a Unix epoch time in seconds"),
        },
        (None, None) => return bad_payload("start_time or cursor is required"),
    };
    let mut changed: Vec<_> = data
        .tickets
        .values()
        .filter(|t| match after {
            Ok(start) => t.updated_s >= start,
            Err(change) => t.change > change,
        })
        .collect();
    changed.sort_by_key(|t| t.change);
    let end_of_stream = changed.len() <= per_page;
    changed.truncate(per_page);
    let last = changed.last().map(|t| t.change).unwrap_or(match after {
        Err(change) => change,
        Ok(_) => data.change,
    });
    let (mut users, mut groups) = (BTreeSet::new(), BTreeSet::new());
    for t in &changed {
        named_by(t, &mut users, &mut groups);
    }
    let tickets: Vec<Value> = changed.iter().map(|t| fake.ticket_json(&data, t)).collect();
    let after_cursor = encode(last);
    let mut out = json!({
        "tickets": tickets,
        "after_cursor": after_cursor,
        "after_url": format!("{}/api/v2/incremental/tickets/cursor.json?cursor={after_cursor}", fake.base),
        "before_cursor": null,
        "before_url": null,
        "end_of_stream": end_of_stream,
    });
    sideloads(&data, query.get("include"), &users, &groups, &mut out);
    axum::Json(out).into_response()
}
