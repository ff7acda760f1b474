//! A fake ServiceNow that follows the real REST contract for what twinsync and pysnc
//! (ServiceNow's own Python client) use: the Table API with encoded queries, field lists
//! with dot-walking, display values (`false`, `true`, `all`), `sysparm_limit` and
//! `sysparm_offset` paging with `X-Total-Count` and `Link`; journal fields
//! (`comments`, `work_notes`) kept as `sys_journal_field` rows; choices in `sys_choice`;
//! the priority computed from impact and urgency; the data policies that make a resolve
//! name its close code and notes; the Attachment API; Basic auth and OAuth 2.0 tokens
//! from `/oauth_token.do` that expire; 429s with `Retry-After` and `X-RateLimit-*`; and,
//! once the push business rule's property names a URL, the signed push that rule sends
//! (`docs/servicenow-push.md`).
//!
//! State is in memory. `state` holds the data, `query` the encoded queries, `render`
//! the JSON, `guard` auth and faults, `table` and `attachments` the routes.

mod attachments;
mod guard;
mod query;
mod render;
mod state;
mod table;

use crate::deliveries::Outgoing;
use crate::server::Running;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use std::sync::Arc;
use twinsync_servicenow::ServiceNowError;
use twinsync_tls::Transport;

pub use crate::deliveries::Delivery;
pub use crate::plumbing::Exchange;
pub use state::Record;

/// A person of the instance: a `sys_user` row and the password Basic auth takes.
#[derive(Clone, Debug, Default)]
pub struct FakeUser {
    pub user_name: String,
    pub password: String,
    pub email: String,
    pub name: String,
}

impl FakeUser {
    pub fn new(user_name: &str, password: &str, email: &str, name: &str) -> Self {
        FakeUser {
            user_name: user_name.into(),
            password: password.into(),
            email: email.into(),
            name: name.into(),
        }
    }
}

/// What the fake knows at start.
#[derive(Clone, Default)]
pub struct FakeOptions {
    pub users: Vec<FakeUser>,
    /// `sys_user_group` names.
    pub groups: Vec<String>,
    /// OAuth clients of the Application Registry: (client_id, client_secret).
    pub oauth_clients: Vec<(String, String)>,
    /// Who the client credentials grant acts as.
    pub oauth_user: Option<String>,
    /// How long an access token lives (seconds; 1800 as ServiceNow's default when 0).
    pub token_seconds: u64,
    /// `sys_properties` rows at start: (name, value). The push business rule's
    /// `twinsync.push_url` is one.
    pub properties: Vec<(String, String)>,
    /// The key the push business rule signs with; empty: the rule is not installed.
    pub push_secret: String,
    /// Every n-th request is answered 429 (0: never).
    pub every_nth_429: u64,
}

/// A failure to inject into the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 from a rate limit rule, with `Retry-After` seconds.
    TooManyRequests(u64),
    /// 429 that says when the rule's window resets (`X-RateLimit-Reset`, in this many
    /// seconds) and nothing else.
    WindowExhausted(u64),
    Unavailable,
}

/// A running fake ServiceNow.
pub type FakeServiceNow = Running<FakeOptions, state::Data, Fault>;

impl FakeServiceNow {
    /// Starts on `addr` (`127.0.0.1:0` for any port), over plain HTTP.
    pub async fn start(
        addr: &str,
        options: FakeOptions,
    ) -> Result<FakeServiceNow, ServiceNowError> {
        Self::start_on(addr, options, Transport::Plain).await
    }

    /// Starts on `addr` over plain HTTP or HTTPS, as a real instance only speaks.
    pub async fn start_on(
        addr: &str,
        mut options: FakeOptions,
        transport: Transport,
    ) -> Result<FakeServiceNow, ServiceNowError> {
        if options.token_seconds == 0 {
            options.token_seconds = 1_800;
        }
        Running::serve(
            addr,
            transport,
            "fake ServiceNow",
            |base| state::fake(base, options),
            router,
        )
        .await
        .map_err(|message| ServiceNowError::Listen {
            addr: addr.into(),
            message,
        })
    }

    /// The records of `table`, as stored.
    pub fn records(&self, table: &str) -> Vec<Record> {
        self.fake.lock().table(table).to_vec()
    }

    /// The journal entries of the record `number` of `table`: (element, value).
    pub fn journal(&self, table: &str, number: &str) -> Vec<(String, String)> {
        let data = self.fake.lock();
        let Some(id) = data
            .table(table)
            .iter()
            .find(|r| r.get("number").map(String::as_str) == Some(number))
            .and_then(|r| r.get("sys_id").cloned())
        else {
            return Vec::new();
        };
        data.table("sys_journal_field")
            .iter()
            .filter(|j| j.get("element_id") == Some(&id))
            .map(|j| {
                let get = |k: &str| j.get(k).cloned().unwrap_or_default();
                (get("element"), get("value"))
            })
            .collect()
    }

    /// Ends every OAuth access token now, as a revocation or an expiry would.
    pub fn expire_tokens(&self) {
        for t in self.fake.lock().tokens.values_mut() {
            t.expires_ms = 0;
        }
    }
}

impl state::Fake {
    /// What the push business rule does after a write: posts the record's change to
    /// the URL in `twinsync.push_url`, signed with the rule's key.
    fn push(&self, data: &state::Data, table: &str, record: &Record, operation: &str) {
        let secret = &self.options.push_secret;
        let url = data
            .table("sys_properties")
            .iter()
            .find(|p| {
                p.get("name").map(String::as_str)
                    == Some(twinsync_servicenow::client::PUSH_URL_PROPERTY)
            })
            .and_then(|p| p.get("value").cloned())
            .unwrap_or_default();
        if secret.is_empty() || url.is_empty() {
            return;
        }
        let record = serde_json::to_value(record).unwrap_or_default();
        let payload = twinsync_servicenow::webhook::payload(
            table,
            &record,
            operation,
            crate::plumbing::now_ms(),
        );
        let signature = twinsync_servicenow::webhook::sign(secret, payload.to_string().as_bytes());
        self.traffic.outbox.send(Outgoing {
            url,
            event: format!("{table}.{operation}"),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("user-agent".into(), "ServiceNow/1.0".into()),
                (twinsync_servicenow::webhook::SIGNATURE.into(), signature),
            ],
            payload,
        });
    }
}

/// The routes twinsync and pysnc use, each behind the guard (the token endpoint records
/// but takes no API auth); any other path is ServiceNow's 400.
fn router(fake: Arc<state::Fake>) -> Router {
    let api = Router::new()
        .route(
            "/api/now/table/{table}",
            get(table::list).post(table::insert),
        )
        .route(
            "/api/now/table/{table}/{sys_id}",
            get(table::get_record)
                .patch(table::update)
                .put(table::update)
                .delete(table::delete),
        )
        .route("/api/now/attachment", get(attachments::list))
        .route("/api/now/attachment/file", post(attachments::upload))
        .route(
            "/api/now/attachment/{sys_id}/file",
            get(attachments::content),
        )
        .route_layer(middleware::from_fn_with_state(fake.clone(), guard::guard));
    Router::new()
        .merge(api)
        .route("/oauth_token.do", post(guard::token))
        .fallback(|| async {
            guard::error(
                StatusCode::BAD_REQUEST,
                "Requested URI does not represent any resource",
                None,
            )
        })
        .with_state(fake)
}
