//! A fake Jira Cloud that follows the real REST API v3 contract for what twinsync uses:
//! the same paths, JSON shapes, error bodies (`errorMessages` + `errors`), Basic and
//! bearer auth, `nextPageToken` paging of the enhanced JQL search, a workflow whose
//! statuses change only through transitions, entity properties, multipart attachment
//! uploads that demand `X-Atlassian-Token: no-check`, dynamic webhooks with a JQL filter
//! and expiry, 429s with `Retry-After`, and signed webhook deliveries.
//!
//! JQL: the clauses twinsync writes (`updated >= "-5m"` or a date, `issue.property[k].path
//! = v`, `ORDER BY`) are read here; the rest is twinsync's trigger language (a JQL subset)
//! checked on the mapped item. Anything else is refused as Jira refuses it, with a 400.
//!
//! State is in memory: a fake lives as long as a test or a demo.

use crate::deliveries::{Outbox, Outgoing};
use crate::plumbing::{self, Faults, Received};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use twinsync_core::Filter;
use twinsync_jira::JiraError;
use twinsync_jira::mapping::{millis, timestamp, to_item};

/// The workflow: every status reachable from every other (Jira's "global" transitions),
/// as in a team-managed project. (status id, name, category key, category name)
const STATUSES: [(&str, &str, &str, &str); 3] = [
    ("10000", "To Do", "new", "To Do"),
    ("3", "In Progress", "indeterminate", "In Progress"),
    ("10001", "Done", "done", "Done"),
];
const PRIORITIES: [(&str, &str); 5] = [
    ("1", "Highest"),
    ("2", "High"),
    ("3", "Medium"),
    ("4", "Low"),
    ("5", "Lowest"),
];
/// Webhooks registered through the REST API expire after 30 days.
const WEBHOOK_TTL_MS: i64 = 30 * 24 * 3_600_000;

/// What the fake knows at start.
#[derive(Clone, Default)]
pub struct FakeOptions {
    /// Project keys that exist.
    pub projects: Vec<String>,
    /// People: email and display name. The first is the API user.
    pub accounts: Vec<(String, String)>,
    /// API tokens (Basic auth) and the email each belongs to.
    pub api_tokens: Vec<(String, String)>,
    /// OAuth 2.0 access tokens (bearer), acting as the first account.
    pub oauth_tokens: Vec<String>,
    /// Custom fields: id (`customfield_10020`), name, schema type (`string`, `option`).
    pub custom_fields: Vec<(String, String, String)>,
    /// The secret deliveries are signed with (`X-Hub-Signature`); empty: unsigned.
    pub webhook_secret: String,
    /// Every n-th request is answered 429 with `Retry-After: 1` (0: never).
    pub every_nth_429: u64,
}

/// A failure to inject into the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` seconds.
    TooManyRequests(u64),
    /// 503, as Jira answers in an incident.
    Unavailable,
}

pub use crate::plumbing::Exchange;

pub use crate::deliveries::Delivery;

#[derive(Clone)]
struct CommentData {
    id: u64,
    body: Value,
    author: String,
    properties: BTreeMap<String, Value>,
    created_ms: i64,
    updated_ms: i64,
}

#[derive(Clone)]
struct AttachmentData {
    id: u64,
    filename: String,
    mime: String,
    bytes: Vec<u8>,
    author: String,
    created_ms: i64,
}

#[derive(Clone)]
struct IssueData {
    id: u64,
    key: String,
    project: String,
    summary: String,
    description: Option<Value>,
    status: usize,
    priority: Option<usize>,
    labels: Vec<String>,
    assignee: Option<String>,
    reporter: Option<String>,
    custom: BTreeMap<String, Value>,
    properties: BTreeMap<String, Value>,
    comments: Vec<CommentData>,
    attachments: Vec<AttachmentData>,
    created_ms: i64,
    updated_ms: i64,
}

struct Hook {
    id: u64,
    url: String,
    events: Vec<String>,
    jql: String,
    expires_ms: i64,
}

#[derive(Default)]
struct Data {
    /// Project key → the last issue number.
    projects: HashMap<String, u64>,
    issues: BTreeMap<u64, IssueData>,
    seq: u64,
    /// Requests seen, for `every_nth_429`.
    hooks: Vec<Hook>,
    faults: Faults<Fault>,
    exchanges: Vec<Exchange>,
    /// Accounts: email → (account id, display name).
    accounts: BTreeMap<String, (String, String)>,
}

struct Fake {
    base: String,
    options: FakeOptions,
    data: Mutex<Data>,
    /// Webhook deliveries: sent in order, counted, kept.
    outbox: Outbox,
}

/// A running fake Jira.
pub struct FakeJira {
    pub url: String,
    fake: Arc<Fake>,
    server: tokio::task::JoinHandle<()>,
    sender: tokio::task::JoinHandle<()>,
}

impl Drop for FakeJira {
    fn drop(&mut self) {
        self.server.abort();
        self.sender.abort();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Jira's error body.
fn error(status: StatusCode, messages: &[&str], errors: Value) -> Response {
    let body = json!({ "errorMessages": messages, "errors": errors });
    (status, axum::Json(body)).into_response()
}

fn bad_request(field: &str, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, &[], json!({ field: message }))
}

fn issue_not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        &["Issue does not exist or you do not have permission to see it."],
        json!({}),
    )
}

impl Fake {
    fn lock(&self) -> MutexGuard<'_, Data> {
        // A panic elsewhere poisons the lock; the fake keeps serving what it has.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn user(&self, data: &Data, account_id: &str) -> Value {
        let found = data.accounts.iter().find(|(_, (id, _))| id == account_id);
        let (email, name) = found
            .map(|(e, (_, n))| (e.clone(), n.clone()))
            .unwrap_or_default();
        json!({
            "self": format!("{}/rest/api/3/user?accountId={account_id}", self.base),
            "accountId": account_id,
            "accountType": "atlassian",
            "emailAddress": email,
            "avatarUrls": {"48x48": format!("https://avatar.example/{account_id}/48")},
            "displayName": name,
            "active": true,
            "timeZone": "Etc/UTC"
        })
    }

    fn status(&self, index: usize) -> Value {
        let (id, name, cat, cat_name) = STATUSES[index.min(STATUSES.len() - 1)];
        let cat_id = match cat {
            "new" => 2,
            "indeterminate" => 4,
            _ => 3,
        };
        json!({
            "self": format!("{}/rest/api/3/status/{id}", self.base),
            "description": "", "iconUrl": format!("{}/images/icons/status.png", self.base),
            "name": name, "id": id,
            "statusCategory": {"self": format!("{}/rest/api/3/statuscategory/{cat_id}", self.base),
                "id": cat_id, "key": cat, "colorName": "blue-gray", "name": cat_name}
        })
    }

    fn comment(&self, data: &Data, c: &CommentData, with_properties: bool) -> Value {
        let issue = data
            .issues
            .values()
            .find(|i| i.comments.iter().any(|x| x.id == c.id))
            .map(|i| i.id)
            .unwrap_or(0);
        let mut v = json!({
            "self": format!("{}/rest/api/3/issue/{issue}/comment/{}", self.base, c.id),
            "id": c.id.to_string(),
            "author": self.user(data, &c.author),
            "body": c.body,
            "updateAuthor": self.user(data, &c.author),
            "created": timestamp(c.created_ms),
            "updated": timestamp(c.updated_ms),
            "jsdPublic": true
        });
        if with_properties {
            v["properties"] = Value::Array(
                c.properties
                    .iter()
                    .map(|(k, v)| json!({"key": k, "value": v}))
                    .collect(),
            );
        }
        v
    }

    fn attachment(&self, data: &Data, a: &AttachmentData) -> Value {
        json!({
            "self": format!("{}/rest/api/3/attachments/{}", self.base, a.id),
            "id": a.id.to_string(),
            "filename": a.filename,
            "author": self.user(data, &a.author),
            "created": timestamp(a.created_ms),
            "size": a.bytes.len(),
            "mimeType": a.mime,
            "content": format!("{}/rest/api/3/attachment/content/{}", self.base, a.id)
        })
    }

    /// An issue as `GET /rest/api/3/issue/{key}` answers, with the `fields` asked for.
    fn issue(
        &self,
        data: &Data,
        i: &IssueData,
        fields: Option<&str>,
        properties: &[&str],
    ) -> Value {
        let user = |id: &Option<String>| {
            id.as_ref()
                .map(|a| self.user(data, a))
                .unwrap_or(Value::Null)
        };
        let mut all = serde_json::Map::new();
        all.insert("summary".into(), json!(i.summary));
        all.insert(
            "description".into(),
            i.description.clone().unwrap_or(Value::Null),
        );
        all.insert("status".into(), self.status(i.status));
        all.insert(
            "priority".into(),
            i.priority
                .map(|p| {
                    let (id, name) = PRIORITIES[p];
                    json!({"self": format!("{}/rest/api/3/priority/{id}", self.base),
                        "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.base, name.to_lowercase()),
                        "name": name, "id": id})
                })
                .unwrap_or(Value::Null),
        );
        all.insert("labels".into(), json!(i.labels));
        all.insert("assignee".into(), user(&i.assignee));
        all.insert("reporter".into(), user(&i.reporter));
        all.insert("creator".into(), user(&i.reporter));
        all.insert("project".into(), json!({
            "self": format!("{}/rest/api/3/project/{}", self.base, i.project),
            "id": (i.project.bytes().map(u64::from).sum::<u64>() + 10_000).to_string(),
            "key": i.project, "name": i.project, "projectTypeKey": "software", "simplified": true,
            "avatarUrls": {"48x48": format!("{}/secure/projectavatar?pid={}", self.base, i.project)}
        }));
        all.insert("issuetype".into(), json!({
            "self": format!("{}/rest/api/3/issuetype/10002", self.base), "id": "10002",
            "description": "A small, distinct piece of work.", "iconUrl": format!("{}/images/icons/task.svg", self.base),
            "name": "Task", "subtask": false, "avatarId": 10318, "hierarchyLevel": 0
        }));
        let comments: Vec<Value> = i
            .comments
            .iter()
            .map(|c| self.comment(data, c, false))
            .collect();
        all.insert(
            "comment".into(),
            json!({
                "comments": comments,
                "self": format!("{}/rest/api/3/issue/{}/comment", self.base, i.id),
                "maxResults": i.comments.len(), "total": i.comments.len(), "startAt": 0
            }),
        );
        all.insert(
            "attachment".into(),
            Value::Array(
                i.attachments
                    .iter()
                    .map(|a| self.attachment(data, a))
                    .collect(),
            ),
        );
        all.insert("created".into(), json!(timestamp(i.created_ms)));
        all.insert("updated".into(), json!(timestamp(i.updated_ms)));
        for (id, _, _) in &self.options.custom_fields {
            let value = i.custom.get(id).cloned().unwrap_or(Value::Null);
            all.insert(id.clone(), value);
        }
        let wanted: Vec<&str> = fields
            .unwrap_or("*navigable")
            .split(',')
            .map(str::trim)
            .collect();
        let keep = |name: &str| {
            wanted.iter().any(|w| {
                *w == name
                    || *w == "*all"
                    || *w == "*navigable"
                    || (*w == "*custom" && name.starts_with("customfield_"))
            }) && !wanted.contains(&format!("-{name}").as_str())
        };
        let fields: serde_json::Map<String, Value> =
            all.into_iter().filter(|(k, _)| keep(k)).collect();
        let mut v = json!({
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": i.id.to_string(),
            "self": format!("{}/rest/api/3/issue/{}", self.base, i.id),
            "key": i.key,
            "fields": fields,
        });
        if !properties.is_empty() {
            let props: serde_json::Map<String, Value> = i
                .properties
                .iter()
                .filter(|(k, _)| properties.contains(&k.as_str()) || properties.contains(&"*all"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            v["properties"] = Value::Object(props);
        }
        v
    }

    fn names(&self) -> Value {
        let mut names = serde_json::Map::new();
        for (k, n) in [
            ("summary", "Summary"),
            ("description", "Description"),
            ("status", "Status"),
            ("priority", "Priority"),
            ("labels", "Labels"),
            ("assignee", "Assignee"),
            ("reporter", "Reporter"),
            ("comment", "Comment"),
            ("attachment", "Attachment"),
            ("updated", "Updated"),
            ("created", "Created"),
            ("project", "Project"),
            ("issuetype", "Issue Type"),
        ] {
            names.insert(k.into(), json!(n));
        }
        for (id, name, _) in &self.options.custom_fields {
            names.insert(id.clone(), json!(name));
        }
        Value::Object(names)
    }

    /// Sends `event` about `issue` to every webhook whose events and JQL filter match.
    fn emit(
        &self,
        data: &Data,
        event: &str,
        issue: &IssueData,
        comment: Option<&CommentData>,
        actor: &str,
    ) {
        let now = now_ms();
        for h in &data.hooks {
            if h.expires_ms <= now || !h.events.iter().any(|e| e == event) {
                continue;
            }
            if !matches!(jql_matches(self, data, &h.jql, issue, now), Ok(true)) {
                continue;
            }
            let mut payload = json!({
                "timestamp": now,
                "webhookEvent": event,
                "user": self.user(data, actor),
                "issue": self.issue(data, issue, Some("*all"), &[]),
                "matchedWebhookIds": [h.id],
            });
            if event.starts_with("jira:issue") {
                payload["issue_event_type_name"] = json!(if event == "jira:issue_created" {
                    "issue_created"
                } else {
                    "issue_generic"
                });
            }
            if let Some(c) = comment {
                payload["comment"] = self.comment(data, c, false);
            }
            // Jira's headers (docs: "Webhooks", secure admin webhooks).
            let mut headers = vec![
                ("content-type".into(), "application/json".into()),
                ("user-agent".into(), "Atlassian Webhook HTTP Client".into()),
                (
                    "x-atlassian-webhook-identifier".into(),
                    uuid::Uuid::new_v4().to_string(),
                ),
                ("x-atlassian-webhook-retry".into(), "0".into()),
            ];
            if !self.options.webhook_secret.is_empty() {
                let body = payload.to_string();
                headers.push((
                    "x-hub-signature".into(),
                    twinsync_jira::webhook::sign(&self.options.webhook_secret, body.as_bytes()),
                ));
            }
            self.outbox.send(Outgoing {
                url: h.url.clone(),
                event: event.to_string(),
                headers,
                payload,
            });
        }
    }
}

/// The email of the caller, from Basic or bearer auth.
fn caller(fake: &Fake, headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return fake
            .options
            .oauth_tokens
            .iter()
            .any(|t| t == token.trim())
            .then(|| {
                fake.options
                    .accounts
                    .first()
                    .map(|(e, _)| e.clone())
                    .unwrap_or_default()
            });
    }
    let raw = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()?;
    let (email, token) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    fake.options
        .api_tokens
        .iter()
        .any(|(t, e)| t == token && e == email)
        .then(|| email.to_string())
}

fn account_of(data: &Data, email: &str) -> String {
    data.accounts
        .get(email)
        .map(|(id, _)| id.clone())
        .unwrap_or_default()
}

/// Auth, injected faults and the recording of every exchange.
async fn guard(
    State(fake): State<Arc<Fake>>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let Received {
        parts,
        body: bytes,
        mut exchange,
    } = Received::read(&matched, request, 64 << 20).await;
    let who = caller(&fake, &parts.headers).unwrap_or_default();
    let fault = fake
        .lock()
        .faults
        .next(fake.options.every_nth_429, || Fault::TooManyRequests(1));
    let mut response = match fault {
        Some(Fault::TooManyRequests(s)) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                &["Rate limit exceeded."],
                json!({}),
            );
            let h = r.headers_mut();
            h.insert("retry-after", HeaderValue::from(s));
            h.insert("x-ratelimit-limit", HeaderValue::from(100));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0));
            h.insert("x-ratelimit-nearlimit", HeaderValue::from_static("true"));
            r
        }
        Some(Fault::Unavailable) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            &["Service Unavailable"],
            json!({}),
        ),
        None if who.is_empty() => error(
            StatusCode::UNAUTHORIZED,
            &["You are not authenticated. Authentication required to perform this operation."],
            json!({}),
        ),
        None => {
            let mut parts = parts;
            parts.headers.insert(
                "x-fake-caller",
                HeaderValue::from_str(&who).unwrap_or(HeaderValue::from_static("")),
            );
            next.run(Received::into_request(parts, bytes)).await
        }
    };
    response
        .headers_mut()
        .insert("x-arequestid", HeaderValue::from_static("fake-jira"));
    exchange.caller = who;
    let (exchange, response) = plumbing::answered(exchange, response, 64 << 20).await;
    fake.lock().exchanges.push(exchange);
    response
}

fn caller_account(data: &Data, headers: &HeaderMap) -> String {
    let email = headers
        .get("x-fake-caller")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    account_of(data, email)
}

fn find_issue<'a>(data: &'a Data, key: &str) -> Option<&'a IssueData> {
    match key.parse::<u64>() {
        Ok(id) => data.issues.get(&id),
        Err(_) => data.issues.values().find(|i| i.key == key),
    }
}

fn find_issue_id(data: &Data, key: &str) -> Option<u64> {
    find_issue(data, key).map(|i| i.id)
}

/// Splits `s` at top-level occurrences of ` AND ` (outside quotes and parentheses).
fn split_and(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if !quoted
                && depth == 0
                && s[i..].len() >= 5
                && s[i..i + 5].eq_ignore_ascii_case(" and ") =>
            {
                parts.push(s[start..i].trim().to_string());
                start = i + 5;
                i += 5;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(s[start..].trim().to_string());
    parts
}

fn unquote(s: &str) -> String {
    let t = s.trim();
    t.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .map(|x| x.replace("\\\"", "\"").replace("\\\\", "\\"))
        .unwrap_or_else(|| t.to_string())
}

/// Whether `issue` matches the where-part of `jql`.
fn jql_matches(
    fake: &Fake,
    data: &Data,
    jql: &str,
    issue: &IssueData,
    now: i64,
) -> Result<bool, String> {
    let mut rest = Vec::new();
    for clause in split_and(jql) {
        let lower = clause.to_ascii_lowercase();
        if lower.starts_with("updated") {
            let value = clause
                .split_once(">=")
                .map(|(_, v)| unquote(v))
                .ok_or_else(|| {
                    format!(
                        "Error in the JQL Query: only updated >= is supported here, not '{clause}'."
                    )
                })?;
            let since = if let Some(m) = value.strip_prefix('-').and_then(|v| v.strip_suffix('m')) {
                let minutes: i64 = m
                    .parse()
                    .map_err(|_| format!("Date value '{value}' for field 'updated' is invalid."))?;
                now - minutes * 60_000
            } else {
                let normalized = value.replace('/', "-");
                chrono::NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M")
                    .map(|t| t.and_utc().timestamp_millis())
                    .map_err(|_| format!("Date value '{value}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."))?
            };
            if issue.updated_ms < since {
                return Ok(false);
            }
        } else if let Some(p) = lower.strip_prefix("issue.property[") {
            let (key, after) = p
                .split_once(']')
                .ok_or("Error in the JQL Query: bad property clause.")?;
            let start = clause.len() - after.len();
            let (path, value) = clause[start..]
                .split_once('=')
                .ok_or("Error in the JQL Query: only = is supported on properties here.")?;
            let path = path.trim().trim_start_matches('.');
            let found = issue
                .properties
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.pointer(&format!("/{}", path.replace('.', "/"))).cloned());
            if found.flatten().and_then(|v| v.as_str().map(str::to_string)) != Some(unquote(value))
            {
                return Ok(false);
            }
        } else {
            rest.push(clause);
        }
    }
    if rest.is_empty() {
        return Ok(true);
    }
    let filter =
        Filter::parse(&rest.join(" AND ")).map_err(|e| format!("Error in the JQL Query: {e}"))?;
    let item = to_item(&fake.base, &fake.issue(data, issue, Some("*all"), &[]), &[]);
    Ok(filter.matches(&item))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SearchRequest {
    jql: String,
    next_page_token: Option<String>,
    max_results: Option<usize>,
    fields: Vec<String>,
    properties: Vec<String>,
    expand: Option<String>,
}

fn search_answer(fake: &Fake, request: SearchRequest) -> Response {
    let data = fake.lock();
    let now = now_ms();
    let (filter, order) = match request.jql.to_ascii_lowercase().find(" order by ") {
        Some(at) => (
            &request.jql[..at],
            request.jql[at + 10..].trim().to_string(),
        ),
        None => (request.jql.as_str(), String::new()),
    };
    if filter.trim().is_empty() {
        // The enhanced search refuses unbounded queries.
        return bad_request(
            "jql",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        );
    }
    let mut found = Vec::new();
    for issue in data.issues.values() {
        match jql_matches(fake, &data, filter, issue, now) {
            Ok(true) => found.push(issue),
            Ok(false) => {}
            Err(message) => return error(StatusCode::BAD_REQUEST, &[&message], json!({})),
        }
    }
    let order = order.to_ascii_lowercase();
    if order.starts_with("updated") {
        found.sort_by_key(|i| (i.updated_ms, i.id));
        if order.starts_with("updated desc") {
            found.reverse();
        }
    } else if order.contains("desc") {
        found.reverse();
    }
    let offset: usize = request
        .next_page_token
        .as_deref()
        .and_then(|t| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        .unwrap_or(0);
    let max = request.max_results.unwrap_or(50).clamp(1, 5000);
    let fields = if request.fields.is_empty() {
        "id".to_string()
    } else {
        request.fields.join(",")
    };
    let props: Vec<&str> = request.properties.iter().map(String::as_str).collect();
    let page: Vec<Value> = found
        .iter()
        .skip(offset)
        .take(max)
        .map(|i| fake.issue(&data, i, Some(&fields), &props))
        .collect();
    let last = offset + page.len() >= found.len();
    let mut body = json!({ "issues": page, "isLast": last });
    if !last {
        body["nextPageToken"] = json!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!("offset:{}", offset + max))
        );
    }
    if request
        .expand
        .as_deref()
        .is_some_and(|e| e.contains("names"))
    {
        body["names"] = fake.names();
    }
    axum::Json(body).into_response()
}

async fn search_post(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    match serde_json::from_slice::<SearchRequest>(&body) {
        Ok(r) => search_answer(&fake, r),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            &[&format!("Invalid request payload: {e}")],
            json!({}),
        ),
    }
}

async fn search_get(
    State(fake): State<Arc<Fake>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let list = |k: &str| {
        q.get(k)
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default()
    };
    search_answer(
        &fake,
        SearchRequest {
            jql: q.get("jql").cloned().unwrap_or_default(),
            next_page_token: q.get("nextPageToken").cloned(),
            max_results: q.get("maxResults").and_then(|v| v.parse().ok()),
            fields: list("fields"),
            properties: list("properties"),
            expand: q.get("expand").cloned(),
        },
    )
}

/// Applies `fields` of a create or an edit to `issue`; an error is Jira's 400.
fn apply_fields(
    fake: &Fake,
    data: &Data,
    issue: &mut IssueData,
    fields: &serde_json::Map<String, Value>,
) -> Result<(), (String, String)> {
    for (name, value) in fields {
        match name.as_str() {
            "project" | "issuetype" => {}
            "summary" => match value.as_str() {
                Some(s) if !s.trim().is_empty() && s.len() <= 255 => issue.summary = s.to_string(),
                Some(s) if s.len() > 255 => {
                    return Err(refuse(
                        "summary",
                        "Summary must be less than 255 characters.",
                    ));
                }
                _ => {
                    return Err(refuse(
                        "summary",
                        "You must specify a summary of the issue.",
                    ));
                }
            },
            "description" => match value {
                Value::Null => issue.description = None,
                Value::Object(o)
                    if o.get("type") == Some(&json!("doc"))
                        && o.get("version") == Some(&json!(1)) =>
                {
                    issue.description = Some(value.clone())
                }
                _ => {
                    return Err(refuse(
                        "description",
                        "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
                    ));
                }
            },
            "labels" => {
                let labels: Option<Vec<String>> = value.as_array().map(|l| {
                    l.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                });
                match labels {
                    Some(l) if l.iter().all(|x| !x.contains(' ')) => issue.labels = l,
                    _ => return Err(refuse("labels", "The label must not contain spaces.")),
                }
            }
            "priority" => match value {
                Value::Null => issue.priority = None,
                v => {
                    let name = v["name"].as_str();
                    let id = v["id"].as_str();
                    match PRIORITIES
                        .iter()
                        .position(|(i, n)| Some(*n) == name || Some(*i) == id)
                    {
                        Some(p) => issue.priority = Some(p),
                        None => {
                            return Err(refuse(
                                "priority",
                                format!("The priority selected is invalid: {v}"),
                            ));
                        }
                    }
                }
            },
            "assignee" | "reporter" => {
                let account = match value {
                    Value::Null => None,
                    v => match v["accountId"].as_str() {
                        Some(id) if data.accounts.values().any(|(a, _)| a == id) => {
                            Some(id.to_string())
                        }
                        _ => {
                            return Err(refuse(
                                name,
                                format!(
                                    "User '{}' does not exist.",
                                    v["accountId"].as_str().unwrap_or("")
                                ),
                            ));
                        }
                    },
                };
                if name == "assignee" {
                    issue.assignee = account;
                } else {
                    issue.reporter = account;
                }
            }
            "status" => {
                return Err(refuse(
                    "status",
                    "Field 'status' cannot be set. It is not on the appropriate screen, or unknown.",
                ));
            }
            custom if custom.starts_with("customfield_") => {
                let Some((_, _, kind)) = fake
                    .options
                    .custom_fields
                    .iter()
                    .find(|(id, _, _)| id == custom)
                else {
                    return Err(refuse(
                        custom,
                        format!(
                            "Field '{custom}' cannot be set. It is not on the appropriate screen, or unknown."
                        ),
                    ));
                };
                match (kind.as_str(), value) {
                    (_, Value::Null) => {
                        issue.custom.remove(custom);
                    }
                    ("option", Value::Object(o))
                        if o.get("value").is_some_and(Value::is_string) =>
                    {
                        issue.custom.insert(custom.to_string(), json!({"self": format!("{}/rest/api/3/customFieldOption/1", fake.base), "value": o["value"], "id": "10100"}));
                    }
                    ("option", _) => {
                        return Err(refuse(
                            custom,
                            "Specify a valid 'id' or 'name' for the option",
                        ));
                    }
                    (_, v) => {
                        issue.custom.insert(custom.to_string(), v.clone());
                    }
                }
            }
            other => {
                return Err(refuse(
                    other,
                    format!(
                        "Field '{other}' cannot be set. It is not on the appropriate screen, or unknown."
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn refuse(field: &str, message: impl Into<String>) -> (String, String) {
    (field.to_string(), message.into())
}

fn properties_of(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|p| Some((p["key"].as_str()?.to_string(), p["value"].clone())))
                .collect()
        })
        .unwrap_or_default()
}

async fn create_issue(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            &["Invalid request payload. Refer to the REST API documentation and try again."],
            json!({}),
        );
    };
    let mut data = fake.lock();
    let fields = request["fields"].as_object().cloned().unwrap_or_default();
    let project = fields
        .get("project")
        .and_then(|p| p["key"].as_str().or(p["id"].as_str()))
        .unwrap_or("")
        .to_string();
    if !data.projects.contains_key(&project) {
        return bad_request("project", "valid project is required");
    }
    if fields
        .get("issuetype")
        .and_then(|t| t["name"].as_str().or(t["id"].as_str()))
        .is_none()
    {
        return bad_request("issuetype", "Specify an issue type");
    }
    if !fields.contains_key("summary") {
        return bad_request("summary", "You must specify a summary of the issue.");
    }
    data.seq += 1;
    let id = 10_000 + data.seq;
    let number = data.projects.get(&project).copied().unwrap_or(0) + 1;
    let now = now_ms();
    let me = caller_account(&data, &headers);
    let mut issue = IssueData {
        id,
        key: format!("{project}-{number}"),
        project: project.clone(),
        summary: String::new(),
        description: None,
        status: 0,
        priority: Some(2),
        labels: Vec::new(),
        assignee: None,
        reporter: Some(me.clone()),
        custom: BTreeMap::new(),
        properties: properties_of(&request["properties"]),
        comments: Vec::new(),
        attachments: Vec::new(),
        created_ms: now,
        updated_ms: now,
    };
    if let Err((field, message)) = apply_fields(&fake, &data, &mut issue, &fields) {
        return bad_request(&field, &message);
    }
    data.projects.insert(project, number);
    let answer = json!({"id": id.to_string(), "key": issue.key, "self": format!("{}/rest/api/3/issue/{id}", fake.base)});
    fake.emit(&data, "jira:issue_created", &issue, None, &me);
    data.issues.insert(id, issue);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn get_issue(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let Some(issue) = find_issue(&data, &key) else {
        return issue_not_found();
    };
    let props: Vec<&str> = q
        .get("properties")
        .map(|p| p.split(',').collect())
        .unwrap_or_default();
    let mut v = fake.issue(&data, issue, q.get("fields").map(String::as_str), &props);
    if q.get("expand").is_some_and(|e| e.contains("names")) {
        v["names"] = fake.names();
    }
    axum::Json(v).into_response()
}

async fn edit_issue(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            &["Invalid request payload. Refer to the REST API documentation and try again."],
            json!({}),
        );
    };
    let mut data = fake.lock();
    let Some(id) = find_issue_id(&data, &key) else {
        return issue_not_found();
    };
    let Some(mut issue) = data.issues.get(&id).cloned() else {
        return issue_not_found();
    };
    let fields = request["fields"].as_object().cloned().unwrap_or_default();
    if let Err((field, message)) = apply_fields(&fake, &data, &mut issue, &fields) {
        return bad_request(&field, &message);
    }
    // Labels may also come as `update` operations.
    if let Some(ops) = request["update"]["labels"].as_array() {
        for op in ops {
            if let Some(l) = op["add"].as_str()
                && !issue.labels.iter().any(|x| x == l)
            {
                issue.labels.push(l.to_string());
            }
            if let Some(l) = op["remove"].as_str() {
                issue.labels.retain(|x| x != l);
            }
        }
    }
    issue.updated_ms = now_ms().max(issue.updated_ms + 1);
    let me = caller_account(&data, &headers);
    fake.emit(&data, "jira:issue_updated", &issue, None, &me);
    data.issues.insert(id, issue);
    StatusCode::NO_CONTENT.into_response()
}

fn transitions_of(fake: &Fake, current: usize) -> Vec<Value> {
    STATUSES
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != current)
        .map(|(i, (_, name, _, _))| {
            json!({
                "id": ((i + 1) * 10 + 1).to_string(),
                "name": name,
                "to": fake.status(i),
                "hasScreen": false, "isGlobal": true, "isInitial": false,
                "isAvailable": true, "isConditional": false, "isLooped": false
            })
        })
        .collect()
}

async fn get_transitions(State(fake): State<Arc<Fake>>, Path(key): Path<String>) -> Response {
    let data = fake.lock();
    let Some(issue) = find_issue(&data, &key) else {
        return issue_not_found();
    };
    axum::Json(json!({"expand": "transitions", "transitions": transitions_of(&fake, issue.status)}))
        .into_response()
}

async fn do_transition(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut data = fake.lock();
    let Some(id) = find_issue_id(&data, &key) else {
        return issue_not_found();
    };
    let Some(mut issue) = data.issues.get(&id).cloned() else {
        return issue_not_found();
    };
    let wanted = request["transition"]["id"].as_str().unwrap_or("");
    let target = STATUSES
        .iter()
        .enumerate()
        .position(|(i, _)| i != issue.status && ((i + 1) * 10 + 1).to_string() == wanted);
    let Some(target) = target else {
        return bad_request(
            "transition",
            &format!("Transition id '{wanted}' is not valid for this issue."),
        );
    };
    issue.status = target;
    issue.updated_ms = now_ms().max(issue.updated_ms + 1);
    let me = caller_account(&data, &headers);
    fake.emit(&data, "jira:issue_updated", &issue, None, &me);
    data.issues.insert(id, issue);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_comments(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let Some(issue) = find_issue(&data, &key) else {
        return issue_not_found();
    };
    let start: usize = q.get("startAt").and_then(|v| v.parse().ok()).unwrap_or(0);
    let max: usize = q
        .get("maxResults")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
        .clamp(1, 5000);
    let props = q.get("expand").is_some_and(|e| e.contains("properties"));
    let page: Vec<Value> = issue
        .comments
        .iter()
        .skip(start)
        .take(max)
        .map(|c| fake.comment(&data, c, props))
        .collect();
    axum::Json(json!({"startAt": start, "maxResults": max, "total": issue.comments.len(), "comments": page})).into_response()
}

fn adf_body(request: &Value) -> Option<Value> {
    let b = &request["body"];
    (b["type"] == "doc" && b["version"] == 1 && b["content"].is_array()).then(|| b.clone())
}

async fn add_comment(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(doc) = adf_body(&request) else {
        return bad_request("comment", "Comment body can not be empty!");
    };
    let mut data = fake.lock();
    let Some(id) = find_issue_id(&data, &key) else {
        return issue_not_found();
    };
    data.seq += 1;
    let now = now_ms();
    let comment = CommentData {
        id: 20_000 + data.seq,
        body: doc,
        author: caller_account(&data, &headers),
        properties: properties_of(&request["properties"]),
        created_ms: now,
        updated_ms: now,
    };
    let Some(mut issue) = data.issues.get(&id).cloned() else {
        return issue_not_found();
    };
    issue.comments.push(comment.clone());
    issue.updated_ms = now.max(issue.updated_ms + 1);
    data.issues.insert(id, issue.clone());
    let answer = fake.comment(&data, &comment, false);
    fake.emit(
        &data,
        "comment_created",
        &issue,
        Some(&comment),
        &comment.author,
    );
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn edit_comment(
    State(fake): State<Arc<Fake>>,
    Path((key, comment_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(doc) = adf_body(&request) else {
        return bad_request("comment", "Comment body can not be empty!");
    };
    let mut data = fake.lock();
    let Some(id) = find_issue_id(&data, &key) else {
        return issue_not_found();
    };
    let Some(mut issue) = data.issues.get(&id).cloned() else {
        return issue_not_found();
    };
    let now = now_ms();
    let Some(c) = issue
        .comments
        .iter_mut()
        .find(|c| c.id.to_string() == comment_id)
    else {
        return error(
            StatusCode::NOT_FOUND,
            &["Can not find a comment for the id: ".to_string().as_str()],
            json!({}),
        );
    };
    c.body = doc;
    c.updated_ms = now;
    let comment = c.clone();
    issue.updated_ms = now.max(issue.updated_ms + 1);
    data.issues.insert(id, issue.clone());
    let answer = fake.comment(&data, &comment, false);
    fake.emit(
        &data,
        "comment_updated",
        &issue,
        Some(&comment),
        &comment.author,
    );
    axum::Json(answer).into_response()
}

async fn add_attachments(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    if headers
        .get("x-atlassian-token")
        .and_then(|v| v.to_str().ok())
        != Some("no-check")
    {
        return error(StatusCode::FORBIDDEN, &["XSRF check failed"], json!({}));
    }
    let mut files = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().unwrap_or("attachment").to_string();
        let mime = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_string();
        match field.bytes().await {
            Ok(b) => files.push((filename, mime, b.to_vec())),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &[&format!("Could not read the upload: {e}")],
                    json!({}),
                );
            }
        }
    }
    let mut data = fake.lock();
    let Some(id) = find_issue_id(&data, &key) else {
        return issue_not_found();
    };
    if files.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            &["No attachments were found in the request."],
            json!({}),
        );
    }
    let me = caller_account(&data, &headers);
    let now = now_ms();
    let mut made = Vec::new();
    for (filename, mime, bytes) in files {
        data.seq += 1;
        made.push(AttachmentData {
            id: 30_000 + data.seq,
            filename,
            mime,
            bytes,
            author: me.clone(),
            created_ms: now,
        });
    }
    let Some(mut issue) = data.issues.get(&id).cloned() else {
        return issue_not_found();
    };
    issue.attachments.extend(made.iter().cloned());
    issue.updated_ms = now.max(issue.updated_ms + 1);
    data.issues.insert(id, issue.clone());
    let answer: Vec<Value> = made.iter().map(|a| fake.attachment(&data, a)).collect();
    fake.emit(&data, "jira:issue_updated", &issue, None, &me);
    axum::Json(Value::Array(answer)).into_response()
}

async fn attachment_content(State(fake): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    let data = fake.lock();
    let found = data
        .issues
        .values()
        .flat_map(|i| i.attachments.iter())
        .find(|a| a.id.to_string() == id);
    match found {
        Some(a) => ([("content-type", a.mime.clone())], a.bytes.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &["The attachment does not exist."],
            json!({}),
        ),
    }
}

async fn user_search(
    State(fake): State<Arc<Fake>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let query = q.get("query").map(|s| s.to_lowercase()).unwrap_or_default();
    if query.is_empty() {
        return bad_request(
            "query",
            "One of 'query' or 'accountId' query parameters must be provided.",
        );
    }
    let found: Vec<Value> = data
        .accounts
        .iter()
        .filter(|(email, (_, name))| {
            email.to_lowercase().starts_with(&query) || name.to_lowercase().contains(&query)
        })
        .map(|(_, (id, _))| fake.user(&data, id))
        .collect();
    axum::Json(Value::Array(found)).into_response()
}

async fn myself(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let data = fake.lock();
    let me = caller_account(&data, &headers);
    axum::Json(fake.user(&data, &me)).into_response()
}

async fn list_fields(State(fake): State<Arc<Fake>>) -> Response {
    let mut out = vec![
        json!({"id": "summary", "key": "summary", "name": "Summary", "custom": false, "orderable": true, "navigable": true, "searchable": true, "clauseNames": ["summary"], "schema": {"type": "string", "system": "summary"}}),
        json!({"id": "labels", "key": "labels", "name": "Labels", "custom": false, "orderable": true, "navigable": true, "searchable": true, "clauseNames": ["labels"], "schema": {"type": "array", "items": "string", "system": "labels"}}),
    ];
    for (id, name, kind) in &fake.options.custom_fields {
        let n = id.trim_start_matches("customfield_");
        out.push(json!({"id": id, "key": id, "name": name, "custom": true, "orderable": true, "navigable": true, "searchable": true,
            "clauseNames": [format!("cf[{n}]"), name],
            "schema": {"type": kind, "custom": if kind == "option" { "com.atlassian.jira.plugin.system.customfieldtypes:select" } else { "com.atlassian.jira.plugin.system.customfieldtypes:textfield" }, "customId": n.parse::<u64>().unwrap_or(0)}}));
    }
    axum::Json(Value::Array(out)).into_response()
}

async fn list_webhooks(State(fake): State<Arc<Fake>>) -> Response {
    let data = fake.lock();
    let values: Vec<Value> = data
        .hooks
        .iter()
        .map(|h| json!({"id": h.id, "jqlFilter": h.jql, "events": h.events, "expirationDate": timestamp(h.expires_ms), "url": h.url}))
        .collect();
    axum::Json(json!({"maxResults": 100, "startAt": 0, "total": values.len(), "isLast": true, "values": values})).into_response()
}

async fn register_webhooks(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(url) = request["url"].as_str() else {
        return error(StatusCode::BAD_REQUEST, &["url is required"], json!({}));
    };
    let mut data = fake.lock();
    let mut results = Vec::new();
    for w in request["webhooks"].as_array().cloned().unwrap_or_default() {
        let events: Vec<String> = w["events"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let jql = w["jqlFilter"].as_str().unwrap_or("").to_string();
        if events.is_empty() || jql.is_empty() {
            results.push(json!({"errors": ["Webhook must have events and a jqlFilter."]}));
            continue;
        }
        data.seq += 1;
        let id = data.seq;
        data.hooks.push(Hook {
            id,
            url: url.to_string(),
            events,
            jql,
            expires_ms: now_ms() + WEBHOOK_TTL_MS,
        });
        results.push(json!({"createdWebhookId": id}));
    }
    axum::Json(json!({"webhookRegistrationResult": results})).into_response()
}

async fn refresh_webhooks(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let ids: Vec<u64> = request["webhookIds"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let mut data = fake.lock();
    let expires = now_ms() + WEBHOOK_TTL_MS;
    for h in data.hooks.iter_mut().filter(|h| ids.contains(&h.id)) {
        h.expires_ms = expires;
    }
    axum::Json(json!({"expirationDate": timestamp(expires)})).into_response()
}

impl FakeJira {
    /// Starts on `addr` (`127.0.0.1:0` for any port).
    pub async fn start(addr: &str, options: FakeOptions) -> Result<FakeJira, JiraError> {
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| JiraError::Listen {
                    addr: addr.into(),
                    message: e.to_string(),
                })?;
        let local = listener.local_addr().map_err(|e| JiraError::Listen {
            addr: addr.into(),
            message: e.to_string(),
        })?;
        let base = format!("http://{local}");
        let (outbox, sender) = Outbox::start("Jira");
        let mut data = Data::default();
        for p in &options.projects {
            data.projects.insert(p.clone(), 0);
        }
        for (n, (email, name)) in options.accounts.iter().enumerate() {
            data.accounts.insert(
                email.clone(),
                (format!("5b10ac8d82e05b22cc7d{n:04}"), name.clone()),
            );
        }
        let fake = Arc::new(Fake {
            base: base.clone(),
            options,
            data: Mutex::new(data),
            outbox,
        });
        let app = Router::new()
            .route("/rest/api/3/issue", post(create_issue))
            .route(
                "/rest/api/3/issue/{issueIdOrKey}",
                get(get_issue).put(edit_issue),
            )
            .route(
                "/rest/api/3/issue/{issueIdOrKey}/transitions",
                get(get_transitions).post(do_transition),
            )
            .route(
                "/rest/api/3/issue/{issueIdOrKey}/comment",
                get(list_comments).post(add_comment),
            )
            .route(
                "/rest/api/3/issue/{issueIdOrKey}/comment/{id}",
                put(edit_comment),
            )
            .route(
                "/rest/api/3/issue/{issueIdOrKey}/attachments",
                post(add_attachments),
            )
            .route(
                "/rest/api/3/attachment/content/{id}",
                get(attachment_content),
            )
            .route("/rest/api/3/search/jql", get(search_get).post(search_post))
            .route("/rest/api/3/user/search", get(user_search))
            .route("/rest/api/3/myself", get(myself))
            .route("/rest/api/3/field", get(list_fields))
            .route(
                "/rest/api/3/webhook",
                get(list_webhooks).post(register_webhooks),
            )
            .route("/rest/api/3/webhook/refresh", put(refresh_webhooks))
            .route_layer(middleware::from_fn_with_state(fake.clone(), guard))
            .fallback(|| async {
                error(
                    StatusCode::NOT_FOUND,
                    &["null for uri: not found"],
                    json!({}),
                )
            })
            .with_state(fake.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake Jira stopped");
            }
        });
        Ok(FakeJira {
            url: base,
            fake,
            server,
            sender,
        })
    }

    /// Makes the next requests fail, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.fake.lock().faults.inject(faults);
    }

    /// Every request so far and its answer.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.fake.lock().exchanges.clone()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.fake.outbox.made()
    }

    /// The counts of webhook deliveries, for waiting until none is on its way.
    pub fn webhooks(&self) -> Arc<crate::deliveries::Deliveries> {
        self.fake.outbox.counts()
    }

    /// Issue count of a project.
    pub fn issue_count(&self, project: &str) -> usize {
        self.fake
            .lock()
            .issues
            .values()
            .filter(|i| i.project == project)
            .count()
    }

    /// The origin property of every issue of a project, for duplicate counts.
    pub fn origins(&self, project: &str) -> Vec<Option<String>> {
        self.fake
            .lock()
            .issues
            .values()
            .filter(|i| i.project == project)
            .map(|i| {
                i.properties
                    .get(twinsync_jira::mapping::ORIGIN_PROPERTY)
                    .and_then(|v| v["origin"].as_str().map(str::to_string))
            })
            .collect()
    }

    /// Makes an issue's `updated` look older (a late webhook, an old item).
    pub fn backdate(&self, key: &str, updated: &str) {
        let mut data = self.fake.lock();
        if let Some(id) = find_issue_id(&data, key)
            && let Some(i) = data.issues.get_mut(&id)
        {
            i.updated_ms = millis(updated);
        }
    }
}
