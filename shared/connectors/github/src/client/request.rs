//! Requests to GitHub. Every request goes through [`GithubTracker::send`]: the
//! connector's own budget first (`RateGate` of twinsync-connector-kit), then GitHub's
//! answer read for its limits. A 429, a secondary-limit 403 with `Retry-After`, or an
//! exhausted `x-ratelimit-remaining` becomes
//! `PortError::RateLimited` with the wait GitHub asked for: the handler hands it to the
//! queue, which extends the message's visibility instead of sleeping in a worker.

use super::GithubTracker;
use crate::config::{API_VERSION, USER_AGENT};
use crate::mapping::GhIssue;
use serde_json::Value;
use twinsync_connector_kit::answer::{self, IdKind};
use twinsync_connector_kit::{http, now_ms, outbound};
use twinsync_ports::{PortError, PortResult};

fn header_i64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<i64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// GitHub explains errors as `{"message": ..., "errors": [...]}`.
/// The next page's URL from a `Link` header (RFC 8288), relative ones resolved against
/// the URL that answered; `None` on the last page or a header that does not parse.
fn next_page(link: &str, answered_from: &reqwest::Url) -> Option<String> {
    http_link::parse_link_header(link, answered_from)
        .ok()?
        .into_iter()
        .find(|l| l.rel == "next")
        .map(|l| l.target.to_string())
}

fn explain(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let mut out = v["message"].as_str().unwrap_or("").to_string();
            if let Some(errors) = v["errors"].as_array() {
                for e in errors {
                    let part = match e {
                        Value::String(s) => s.clone(),
                        e => format!(
                            "{} {} {}",
                            e["resource"].as_str().unwrap_or(""),
                            e["field"].as_str().unwrap_or(""),
                            e["message"].as_str().or(e["code"].as_str()).unwrap_or("")
                        ),
                    };
                    out.push_str("; ");
                    out.push_str(part.trim());
                }
            }
            out
        }
        Err(_) => text.chars().take(200).collect(),
    }
}

/// A 404 on a repository's own routes: GitHub answers so for a repository that does not
/// exist and for one the token may not see alike.
pub(super) fn unreachable(repo: &str, e: PortError) -> PortError {
    match e {
        PortError::NotFound(_) => PortError::Rejected(format!(
            "repository {repo} not found, or this token cannot reach it"
        )),
        e => e,
    }
}

impl GithubTracker {
    pub(super) fn throttled(&self, wait_ms: u64) -> PortError {
        self.gate.throttled(wait_ms)
    }

    /// One request: budget, auth, send, limits, status → error. Returns the body and the
    /// next page's URL from the `Link` header.
    pub(super) async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> PortResult<(Value, Option<String>)> {
        let now = now_ms();
        self.gate.admit().await?;
        let authorization = self
            .auth
            .header(&self.http, &self.config.api_url, now)
            .await?;
        let mut req = self
            .http
            .request(method, url)
            .header("authorization", authorization)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
            .header("user-agent", USER_AGENT);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            PortError::Unavailable(format!(
                "github {}: {}",
                self.instance,
                outbound::describe(&e)
            ))
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let answered_from = resp.url().clone();
        let text = resp
            .text()
            .await
            .map_err(|e| PortError::Unavailable(e.to_string()))?;
        let remaining = header_i64(&headers, "x-ratelimit-remaining");
        let reset_wait_ms = header_i64(&headers, "x-ratelimit-reset")
            .map(|reset| http::wait_until_reset_ms(reset, now_ms()));
        // Searches have a limit of their own (30 a minute): spending it holds no other call.
        let core = headers
            .get("x-ratelimit-resource")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|r| r == "core");
        if remaining == Some(0)
            && core
            && let Some(wait) = reset_wait_ms
        {
            // Out of requests: hold every further call until the window resets.
            self.gate.block_until(now_ms().saturating_add(wait as i64));
        }
        let retry_after_ms = http::retry_after_ms(
            headers.get("retry-after").and_then(|v| v.to_str().ok()),
            now_ms(),
        );
        match status {
            200..=299 => {
                let next = headers
                    .get("link")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| next_page(v, &answered_from));
                let value = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|e| {
                        PortError::Rejected(format!("unexpected answer from GitHub: {e}"))
                    })?
                };
                Ok((value, next))
            }
            403 | 429 if retry_after_ms.is_some() || remaining == Some(0) => {
                let wait = retry_after_ms.or(reset_wait_ms).unwrap_or(60_000);
                tracing::warn!(instance = %self.instance, status, wait_ms = wait, "GitHub rate limit");
                Err(self.throttled(wait))
            }
            429 => Err(self.throttled(60_000)),
            s => Err(http::status_error(
                s,
                &format!("github {}", self.instance),
                &explain(&text),
            )),
        }
    }

    pub(super) async fn get(&self, url: &str) -> PortResult<(Value, Option<String>)> {
        self.send(reqwest::Method::GET, url, None).await
    }

    pub(super) fn parse<T: serde::de::DeserializeOwned>(value: Value) -> PortResult<T> {
        serde_json::from_value(value)
            .map_err(|e| PortError::Rejected(format!("unexpected answer from GitHub: {e}")))
    }

    /// The issues of a listing (`member` of the answer, or the answer itself when empty).
    /// Each must carry its number: serde's defaults would read one without as #0.
    pub(super) fn issues(value: &Value, member: &str) -> PortResult<Vec<GhIssue>> {
        answer::entries("GitHub", value, member, "number", IdKind::Number)?
            .iter()
            .map(|e| Self::parse(e.clone()))
            .collect()
    }

    /// One issue (a create's or an edit's answer), with its number.
    pub(super) fn issue(value: Value) -> PortResult<GhIssue> {
        answer::id_in("GitHub", &value, "number", IdKind::Number)?;
        Self::parse(value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn next_page_table() {
        let base = reqwest::Url::parse("https://api.github.com/repos/o/r/issues?page=1").unwrap();
        let cases = [
            (
                r#"<https://api.github.com/repos/o/r/issues?page=2>; rel="next", <https://api.github.com/repos/o/r/issues?page=9>; rel="last""#,
                Some("https://api.github.com/repos/o/r/issues?page=2"),
            ),
            (
                r#"<https://api.github.com/repos/o/r/issues?page=1>; rel="prev first""#,
                None,
            ),
            (
                r#"</repos/o/r/issues?page=3>; rel="next""#,
                Some("https://api.github.com/repos/o/r/issues?page=3"),
            ),
            (
                r#"<https://x/y>; rel="last", <https://x/z>; rel="NEXT""#,
                Some("https://x/z"),
            ),
            ("not a link header", None),
            ("<https://x/unclosed; rel=next", None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(next_page(header, &base).as_deref(), want, "{header}");
        }
    }
}
