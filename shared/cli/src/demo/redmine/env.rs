//! Where the demo's (and the tests') Redmine is, and its own requests to it, sent again
//! after a busy answer.

use backon::{ExponentialBuilder, Retryable};
use std::time::Duration;

/// Where the Redmine is, from the environment `scripts/redmine-up` prints.
pub struct RedmineEnv {
    pub url: String,
    pub key: String,
    pub origin_field: u32,
    /// The fields that show the sync status and the twin's link, when the Redmine has them
    /// (`REDMINE_STATUS_FIELD`, `REDMINE_TWIN_FIELD`).
    pub status_field: Option<u32>,
    pub twin_field: Option<u32>,
    /// One client for every request: a client of its own per request loaded the TLS
    /// roots and opened a new connection each time.
    http: reqwest::Client,
}

impl RedmineEnv {
    pub fn from_env() -> Result<Self, String> {
        let get = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let optional = |name: &str| -> Result<Option<u32>, String> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| format!("{name} must be the custom field's id, not {v:?}"))
                })
                .transpose()
        };
        match (
            get("REDMINE_URL"),
            get("REDMINE_API_KEY"),
            get("REDMINE_ORIGIN_FIELD"),
        ) {
            (Some(url), Some(key), Some(field)) => Ok(Self {
                url: url.trim_end_matches('/').to_string(),
                key,
                origin_field: field.parse().map_err(|_| {
                    format!("REDMINE_ORIGIN_FIELD must be the custom field's id, not {field:?}")
                })?,
                status_field: optional("REDMINE_STATUS_FIELD")?,
                twin_field: optional("REDMINE_TWIN_FIELD")?,
                http: reqwest::Client::new(),
            }),
            _ => Err(
                "the redmine-sandbox pair needs a running Redmine: REDMINE_URL, \
                      REDMINE_API_KEY and REDMINE_ORIGIN_FIELD are not all set.\n\
                      Start one with `sudo scripts/redmine-up --dir /tmp/redmine-test` \
                      (Debian's redmine package; a few minutes the first time), then \
                      `set -a; . /tmp/redmine-test/env; set +a` and run the demo again."
                    .into(),
            ),
        }
    }

    /// A request to Redmine with the API key.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .header("X-Redmine-API-Key", &self.key)
    }
}

/// Why one try of [`send_again_after_busy`] ended.
enum Try {
    /// Redmine answered 500 or 503 before committing: worth sending again.
    Busy(reqwest::Response),
    /// Not sent, or not reached: sending again would not help.
    Failed(String),
}

/// Sends one of the demo's (or a test's) own requests to Redmine, again after a 500 or
/// 503. A Redmine on SQLite answers "database is locked", or finds its connections all
/// taken, while the nodes write to it on a loaded machine; either fails the request
/// before it commits, so sending it again makes nothing twice. The connector waits such
/// answers out the same way. The last busy answer is returned as it came.
pub async fn send_again_after_busy(
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, String> {
    let attempt = || async {
        let request = request.try_clone().ok_or_else(|| {
            Try::Failed("a request with a streamed body cannot be tried again".into())
        })?;
        let response = request
            .send()
            .await
            .map_err(|e| Try::Failed(format!("cannot reach Redmine: {e}")))?;
        match response.status().as_u16() {
            500 | 503 => Err(Try::Busy(response)),
            _ => Ok(response),
        }
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_times(6);
    match attempt
        .retry(backoff)
        .when(|t| matches!(t, Try::Busy(_)))
        .await
    {
        Ok(response) | Err(Try::Busy(response)) => Ok(response),
        Err(Try::Failed(reason)) => Err(reason),
    }
}
