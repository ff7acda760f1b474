//! A fake Salesforce that follows the real REST contract for what twinsync and jsforce
//! (Salesforce's JavaScript client) use: OAuth 2.0 (`/services/oauth2/token`: the JWT
//! bearer flow checked against the connected app's certificate key, and refresh tokens)
//! answering with the `instance_url`; sessions that expire (401 `INVALID_SESSION_ID`);
//! SOQL with `nextRecordsUrl` paging; Case, CaseComment and ContentVersion through
//! `/sobjects` with restricted picklists, unknown and read-only fields refused, an
//! External ID field kept unique, and `If-Unmodified-Since` answered 412; `Sforce-Limit-Info`
//! on every answer and `REQUEST_LIMIT_EXCEEDED` once the daily allocation is spent; and,
//! once an endpoint is set up, the SOAP Outbound Message a workflow rule sends when a Case
//! changes.
//!
//! State is in memory. `state` holds the data and schema, `soql` the queries, `guard`
//! auth, limits and faults, `routes` the REST resources.

mod guard;
mod query;
mod routes;
mod soql;
mod state;

use crate::deliveries::Outgoing;
use crate::server::Running;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use serde_json::Value;
use std::sync::Arc;
use twinsync_salesforce::SalesforceError;
use twinsync_tls::Transport;

pub use state::{Record, SETUP_FIELDS};

/// A person of the org.
#[derive(Clone, Debug, Default)]
pub struct FakeUser {
    pub username: String,
    pub email: String,
    pub name: String,
}

impl FakeUser {
    pub fn new(username: &str, email: &str, name: &str) -> Self {
        FakeUser {
            username: username.into(),
            email: email.into(),
            name: name.into(),
        }
    }
}

/// What the fake knows at start.
#[derive(Clone, Default)]
pub struct FakeOptions {
    pub users: Vec<FakeUser>,
    /// Connected apps: (consumer key, the certificate's public key, PEM).
    pub apps: Vec<(String, String)>,
    /// Refresh tokens issued before: (token, username).
    pub refresh_tokens: Vec<(String, String)>,
    /// Case record types (DeveloperName).
    pub record_types: Vec<String>,
    /// The values of the labels multi-select picklist (`Twinsync_Labels__c`).
    pub labels: Vec<String>,
    /// Custom Case fields (`…__c`, text) besides the setup's.
    pub custom_fields: Vec<String>,
    /// The org's Id (18 characters), named in Outbound Messages.
    pub organization_id: String,
    /// Where Outbound Messages go from the start, if anywhere.
    pub outbound_url: Option<String>,
    /// Records per query page (Salesforce's default is 2,000).
    pub batch_size: usize,
    /// The daily API request allocation (15,000 when 0).
    pub daily_limit: u64,
    /// How long a session lives (two hours when 0).
    pub session_seconds: u64,
    /// Every n-th API request is answered 503 with `Retry-After: 1` (0: never).
    pub every_nth_unavailable: u64,
}

/// A failure to inject into the next API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 403 `REQUEST_LIMIT_EXCEEDED` (with `Retry-After` seconds when given, which the
    /// fake adds so tests need not wait Salesforce's default).
    RequestLimit(Option<u64>),
    /// 503 with `Retry-After` seconds.
    Unavailable(u64),
    /// No fault: the request passes (to aim a later fault at a later request).
    Pass,
}

/// A running fake Salesforce.
pub type FakeSalesforce = Running<FakeOptions, state::Data, Fault>;

impl FakeSalesforce {
    /// Starts on `addr` (`127.0.0.1:0` for any port), over plain HTTP.
    pub async fn start(
        addr: &str,
        options: FakeOptions,
    ) -> Result<FakeSalesforce, SalesforceError> {
        Self::start_on(addr, options, Transport::Plain).await
    }

    /// Starts on `addr` over plain HTTP or HTTPS, as a real org only speaks.
    pub async fn start_on(
        addr: &str,
        mut options: FakeOptions,
        transport: Transport,
    ) -> Result<FakeSalesforce, SalesforceError> {
        if options.batch_size == 0 {
            options.batch_size = 2_000;
        }
        if options.daily_limit == 0 {
            options.daily_limit = 15_000;
        }
        if options.session_seconds == 0 {
            options.session_seconds = 7_200;
        }
        if options.organization_id.is_empty() {
            options.organization_id = "00DFK0000000001EAA".into();
        }
        Running::serve(
            addr,
            transport,
            "fake Salesforce",
            |base| state::fake(base, options),
            router,
        )
        .await
        .map_err(|message| SalesforceError::Http(format!("cannot listen on {addr}: {message}")))
    }

    /// The records of `object` (`Case`, `CaseComment`, …), as stored.
    pub fn records(&self, object: &str) -> Vec<Record> {
        self.fake.lock().all(object).to_vec()
    }

    /// The Cases as stored.
    pub fn cases(&self) -> Vec<Record> {
        self.records("Case")
    }

    /// The comments of a Case: (body, published).
    pub fn comments(&self, case_id: &str) -> Vec<(String, bool)> {
        self.records("CaseComment")
            .iter()
            .filter(|c| c["ParentId"] == Value::String(case_id.into()))
            .map(|c| {
                (
                    c["CommentBody"].as_str().unwrap_or("").to_string(),
                    c["IsPublished"] == Value::Bool(true),
                )
            })
            .collect()
    }

    /// Ends every session now, as a timeout or a revocation would.
    pub fn expire_sessions(&self) {
        for s in self.fake.lock().sessions.values_mut() {
            s.expires_ms = 0;
        }
    }

    /// Points the org's Outbound Message at `url` (the endpoint with its secret), as an
    /// admin does in Setup; None stops them.
    pub fn set_outbound_url(&self, url: Option<String>) {
        self.fake.lock().outbound_url = url;
    }

    /// Sets the calls counted against today's allocation.
    pub fn set_api_usage(&self, used: u64) {
        self.fake.lock().api_usage = used;
    }

    pub fn organization_id(&self) -> String {
        self.fake.options.organization_id.clone()
    }

    /// A Case edited by someone in the org (not through the API client under test), as
    /// an agent's save would: the fields change, the stamps move, an Outbound Message goes.
    pub fn agent_edit(&self, case_id: &str, fields: &[(&str, &str)]) -> bool {
        let mut data = self.fake.lock();
        let now = state::now_stamp();
        let Some(case) = data.find_mut("Case", case_id) else {
            return false;
        };
        for (k, v) in fields {
            case.insert((*k).to_string(), Value::String((*v).to_string()));
        }
        case.insert("LastModifiedDate".into(), Value::String(now.clone()));
        case.insert("SystemModstamp".into(), Value::String(now));
        let case = case.clone();
        self.fake.outbound(&mut data, &case);
        true
    }
}

impl FakeSalesforce {
    /// Someone saves `field` of the Case just before the next API update of it lands,
    /// so that update meets a Case changed since its client read it.
    pub fn edit_before_next_patch(&self, case_id: &str, field: &str, value: &str) {
        self.fake.lock().edit_before_patch = Some((case_id.into(), field.into(), value.into()));
    }
}

impl state::Fake {
    /// What the Outbound Message of the org's workflow rule on Case does after a change:
    /// posts the SOAP notification with the Case's Id and SystemModstamp.
    pub(super) fn outbound(&self, data: &mut state::Data, case: &Record) {
        let Some(url) = data.outbound_url.clone() else {
            return;
        };
        data.notifications += 1;
        let text = |k: &str| {
            case.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        // Each notification has its own Id, as Salesforce's do.
        let notification = format!("04lFK{:010}AAA", data.notifications);
        let envelope = twinsync_salesforce::outbound::envelope(
            &self.options.organization_id,
            "04kFK0000000001AAA",
            &[(notification, text("Id"), text("SystemModstamp"))],
        );
        self.traffic.outbox.send(Outgoing {
            url,
            event: "Case".into(),
            headers: vec![
                ("content-type".into(), "text/xml; charset=utf-8".into()),
                ("soapaction".into(), "\"\"".into()),
                ("user-agent".into(), "Jakarta Commons-HttpClient/3.1".into()),
            ],
            payload: Value::String(envelope),
        });
    }
}

/// The REST resources twinsync and jsforce use, behind the guard; the token endpoint
/// takes no session. Any other path is Salesforce's 404 `NOT_FOUND`.
fn router(fake: Arc<state::Fake>) -> Router {
    let data = "/services/data/{version}";
    let api = Router::new()
        .route(&format!("{data}/query"), get(query::query))
        .route(&format!("{data}/query/{{locator}}"), get(query::query_more))
        .route(&format!("{data}/sobjects/{{object}}"), post(routes::create))
        .route(
            &format!("{data}/sobjects/{{object}}/{{id}}"),
            get(routes::get_record)
                .patch(routes::update)
                .delete(routes::delete),
        )
        .route(
            &format!("{data}/sobjects/{{object}}/{{id}}/{{field}}"),
            get(routes::blob),
        )
        .route_layer(middleware::from_fn_with_state(fake.clone(), guard::guard));
    Router::new()
        .merge(api)
        .route("/services/oauth2/token", post(guard::token))
        .fallback(|| async {
            guard::error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The requested resource does not exist",
            )
        })
        .with_state(fake)
}
