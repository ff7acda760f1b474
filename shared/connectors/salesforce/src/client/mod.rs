//! The REST API client. Every request goes through [`SalesforceTracker::send`]: the
//! connector's own budget (`RateGate`), the session (a new one and one more try after 401
//! `INVALID_SESSION_ID`), then the answer read for its limits: `Sforce-Limit-Info:
//! api-usage=N/M` slows the connector down near the org's allocation; 403
//! `REQUEST_LIMIT_EXCEEDED` and 429/503 with `Retry-After` become `PortError::RateLimited`,
//! which the queue turns into a wait. `read` reads Cases, comments and files, `write`
//! writes them, `files` copies attachments, `tracker` is the `Tracker` implementation.

mod files;
mod read;
mod tracker;
mod write;

use crate::SalesforceError;
use crate::auth::Auth;
use crate::config::SalesforceConfig;
use crate::mapping::Describe;
use reqwest::RequestBuilder;
use serde_json::Value;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;
use twinsync_connector_kit::outbound::{self, ClientOptions};
use twinsync_connector_kit::target::Reach;
use twinsync_connector_kit::{RateGate, http, now_ms};
use twinsync_ports::{PortError, PortResult};

/// The wait after a limit answer that names none: the daily allocation is a rolling 24
/// hours, so a short pause and a fresh look.
const DEFAULT_RETRY_MS: u64 = 60_000;

/// The pause per request once the org's usage passes `slow_down_at_percent`.
const SLOW_MS: u64 = 2_000;

pub struct SalesforceTracker {
    instance: String,
    config: SalesforceConfig,
    auth: Auth,
    http: reqwest::Client,
    gate: RateGate,
    /// `/sobjects/Case/describe`, read once.
    describe: tokio::sync::Mutex<Option<Describe>>,
    /// User Ids by email (`None`: looked up, nobody found).
    users: tokio::sync::Mutex<HashMap<String, Option<String>>>,
    /// `LastModifiedDate` (ms) of each Case as last read: the `If-Unmodified-Since` of the
    /// next update, so an edit made since is detected, not overwritten.
    seen: tokio::sync::Mutex<HashMap<String, i64>>,
    /// The version given to each Case's last state seen (see [`Versions`]).
    versions: tokio::sync::Mutex<Versions>,
    /// The sync status and link last shown per Case, so an unchanged one is not written.
    shown: twinsync_connector_kit::ShownMarks,
}

/// Salesforce explains errors as `[{"message": ..., "errorCode": ..., "fields": [...]}]`.
pub fn explain(text: &str) -> (String, String) {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let first = if v.is_array() { &v[0] } else { &v };
            (
                first["errorCode"].as_str().unwrap_or("").to_string(),
                first["message"].as_str().unwrap_or("").to_string(),
            )
        }
        Err(_) => (String::new(), text.chars().take(200).collect()),
    }
}

/// How long to hold requests after `Sforce-Limit-Info: api-usage=N/M`: none below
/// `slow_percent` of the allocation, a short pause above it, an hour when it is used up.
pub fn usage_wait_ms(header: Option<&str>, slow_percent: u8) -> Option<u64> {
    let usage = header?
        .split(',')
        .find_map(|p| p.trim().strip_prefix("api-usage="))?;
    let (used, max) = usage.split_once('/')?;
    let (used, max): (u64, u64) = (used.trim().parse().ok()?, max.trim().parse().ok()?);
    if max == 0 || used >= max {
        return Some(http::MAX_WAIT_MS);
    }
    (used.saturating_mul(100) >= max.saturating_mul(u64::from(slow_percent))).then_some(SLOW_MS)
}

impl SalesforceTracker {
    pub fn new(
        instance: impl Into<String>,
        mut config: SalesforceConfig,
    ) -> Result<Self, SalesforceError> {
        config.login_url = config.login_url.trim_end_matches('/').to_string();
        config.check()?;
        let http = outbound::client(
            &ClientOptions::with_timeout(Duration::from_secs(60))
                .ca_file(config.ca_file.as_deref())
                .reach(Reach::for_base_url(&config.login_url)),
        )
        .map_err(|e| SalesforceError::Http(e.to_string()))?;
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            instance: instance.into(),
            auth: Auth::from_config(&config)?,
            gate: RateGate::per_minute(n(config.requests_per_minute), n(config.burst)),
            config,
            http,
            describe: tokio::sync::Mutex::default(),
            users: tokio::sync::Mutex::default(),
            seen: tokio::sync::Mutex::default(),
            versions: tokio::sync::Mutex::default(),
            shown: twinsync_connector_kit::ShownMarks::default(),
        })
    }

    pub fn config(&self) -> &SalesforceConfig {
        &self.config
    }

    /// The instance the current session is for (`https://acme.my.salesforce.com`).
    pub async fn instance_url(&self) -> PortResult<String> {
        Ok(self.auth.session(&self.http).await?.instance_url)
    }

    /// One request to `path` on the instance (`build` makes it from the full URL, again
    /// after a refused session): budget, session, send, limits, status → error.
    pub(crate) async fn send(
        &self,
        path: &str,
        build: impl Fn(&str) -> RequestBuilder,
    ) -> PortResult<Value> {
        let what = format!("salesforce {}", self.instance);
        for attempt in 0..2 {
            self.gate.admit().await?;
            let session = self.auth.session(&self.http).await?;
            let url = format!("{}{path}", session.instance_url);
            let resp = build(&url)
                .bearer_auth(&session.access)
                .header("accept", "application/json")
                .send()
                .await
                .map_err(|e| {
                    PortError::Unavailable(format!("{what}: {}", outbound::describe(&e)))
                })?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            let now = now_ms();
            if let Some(wait) = usage_wait_ms(
                header("sforce-limit-info"),
                self.config.slow_down_at_percent,
            ) {
                tracing::info!(instance = %self.instance, wait_ms = wait, "Salesforce API usage near the org's limit: slowing down");
                self.gate.block_until(now.saturating_add(wait as i64));
            }
            let text = resp
                .text()
                .await
                .map_err(|e| PortError::Unavailable(e.to_string()))?;
            let (code, message) = explain(&text);
            match status {
                200..=299 => {
                    return if text.trim().is_empty() {
                        Ok(Value::Null)
                    } else {
                        serde_json::from_str(&text).map_err(|e| {
                            PortError::Rejected(format!("unexpected answer from Salesforce: {e}"))
                        })
                    };
                }
                401 if attempt == 0 => {
                    self.auth.refused().await;
                    continue;
                }
                412 => {
                    return Err(PortError::Conflict(format!(
                        "{what}: changed since read: {message}"
                    )));
                }
                403 | 429 | 503 if status != 403 || code == "REQUEST_LIMIT_EXCEEDED" => {
                    let wait = http::retry_after_ms(header("retry-after"), now)
                        .unwrap_or(DEFAULT_RETRY_MS);
                    // Refused calls count against the allocation too: every call waits.
                    self.gate.block_until(now.saturating_add(wait as i64));
                    tracing::warn!(instance = %self.instance, wait_ms = wait, status, %code, "Salesforce rate limit");
                    // A 503 is a wait too, but no proof that nothing was written.
                    return Err(match status {
                        503 => self.gate.asked_to_wait(wait),
                        _ => self.gate.throttled(wait),
                    });
                }
                s => return Err(http::status_error(s, &what, &format!("{code}: {message}"))),
            }
        }
        Err(PortError::Rejected(format!(
            "{what}: the org refused a fresh session"
        )))
    }

    /// A SOQL query's first page (`/query?q=`), or the page at a `nextRecordsUrl`.
    pub(crate) async fn query(&self, soql: &str) -> PortResult<Value> {
        let path = format!("{}/query", self.config.data_path());
        self.send(&path, |url| self.http.get(url).query(&[("q", soql)]))
            .await
    }

    pub(crate) async fn query_more(&self, next: &str) -> PortResult<Value> {
        let path = crate::soql::next_records(Some(next))
            .ok_or_else(|| PortError::Rejected(format!("not a Salesforce page link: {next:?}")))?;
        self.send(&path, |url| self.http.get(url)).await
    }

    /// Every record of a query, following `nextRecordsUrl`.
    pub(crate) async fn query_all(&self, soql: &str) -> PortResult<Vec<Value>> {
        let mut page = self.query(soql).await?;
        let mut records = Vec::new();
        loop {
            records.extend(page["records"].as_array().cloned().unwrap_or_default());
            match crate::soql::next_records(page["nextRecordsUrl"].as_str()) {
                Some(next) if page["done"] != Value::Bool(true) => {
                    page = self.query_more(&next).await?
                }
                _ => return Ok(records),
            }
        }
    }

    pub(crate) fn sobject_path(&self, object: &str, id: Option<&str>) -> String {
        match id {
            Some(id) => format!("{}/sobjects/{object}/{id}", self.config.data_path()),
            None => format!("{}/sobjects/{object}", self.config.data_path()),
        }
    }

    /// Case's describe, read once; refused when the org's one-time setup is missing.
    pub async fn describe(&self) -> PortResult<Describe> {
        if let Some(d) = self.describe.lock().await.as_ref() {
            return Ok(d.clone());
        }
        let path = format!("{}/describe", self.sobject_path("Case", None));
        let body = self.send(&path, |url| self.http.get(url)).await?;
        let d = Describe::from_json(&body);
        let c = &self.config;
        if let Some(problem) = d.setup_problem(&c.origin_field, &c.link_field, &c.status_field) {
            return Err(PortError::Rejected(format!(
                "salesforce {}: {problem}",
                self.instance
            )));
        }
        *self.describe.lock().await = Some(d.clone());
        Ok(d)
    }
}

/// Versions of Cases. Salesforce keeps `SystemModstamp` to the second and Case has no
/// revision counter, so two edits of one Case in the same second share a stamp. While a
/// stamp is recent, the version is the stamp in ms, and a state seen with the same stamp
/// but other values (fields or comment Ids) gets the last version plus one. Once the
/// stamp is [`SETTLED_MS`] old its second can hold no further edit, so the state is final
/// and gets the second's last version (stamp + 999): above every version given in the
/// second, before or after a restart, which forgets the count.
#[derive(Default)]
pub struct Versions(HashMap<String, (i64, u64, u64)>);

/// How old a stamp must be for its second to be over (with room for clock skew).
pub const SETTLED_MS: i64 = 3_000;

impl Versions {
    pub fn version(&mut self, id: &str, stamp_ms: i64, record: &Value, now_ms: i64) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut fields = record.clone();
        if let Some(o) = fields.as_object_mut() {
            o.remove("attributes");
        }
        fields.to_string().hash(&mut hasher);
        let print = hasher.finish();
        let base = u64::try_from(stamp_ms).unwrap_or(0);
        let version = match self.0.get(id) {
            _ if now_ms.saturating_sub(stamp_ms) >= SETTLED_MS => base + 999,
            Some((stamp, p, v)) if *stamp == stamp_ms && *p == print => *v,
            Some((stamp, _, v)) if *stamp == stamp_ms => (*v + 1).min(base + 999),
            _ => base,
        };
        self.0.insert(id.to_string(), (stamp_ms, print, version));
        version
    }
}

/// An Id for a SOQL literal or a URL path: Salesforce Ids are 15 or 18 letters and digits.
pub fn check_id(id: &str) -> PortResult<&str> {
    if matches!(id.len(), 15 | 18) && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(PortError::NotFound(format!(
            "{id:?} is not a Salesforce Id"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_limits_read_as_salesforce_writes_them() {
        assert_eq!(
            explain(
                r#"[{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]"#
            ),
            (
                "NOT_FOUND".into(),
                "The requested resource does not exist".into()
            )
        );
        assert_eq!(usage_wait_ms(Some("api-usage=18/15000"), 90), None);
        assert_eq!(
            usage_wait_ms(Some("api-usage=13500/15000"), 90),
            Some(SLOW_MS)
        );
        assert_eq!(
            usage_wait_ms(Some("api-usage=15000/15000"), 90),
            Some(http::MAX_WAIT_MS)
        );
        assert_eq!(usage_wait_ms(Some("per-app-api-usage=1/2"), 90), None);
        assert_eq!(usage_wait_ms(Some("api-usage=x/15000"), 90), None);
        assert_eq!(usage_wait_ms(None, 90), None);
        assert!(check_id("500xx000000bpRKAAY").is_ok());
        assert!(check_id("500xx000000bpRK").is_ok());
        assert!(check_id("500' OR Id != '").is_err());
        assert!(check_id("../../x").is_err());
    }

    #[test]
    fn a_second_edit_in_the_same_second_gets_a_newer_version() {
        let mut v = Versions::default();
        let a = serde_json::json!({"Id": "x", "Subject": "a"});
        let b = serde_json::json!({"Id": "x", "Subject": "b"});
        let now = 5_500;
        assert_eq!(v.version("x", 5_000, &a, now), 5_000);
        assert_eq!(
            v.version("x", 5_000, &a, now),
            5_000,
            "the same state, the same version"
        );
        assert_eq!(v.version("x", 5_000, &b, now), 5_001);
        assert_eq!(v.version("x", 5_000, &b, now), 5_001);
        // The second is over: its final state gets its last version, also after a restart.
        assert_eq!(v.version("x", 5_000, &b, 9_000), 5_999);
        assert_eq!(Versions::default().version("x", 5_000, &b, 9_000), 5_999);
        assert_eq!(v.version("x", 6_000, &a, 6_100), 6_000);
    }
}
