//! A fake GitHub that follows the real REST contract for what twinsync uses: the same
//! paths, JSON shapes (every property the published OpenAPI description marks required),
//! `Link` pagination, error bodies, rate-limit headers, 429s and secondary limits, app
//! installation tokens (RS256 JWTs checked with the app's public key), and signed webhook
//! deliveries. The contract tests check its answers against `@octokit/openapi`.
//!
//! State is in memory: a fake lives as long as a test or a demo.

use crate::deliveries::{Outbox, Outgoing};
use crate::plumbing::{self, Faults, Received};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use twinsync_github::GithubError;
use twinsync_github::auth::AppClaims;
use twinsync_github::mapping::{millis, timestamp};

const DOCS: &str = "https://docs.github.com/rest";

/// What the fake knows at start.
#[derive(Clone, Default)]
pub struct FakeOptions {
    /// Personal access tokens and the login each belongs to.
    pub tokens: Vec<(String, String)>,
    /// A GitHub App: id, installation id, and the PEM of its public key.
    pub app: Option<(u64, u64, String)>,
    /// Repositories (`owner/name`) that exist.
    pub repos: Vec<String>,
    /// Requests per hour per token before 403 "API rate limit exceeded" (0: 5,000).
    pub rate_limit: u32,
    /// How long the search index lags behind writes, as on GitHub.
    pub search_lag_ms: i64,
    /// Installation tokens expire after this long (0: one hour, as on GitHub).
    pub installation_token_ttl_ms: i64,
    /// Every n-th request is answered 429 with `Retry-After: 1` (0: never), so a whole run
    /// meets rate limits, not just its start.
    pub every_nth_429: u64,
}

/// A failure to inject into the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 with `Retry-After` seconds.
    TooManyRequests(u64),
    /// 403 "secondary rate limit" with `Retry-After` seconds.
    SecondaryLimit(u64),
    /// 502, as GitHub's front end sometimes answers.
    BadGateway,
}

pub use crate::plumbing::Exchange;

pub use crate::deliveries::Delivery;

#[derive(Clone)]
struct IssueData {
    id: u64,
    number: u64,
    title: String,
    body: Option<String>,
    state: String,
    state_reason: Option<String>,
    labels: Vec<String>,
    assignees: Vec<String>,
    user: String,
    milestone: Option<u64>,
    comments: u64,
    created_ms: i64,
    updated_ms: i64,
    closed_ms: Option<i64>,
    pull_request: bool,
}

#[derive(Clone)]
struct CommentData {
    id: u64,
    number: u64,
    body: String,
    user: String,
    created_ms: i64,
    updated_ms: i64,
}

#[derive(Default)]
struct RepoData {
    id: u64,
    issues: BTreeMap<u64, IssueData>,
    comments: BTreeMap<u64, CommentData>,
    milestones: Vec<(u64, String)>,
}

struct Hook {
    id: u64,
    repo: String,
    url: String,
    secret: String,
    events: Vec<String>,
}

#[derive(Default)]
struct Data {
    repos: HashMap<String, RepoData>,
    seq: u64,
    /// Requests seen, for `every_nth_429`.
    hooks: Vec<Hook>,
    faults: Faults<Fault>,
    /// Requests used per token in the current hour, and when that hour ends (s).
    used: HashMap<String, (u32, i64)>,
    installation_tokens: HashMap<String, i64>,
    exchanges: Vec<Exchange>,
}

struct Fake {
    base: String,
    options: FakeOptions,
    data: Mutex<Data>,
    /// Webhook deliveries: sent in order, counted, kept.
    outbox: Outbox,
}

/// A running fake GitHub.
pub struct FakeGithub {
    pub url: String,
    fake: Arc<Fake>,
    server: tokio::task::JoinHandle<()>,
    sender: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGithub {
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

fn ts(ms: i64) -> String {
    timestamp(ms)
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": DOCS,
        "status": status.as_u16().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

fn invalid(resource: &str, field: &str, code: &str) -> Response {
    let body = json!({
        "message": "Validation Failed",
        "errors": [{"resource": resource, "field": field, "code": code}],
        "documentation_url": DOCS,
        "status": "422",
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

impl Fake {
    fn lock(&self) -> MutexGuard<'_, Data> {
        // A panic elsewhere poisons the lock; the fake keeps serving what it has.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn user(&self, login: &str) -> Value {
        let id = login
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
            % 1_000_000;
        let u = format!("{}/users/{login}", self.base);
        let bot = login.ends_with("[bot]");
        json!({
            "login": login, "id": id, "node_id": format!("U_{id}"),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "gravatar_id": "", "url": u, "html_url": format!("https://github.com/{login}"),
            "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
            "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
            "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
            "received_events_url": format!("{u}/received_events"),
            "type": if bot { "Bot" } else { "User" }, "site_admin": false, "user_view_type": "public"
        })
    }

    fn repository(&self, full: &str, repo: &RepoData) -> Value {
        let (owner, name) = full.split_once('/').unwrap_or((full, full));
        json!({
            "id": repo.id, "node_id": format!("R_{}", repo.id), "name": name, "full_name": full,
            "private": false, "owner": self.user(owner),
            "html_url": format!("https://github.com/{full}"),
            "url": format!("{}/repos/{full}", self.base),
            "default_branch": "main", "has_issues": true
        })
    }

    fn label(&self, repo: &str, name: &str) -> Value {
        let id = name
            .bytes()
            .fold(3u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
            % 1_000_000;
        json!({
            "id": id, "node_id": format!("LA_{id}"),
            "url": format!("{}/repos/{repo}/labels/{name}", self.base),
            "name": name, "description": null, "color": "ededed", "default": false
        })
    }

    fn issue(&self, repo: &str, data: &RepoData, i: &IssueData) -> Value {
        let url = format!("{}/repos/{repo}/issues/{}", self.base, i.number);
        let milestone = i
            .milestone
            .and_then(|n| data.milestones.iter().find(|(m, _)| *m == n))
            .map(|(n, title)| self.milestone(repo, *n, title))
            .unwrap_or(Value::Null);
        let assignees: Vec<Value> = i.assignees.iter().map(|a| self.user(a)).collect();
        let mut v = json!({
            "id": i.id, "node_id": format!("I_{}", i.id), "url": url,
            "repository_url": format!("{}/repos/{repo}", self.base),
            "labels_url": format!("{url}/labels{{/name}}"), "comments_url": format!("{url}/comments"),
            "events_url": format!("{url}/events"), "timeline_url": format!("{url}/timeline"),
            "html_url": format!("https://github.com/{repo}/{}/{}", if i.pull_request { "pull" } else { "issues" }, i.number),
            "number": i.number, "state": i.state, "state_reason": i.state_reason,
            "title": i.title, "body": i.body, "user": self.user(&i.user),
            "labels": i.labels.iter().map(|l| self.label(repo, l)).collect::<Vec<_>>(),
            "assignee": assignees.first().cloned().unwrap_or(Value::Null),
            "assignees": assignees, "milestone": milestone, "locked": false,
            "active_lock_reason": null, "comments": i.comments,
            "created_at": ts(i.created_ms), "updated_at": ts(i.updated_ms),
            "closed_at": i.closed_ms.map(ts), "author_association": "OWNER",
            "reactions": {
                "url": format!("{url}/reactions"), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0
            }
        });
        if i.pull_request {
            v["pull_request"] = json!({
                "url": format!("{}/repos/{repo}/pulls/{}", self.base, i.number),
                "html_url": format!("https://github.com/{repo}/pull/{}", i.number),
                "diff_url": format!("https://github.com/{repo}/pull/{}.diff", i.number),
                "patch_url": format!("https://github.com/{repo}/pull/{}.patch", i.number),
                "merged_at": null
            });
        }
        v
    }

    fn milestone(&self, repo: &str, number: u64, title: &str) -> Value {
        let url = format!("{}/repos/{repo}/milestones/{number}", self.base);
        json!({
            "url": url, "html_url": format!("https://github.com/{repo}/milestone/{number}"),
            "labels_url": format!("{url}/labels"), "id": number, "node_id": format!("MI_{number}"),
            "number": number, "state": "open", "title": title, "description": null,
            "creator": null, "open_issues": 0, "closed_issues": 0,
            "created_at": ts(0), "updated_at": ts(0), "closed_at": null, "due_on": null
        })
    }

    fn comment(&self, repo: &str, c: &CommentData) -> Value {
        json!({
            "id": c.id, "node_id": format!("IC_{}", c.id),
            "url": format!("{}/repos/{repo}/issues/comments/{}", self.base, c.id),
            "html_url": format!("https://github.com/{repo}/issues/{}#issuecomment-{}", c.number, c.id),
            "issue_url": format!("{}/repos/{repo}/issues/{}", self.base, c.number),
            "body": c.body, "user": self.user(&c.user),
            "created_at": ts(c.created_ms), "updated_at": ts(c.updated_ms),
            "author_association": "OWNER",
            "reactions": {
                "url": format!("{}/repos/{repo}/issues/comments/{}/reactions", self.base, c.id),
                "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0,
                "heart": 0, "rocket": 0, "eyes": 0
            }
        })
    }

    /// Queues a delivery to every hook of `repo` subscribed to `event`.
    fn emit(&self, data: &Data, repo: &str, event: &str, mut payload: Value, actor: &str) {
        let Some(r) = data.repos.get(repo) else {
            return;
        };
        payload["repository"] = self.repository(repo, r);
        payload["sender"] = self.user(actor);
        for h in data.hooks.iter().filter(|h| h.repo == repo) {
            if event == "ping" || h.events.iter().any(|e| e == event || e == "*") {
                // GitHub's headers (docs: "Webhook events and payloads", delivery headers).
                let mut headers = vec![
                    ("content-type".into(), "application/json".into()),
                    ("user-agent".into(), "GitHub-Hookshot/fake".into()),
                    ("x-github-event".into(), event.to_string()),
                    ("x-github-delivery".into(), uuid::Uuid::new_v4().to_string()),
                    ("x-github-hook-id".into(), h.id.to_string()),
                    (
                        "x-github-hook-installation-target-type".into(),
                        "repository".into(),
                    ),
                ];
                if !h.secret.is_empty() {
                    let body = payload.to_string();
                    headers.push((
                        "x-hub-signature-256".into(),
                        twinsync_github::webhook::sign(&h.secret, body.as_bytes()),
                    ));
                }
                self.outbox.send(Outgoing {
                    url: h.url.clone(),
                    event: event.to_string(),
                    headers,
                    payload: payload.clone(),
                });
            }
        }
    }
}

/// Who the request is from: a token's login, or `None` when refused.
fn caller(fake: &Fake, data: &Data, headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))?
        .trim();
    if let Some((_, login)) = fake.options.tokens.iter().find(|(t, _)| t == token) {
        return Some((token.to_string(), login.clone()));
    }
    match data.installation_tokens.get(token) {
        Some(expires) if *expires > now_ms() => Some((token.to_string(), "twinsync[bot]".into())),
        _ => None,
    }
}

/// Auth, rate limit, injected faults and the recording of every exchange.
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
    } = Received::read(&matched, request, 1 << 20).await;
    let template = exchange.template.clone();

    let mut rate_headers = None;
    let who;
    let early = {
        let mut data = fake.lock();
        who = caller(&fake, &data, &parts.headers)
            .map(|(_, login)| login)
            .unwrap_or_default();
        let nth = fake.options.every_nth_429;
        if let Some(fault) = data.faults.next(nth, || Fault::TooManyRequests(1)) {
            Some(match fault {
                Fault::TooManyRequests(s) => {
                    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "API rate limit exceeded");
                    r.headers_mut().insert("retry-after", HeaderValue::from(s));
                    r
                }
                Fault::SecondaryLimit(s) => {
                    let mut r = error(
                        StatusCode::FORBIDDEN,
                        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
                    );
                    r.headers_mut().insert("retry-after", HeaderValue::from(s));
                    r
                }
                Fault::BadGateway => error(StatusCode::BAD_GATEWAY, "Server Error"),
            })
        } else if template == "/app/installations/{installation_id}/access_tokens" {
            None
        } else {
            match caller(&fake, &data, &parts.headers) {
                None if parts.headers.contains_key("authorization") => {
                    Some(error(StatusCode::UNAUTHORIZED, "Bad credentials"))
                }
                None => Some(error(StatusCode::UNAUTHORIZED, "Requires authentication")),
                Some((token, _)) => {
                    let limit = if fake.options.rate_limit == 0 {
                        5_000
                    } else {
                        fake.options.rate_limit
                    };
                    let now_s = now_ms() / 1000;
                    let entry = data.used.entry(token).or_insert((0, now_s + 3600));
                    if entry.1 <= now_s {
                        *entry = (0, now_s + 3600);
                    }
                    let over = entry.0 >= limit;
                    if !over {
                        entry.0 += 1;
                    }
                    rate_headers = Some((limit, entry.0, entry.1));
                    over.then(|| {
                        error(
                            StatusCode::FORBIDDEN,
                            "API rate limit exceeded for user. (But here's the good news: Authenticated requests get a higher rate limit.)",
                        )
                    })
                }
            }
        }
    };
    let mut response = match early {
        Some(r) => r,
        None => next.run(Received::into_request(parts, bytes)).await,
    };
    if let Some((limit, used, reset)) = rate_headers {
        let h = response.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert(
            "x-ratelimit-remaining",
            HeaderValue::from(limit.saturating_sub(used)),
        );
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        h.insert("x-ratelimit-used", HeaderValue::from(used));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    }
    response.headers_mut().insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    exchange.caller = who;
    let (exchange, response) = plumbing::answered(exchange, response, 16 << 20).await;
    fake.lock().exchanges.push(exchange);
    response
}

fn login_of(fake: &Fake, data: &Data, headers: &HeaderMap) -> String {
    caller(fake, data, headers)
        .map(|(_, l)| l)
        .unwrap_or_default()
}

fn page_params(q: &HashMap<String, String>) -> (usize, usize) {
    let per_page = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    (per_page, page)
}

/// A page of `all` with GitHub's `Link` header.
fn paged(base: &str, path: &str, q: &HashMap<String, String>, all: Vec<Value>) -> Response {
    let (per_page, page) = page_params(q);
    let last = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link_to = |n: usize| {
        let mut params: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "page")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.sort();
        params.push(("page".into(), n.to_string()));
        let qs = reqwest::Url::parse_with_params("http://x/", &params)
            .ok()
            .and_then(|u| u.query().map(str::to_string))
            .unwrap_or_default();
        format!("{base}{path}?{qs}")
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", link_to(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", link_to(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"prev\"", link_to(page - 1)));
        links.push(format!("<{}>; rel=\"first\"", link_to(1)));
    }
    let mut resp = axum::Json(Value::Array(items)).into_response();
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        resp.headers_mut().insert("link", v);
    }
    resp
}

type RepoPath = Path<(String, String)>;

async fn list_issues(
    State(fake): State<Arc<Fake>>,
    Path((owner, name)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    let Some(r) = data.repos.get(&repo) else {
        return not_found();
    };
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    if !["open", "closed", "all"].contains(&state) {
        return invalid("Issue", "state", "invalid");
    }
    let since = q.get("since").map(|s| millis(s));
    let labels: Vec<&str> = q
        .get("labels")
        .map(|l| l.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let mut issues: Vec<&IssueData> = r
        .issues
        .values()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| since.is_none_or(|s| i.updated_ms >= s))
        .filter(|i| labels.iter().all(|l| i.labels.iter().any(|x| x == l)))
        .collect();
    let by = q.get("sort").map(String::as_str).unwrap_or("created");
    issues.sort_by_key(|i| match by {
        "updated" => (i.updated_ms, i.number),
        "comments" => (i.comments as i64, i.number),
        _ => (i.created_ms, i.number),
    });
    if q.get("direction").map(String::as_str).unwrap_or("desc") == "desc" {
        issues.reverse();
    }
    let all = issues.iter().map(|i| fake.issue(&repo, r, i)).collect();
    paged(&fake.base, &format!("/repos/{repo}/issues"), &q, all)
}

fn labels_of(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|l| l.as_str().or(l["name"].as_str()).map(str::to_string))
            .collect()
    })
}

fn title_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn create_issue(
    State(fake): State<Arc<Fake>>,
    Path((owner, name)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let repo = format!("{owner}/{name}");
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Some(title) = title_of(&input["title"]) else {
        return invalid("Issue", "title", "missing_field");
    };
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    data.seq += 1;
    let id = 1_000_000 + data.seq;
    let Some(r) = data.repos.get_mut(&repo) else {
        return not_found();
    };
    if let Some(m) = input["milestone"].as_u64()
        && !r.milestones.iter().any(|(n, _)| *n == m)
    {
        return invalid("Issue", "milestone", "invalid");
    }
    let now = now_ms();
    let number = r.issues.keys().next_back().copied().unwrap_or(0) + 1;
    let mut assignees: Vec<String> = input["assignees"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(a) = input["assignee"].as_str() {
        assignees.push(a.to_string());
    }
    let issue = IssueData {
        id,
        number,
        title,
        body: input["body"].as_str().map(str::to_string),
        state: "open".into(),
        state_reason: None,
        labels: labels_of(&input["labels"]).unwrap_or_default(),
        assignees,
        user: login.clone(),
        milestone: input["milestone"].as_u64(),
        comments: 0,
        created_ms: now,
        updated_ms: now,
        closed_ms: None,
        pull_request: false,
    };
    r.issues.insert(number, issue.clone());
    let r = &data.repos[&repo];
    let json = fake.issue(&repo, r, &issue);
    fake.emit(
        &data,
        &repo,
        "issues",
        json!({"action": "opened", "issue": json}),
        &login,
    );
    let mut resp = (StatusCode::CREATED, axum::Json(json.clone())).into_response();
    if let Some(Ok(loc)) = json["url"].as_str().map(HeaderValue::from_str) {
        resp.headers_mut().insert("location", loc);
    }
    resp
}

type IssuePath = Path<(String, String, u64)>;

async fn get_issue(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, number)): IssuePath,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    match data
        .repos
        .get(&repo)
        .and_then(|r| Some((r, r.issues.get(&number)?)))
    {
        Some((r, i)) => axum::Json(fake.issue(&repo, r, i)).into_response(),
        None => not_found(),
    }
}

async fn update_issue(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, number)): IssuePath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let repo = format!("{owner}/{name}");
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    let Some(r) = data.repos.get_mut(&repo) else {
        return not_found();
    };
    let milestones = r.milestones.clone();
    let Some(issue) = r.issues.get_mut(&number) else {
        return not_found();
    };
    let before = issue.clone();
    if input.get("title").is_some() {
        match title_of(&input["title"]) {
            Some(t) => issue.title = t,
            None => return invalid("Issue", "title", "invalid"),
        }
    }
    if let Some(b) = input.get("body") {
        issue.body = b.as_str().map(str::to_string);
    }
    if let Some(s) = input.get("state") {
        match s.as_str() {
            Some("open") => {
                issue.state = "open".into();
                issue.closed_ms = None;
                issue.state_reason = (before.state == "closed").then(|| "reopened".into());
            }
            Some("closed") => {
                issue.state = "closed".into();
                if before.state != "closed" {
                    issue.closed_ms = Some(now_ms());
                }
                issue.state_reason = Some(
                    input["state_reason"]
                        .as_str()
                        .unwrap_or("completed")
                        .to_string(),
                );
            }
            _ => return invalid("Issue", "state", "invalid"),
        }
    } else if let Some(reason) = input["state_reason"].as_str() {
        issue.state_reason = Some(reason.to_string());
    }
    if let Some(labels) = labels_of(&input["labels"]) {
        issue.labels = labels;
    }
    if let Some(a) = input["assignees"].as_array() {
        issue.assignees = a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect();
    }
    match input.get("milestone") {
        Some(Value::Null) => issue.milestone = None,
        Some(m) => match m
            .as_u64()
            .filter(|n| milestones.iter().any(|(x, _)| x == n))
        {
            Some(n) => issue.milestone = Some(n),
            None => return invalid("Issue", "milestone", "invalid"),
        },
        None => {}
    }
    let changed = issue.title != before.title
        || issue.body != before.body
        || issue.state != before.state
        || issue.labels != before.labels
        || issue.assignees != before.assignees
        || issue.milestone != before.milestone;
    if changed {
        issue.updated_ms = now_ms().max(before.updated_ms);
    }
    let after = issue.clone();
    let r = &data.repos[&repo];
    let json = fake.issue(&repo, r, &after);
    // GitHub sends one delivery per kind of change, in this order.
    let mut events: Vec<Value> = Vec::new();
    if after.title != before.title || after.body != before.body {
        let mut changes = json!({});
        if after.title != before.title {
            changes["title"] = json!({"from": before.title});
        }
        if after.body != before.body {
            changes["body"] = json!({"from": before.body});
        }
        events.push(json!({"action": "edited", "changes": changes}));
    }
    if after.state != before.state {
        events.push(json!({"action": if after.state == "closed" { "closed" } else { "reopened" }}));
    }
    for l in after.labels.iter().filter(|l| !before.labels.contains(l)) {
        events.push(json!({"action": "labeled", "label": fake.label(&repo, l)}));
    }
    for l in before.labels.iter().filter(|l| !after.labels.contains(l)) {
        events.push(json!({"action": "unlabeled", "label": fake.label(&repo, l)}));
    }
    for a in after
        .assignees
        .iter()
        .filter(|a| !before.assignees.contains(a))
    {
        events.push(json!({"action": "assigned", "assignee": fake.user(a)}));
    }
    for a in before
        .assignees
        .iter()
        .filter(|a| !after.assignees.contains(a))
    {
        events.push(json!({"action": "unassigned", "assignee": fake.user(a)}));
    }
    for mut e in events {
        e["issue"] = json.clone();
        fake.emit(&data, &repo, "issues", e, &login);
    }
    axum::Json(json).into_response()
}

async fn list_comments(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, number)): IssuePath,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    let Some(r) = data
        .repos
        .get(&repo)
        .filter(|r| r.issues.contains_key(&number))
    else {
        return not_found();
    };
    let since = q.get("since").map(|s| millis(s));
    let all = r
        .comments
        .values()
        .filter(|c| c.number == number && since.is_none_or(|s| c.updated_ms >= s))
        .map(|c| fake.comment(&repo, c))
        .collect();
    paged(
        &fake.base,
        &format!("/repos/{repo}/issues/{number}/comments"),
        &q,
        all,
    )
}

async fn create_comment(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, number)): IssuePath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let repo = format!("{owner}/{name}");
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Some(text) = input["body"].as_str().filter(|b| !b.is_empty()) else {
        return invalid("IssueComment", "body", "missing_field");
    };
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    data.seq += 1;
    let id = 2_000_000 + data.seq;
    let Some(r) = data.repos.get_mut(&repo) else {
        return not_found();
    };
    let Some(issue) = r.issues.get_mut(&number) else {
        return not_found();
    };
    let now = now_ms();
    issue.comments += 1;
    issue.updated_ms = now;
    let comment = CommentData {
        id,
        number,
        body: text.to_string(),
        user: login.clone(),
        created_ms: now,
        updated_ms: now,
    };
    r.comments.insert(id, comment.clone());
    let r = &data.repos[&repo];
    let json = fake.comment(&repo, &comment);
    let issue_json = fake.issue(&repo, r, &r.issues[&number]);
    fake.emit(
        &data,
        &repo,
        "issue_comment",
        json!({"action": "created", "issue": issue_json, "comment": json}),
        &login,
    );
    (StatusCode::CREATED, axum::Json(json)).into_response()
}

type CommentPath = Path<(String, String, u64)>;

async fn get_comment(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, id)): CommentPath,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    match data.repos.get(&repo).and_then(|r| r.comments.get(&id)) {
        Some(c) => axum::Json(fake.comment(&repo, c)).into_response(),
        None => not_found(),
    }
}

async fn update_comment(
    State(fake): State<Arc<Fake>>,
    Path((owner, name, id)): CommentPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let repo = format!("{owner}/{name}");
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Some(text) = input["body"].as_str().filter(|b| !b.is_empty()) else {
        return invalid("IssueComment", "body", "missing_field");
    };
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    let Some(r) = data.repos.get_mut(&repo) else {
        return not_found();
    };
    let Some(c) = r.comments.get_mut(&id) else {
        return not_found();
    };
    let from = c.body.clone();
    c.body = text.to_string();
    c.updated_ms = now_ms();
    let comment = c.clone();
    let r = &data.repos[&repo];
    let json = fake.comment(&repo, &comment);
    if from != comment.body {
        let issue_json = fake.issue(&repo, r, &r.issues[&comment.number]);
        fake.emit(
            &data,
            &repo,
            "issue_comment",
            json!({"action": "edited", "issue": issue_json, "comment": json, "changes": {"body": {"from": from}}}),
            &login,
        );
    }
    axum::Json(json).into_response()
}

async fn list_milestones(
    State(fake): State<Arc<Fake>>,
    Path((owner, name)): RepoPath,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let repo = format!("{owner}/{name}");
    let data = fake.lock();
    let Some(r) = data.repos.get(&repo) else {
        return not_found();
    };
    let all = r
        .milestones
        .iter()
        .map(|(n, t)| fake.milestone(&repo, *n, t))
        .collect();
    paged(&fake.base, &format!("/repos/{repo}/milestones"), &q, all)
}

async fn create_hook(
    State(fake): State<Arc<Fake>>,
    Path((owner, name)): RepoPath,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let repo = format!("{owner}/{name}");
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Some(url) = input["config"]["url"].as_str().map(str::to_string) else {
        return invalid("Hook", "url", "missing_field");
    };
    let events: Vec<String> = input["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_else(|| vec!["push".into()]);
    let mut data = fake.lock();
    let login = login_of(&fake, &data, &headers);
    if !data.repos.contains_key(&repo) {
        return not_found();
    }
    data.seq += 1;
    let id = data.seq;
    let hook_url = format!("{}/repos/{repo}/hooks/{id}", fake.base);
    let now = ts(now_ms());
    let hook = json!({
        "type": "Repository", "id": id, "name": "web", "active": input["active"].as_bool().unwrap_or(true),
        "events": events, "config": {"url": url, "content_type": input["config"]["content_type"].as_str().unwrap_or("form"), "insecure_ssl": "0"},
        "updated_at": now, "created_at": now, "url": hook_url,
        "test_url": format!("{hook_url}/test"), "ping_url": format!("{hook_url}/pings"),
        "deliveries_url": format!("{hook_url}/deliveries"),
        "last_response": {"code": null, "status": "unused", "message": null}
    });
    data.hooks.push(Hook {
        id,
        repo: repo.clone(),
        url,
        secret: input["config"]["secret"].as_str().unwrap_or("").to_string(),
        events,
    });
    // GitHub pings a new hook at once.
    fake.emit(
        &data,
        &repo,
        "ping",
        json!({"zen": "Keep it logically awesome.", "hook_id": id, "hook": hook}),
        &login,
    );
    (StatusCode::CREATED, axum::Json(hook)).into_response()
}

async fn search_issues(
    State(fake): State<Arc<Fake>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(query) = q.get("q").filter(|s| !s.trim().is_empty()) else {
        return invalid("Search", "q", "missing");
    };
    // Qualifiers and terms: repo:, is:, in:, "quoted phrases" and bare words.
    let mut repos = Vec::new();
    let mut is = Vec::new();
    let mut within = Vec::new();
    let mut terms = Vec::new();
    let mut rest = query.as_str();
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if c == '"' {
            let end = rest[1..].find('"').map(|e| e + 1).unwrap_or(rest.len());
            terms.push(rest[1..end].to_lowercase());
            rest = rest.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            match word.split_once(':') {
                Some(("repo", r)) => repos.push(r.to_string()),
                Some(("is", v)) => is.push(v.to_string()),
                Some(("in", v)) => within.push(v.to_string()),
                _ => terms.push(word.to_lowercase()),
            }
            rest = &rest[end..];
        }
    }
    let data = fake.lock();
    let visible_before = now_ms() - fake.options.search_lag_ms;
    let mut items = Vec::new();
    for (name, r) in data
        .repos
        .iter()
        .filter(|(n, _)| repos.is_empty() || repos.contains(n))
    {
        for i in r.issues.values() {
            if i.created_ms > visible_before
                || (is.iter().any(|v| v == "issue") && i.pull_request)
                || (is.iter().any(|v| v == "pr") && !i.pull_request)
            {
                continue;
            }
            let mut text = String::new();
            if within.is_empty() || within.iter().any(|w| w == "title") {
                text.push_str(&i.title.to_lowercase());
            }
            if within.is_empty() || within.iter().any(|w| w == "body") {
                text.push(' ');
                text.push_str(&i.body.clone().unwrap_or_default().to_lowercase());
            }
            if terms.iter().all(|t| text.contains(t.as_str())) {
                let mut v = fake.issue(name, r, i);
                v["score"] = json!(1.0);
                items.push(v);
            }
        }
    }
    let total = items.len();
    let (per_page, page) = page_params(&q);
    let items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    axum::Json(json!({"total_count": total, "incomplete_results": false, "items": items, "search_type": "lexical"}))
        .into_response()
}

async fn installation_token(
    State(fake): State<Arc<Fake>>,
    Path(installation_id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let Some((app_id, installation, pem)) = fake.options.app.clone() else {
        return not_found();
    };
    if installation != installation_id {
        return not_found();
    }
    let jwt = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "bad app key in the fake");
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.leeway = 60;
    let claims = match jsonwebtoken::decode::<AppClaims>(jwt, &key, &validation) {
        Ok(c) => c.claims,
        Err(e) => {
            return error(
                StatusCode::UNAUTHORIZED,
                &format!("A JSON web token could not be decoded ({e})"),
            );
        }
    };
    if claims.iss != app_id.to_string() || claims.exp - claims.iat > 600 {
        return error(
            StatusCode::UNAUTHORIZED,
            "'Expiration time' claim ('exp') is too far in the future",
        );
    }
    let token = format!("ghs_{}", uuid::Uuid::new_v4().simple());
    let ttl = if fake.options.installation_token_ttl_ms > 0 {
        fake.options.installation_token_ttl_ms
    } else {
        3_600_000
    };
    let expires = now_ms() + ttl;
    fake.lock()
        .installation_tokens
        .insert(token.clone(), expires);
    (
        StatusCode::CREATED,
        axum::Json(json!({
            "token": token,
            "expires_at": ts(expires),
            "permissions": {"issues": "write", "metadata": "read"},
            "repository_selection": "all"
        })),
    )
        .into_response()
}

async fn rate_limit(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let data = fake.lock();
    let limit = if fake.options.rate_limit == 0 {
        5_000
    } else {
        fake.options.rate_limit
    };
    let (used, reset) = caller(&fake, &data, &headers)
        .and_then(|(t, _)| data.used.get(&t).copied())
        .unwrap_or((0, now_ms() / 1000 + 3600));
    let core = json!({"limit": limit, "used": used, "remaining": limit.saturating_sub(used), "reset": reset});
    axum::Json(json!({"resources": {"core": core, "search": {"limit": 30, "used": 0, "remaining": 30, "reset": reset}}, "rate": core}))
        .into_response()
}

impl FakeGithub {
    /// Starts on `addr` (`127.0.0.1:0` for any port).
    pub async fn start(addr: &str, options: FakeOptions) -> Result<FakeGithub, GithubError> {
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| GithubError::Listen {
                    addr: addr.into(),
                    message: e.to_string(),
                })?;
        let local = listener.local_addr().map_err(|e| GithubError::Listen {
            addr: addr.into(),
            message: e.to_string(),
        })?;
        let base = format!("http://{local}");
        let (outbox, sender) = Outbox::start("GitHub");
        let mut data = Data::default();
        for (n, repo) in options.repos.iter().enumerate() {
            data.repos.insert(
                repo.clone(),
                RepoData {
                    id: 500 + n as u64,
                    ..RepoData::default()
                },
            );
        }
        let fake = Arc::new(Fake {
            base: base.clone(),
            options,
            data: Mutex::new(data),
            outbox,
        });
        let app = Router::new()
            .route(
                "/repos/{owner}/{repo}/issues",
                get(list_issues).post(create_issue),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{issue_number}",
                get(get_issue).patch(update_issue),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{issue_number}/comments",
                get(list_comments).post(create_comment),
            )
            .route(
                "/repos/{owner}/{repo}/issues/comments/{comment_id}",
                get(get_comment).patch(update_comment),
            )
            .route("/repos/{owner}/{repo}/milestones", get(list_milestones))
            .route("/repos/{owner}/{repo}/hooks", post(create_hook))
            .route("/search/issues", get(search_issues))
            .route(
                "/app/installations/{installation_id}/access_tokens",
                post(installation_token),
            )
            .route("/rate_limit", get(rate_limit))
            .route_layer(middleware::from_fn_with_state(fake.clone(), guard))
            .fallback(|| async { not_found() })
            .with_state(fake.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake GitHub stopped");
            }
        });
        Ok(FakeGithub {
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

    pub fn add_milestone(&self, repo: &str, title: &str) -> Option<u64> {
        let mut data = self.fake.lock();
        let r = data.repos.get_mut(repo)?;
        let n = r.milestones.len() as u64 + 1;
        r.milestones.push((n, title.to_string()));
        Some(n)
    }

    /// A pull request: the issues API lists it, and the connector must skip it.
    pub fn add_pull_request(&self, repo: &str, title: &str, author: &str) -> Option<u64> {
        let mut data = self.fake.lock();
        data.seq += 1;
        let id = 1_000_000 + data.seq;
        let r = data.repos.get_mut(repo)?;
        let number = r.issues.keys().next_back().copied().unwrap_or(0) + 1;
        let now = now_ms();
        r.issues.insert(
            number,
            IssueData {
                id,
                number,
                title: title.to_string(),
                body: None,
                state: "open".into(),
                state_reason: None,
                labels: Vec::new(),
                assignees: Vec::new(),
                user: author.to_string(),
                milestone: None,
                comments: 0,
                created_ms: now,
                updated_ms: now,
                closed_ms: None,
                pull_request: true,
            },
        );
        Some(number)
    }

    /// Issue count of a repository, pull requests excluded.
    pub fn issue_count(&self, repo: &str) -> usize {
        self.fake
            .lock()
            .repos
            .get(repo)
            .map(|r| r.issues.values().filter(|i| !i.pull_request).count())
            .unwrap_or(0)
    }
}
