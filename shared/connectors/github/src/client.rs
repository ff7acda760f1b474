//! The REST client and the `Tracker` implementation.
//!
//! Every request goes through [`GithubTracker::send`]: the connector's own budget first
//! (`RateGate` of twinsync-connector-kit), then GitHub's answer read for its limits. A 429, a secondary-limit 403
//! with `Retry-After`, or an exhausted `x-ratelimit-remaining` becomes
//! `PortError::RateLimited` with the wait GitHub asked for: the handler hands it to the
//! queue, which extends the message's visibility instead of sleeping in a worker.

use crate::auth::Auth;
use crate::config::GithubConfig;
use crate::mapping::{
    Directory, GhComment, GhIssue, SyncAuthor, attachment_comment, key_of, split_key, split_repo,
    timestamp,
};
use crate::{GithubError, webhook};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use twinsync_connector_kit::outbound::{self, ClientOptions};
use twinsync_connector_kit::target::Reach;
use twinsync_connector_kit::{RateGate, http, now_ms};
use twinsync_core::marker::{split_origin, with_origin};
use twinsync_core::{Attachment, Comment, Filter, Item, ItemUpdate, User};
use twinsync_ports::{ChangeSignal, ItemPage, PortError, PortResult, Tracker, WebhookError};

pub use crate::config::{API_VERSION, USER_AGENT};

pub struct GithubTracker {
    instance: String,
    config: GithubConfig,
    users: Directory,
    auth: Auth,
    http: reqwest::Client,
    gate: RateGate,
    /// GitHub said we are out of requests until then (ms since the epoch).
    /// Origin markers of issues and comments we have read, so an edit can keep them
    /// without reading the text again.
    origins: Mutex<HashMap<String, Option<String>>>,
    milestones: tokio::sync::Mutex<HashMap<String, HashMap<String, u64>>>,
    /// Whose comments carry sync markers, learnt on first need.
    sync_author: tokio::sync::OnceCell<SyncAuthor>,
}

fn header_i64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<i64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// GitHub explains errors as `{"message": ..., "errors": [...]}`.
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
fn unreachable(repo: &str, e: PortError) -> PortError {
    match e {
        PortError::NotFound(_) => PortError::Rejected(format!(
            "repository {repo} not found, or this token cannot reach it"
        )),
        e => e,
    }
}

impl GithubTracker {
    pub fn new(instance: impl Into<String>, config: GithubConfig) -> Result<Self, GithubError> {
        config.check()?;
        let auth = Auth::from_config(config.token.as_deref(), config.app.as_ref())?;
        let http = outbound::client(
            &ClientOptions::with_timeout(Duration::from_secs(30))
                .ca_file(config.ca_file.as_deref())
                .reach(Reach::for_base_url(&config.api_url)),
        )
        .map_err(|e| GithubError::Http(e.to_string()))?;
        let per_minute = NonZeroU32::new(config.requests_per_minute)
            .ok_or_else(|| GithubError::Config("requests_per_minute must be above 0".into()))?;
        let burst = NonZeroU32::new(config.burst)
            .ok_or_else(|| GithubError::Config("burst must be above 0".into()))?;
        Ok(Self {
            instance: instance.into(),
            users: Directory::new(config.users.clone()),
            config: GithubConfig {
                api_url: config.api_url.trim_end_matches('/').to_string(),
                ..config
            },
            auth,
            http,
            gate: RateGate::per_minute(per_minute, burst),
            origins: Mutex::new(HashMap::new()),
            milestones: tokio::sync::Mutex::new(HashMap::new()),
            sync_author: tokio::sync::OnceCell::new(),
        })
    }

    /// Time spent waiting for rate limits (ours and GitHub's), for metrics.
    pub fn throttled_ms(&self) -> u64 {
        self.gate.throttled_ms()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_url)
    }

    fn throttled(&self, wait_ms: u64) -> PortError {
        self.gate.throttled(wait_ms)
    }

    /// One request: budget, auth, send, limits, status → error. Returns the body and the
    /// next page's URL from the `Link` header.
    async fn send(
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
                    .and_then(|v| parse_link_header::parse_with_rel(v).ok())
                    .and_then(|links| links.get("next").map(|l| l.raw_uri.clone()));
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

    async fn get(&self, url: &str) -> PortResult<(Value, Option<String>)> {
        self.send(reqwest::Method::GET, url, None).await
    }

    fn parse<T: serde::de::DeserializeOwned>(value: Value) -> PortResult<T> {
        serde_json::from_value(value)
            .map_err(|e| PortError::Rejected(format!("unexpected answer from GitHub: {e}")))
    }

    fn key_parts(key: &str) -> PortResult<(&str, u64)> {
        split_key(key).ok_or_else(|| {
            PortError::Rejected(format!("{key:?} is not a GitHub key (owner/repo#number)"))
        })
    }

    fn remember(&self, key: String, origin: Option<String>) {
        if let Ok(mut m) = self.origins.lock() {
            m.insert(key, origin);
        }
    }

    fn remembered(&self, key: &str) -> Option<Option<String>> {
        self.origins.lock().ok()?.get(key).cloned()
    }

    async fn comments(&self, repo: &str, number: u64) -> PortResult<Vec<GhComment>> {
        let mut out = Vec::new();
        let mut url = Some(self.url(&format!(
            "/repos/{repo}/issues/{number}/comments?per_page=100"
        )));
        while let Some(u) = url {
            let (page, next) = self.get(&u).await?;
            out.extend(Self::parse::<Vec<GhComment>>(page)?);
            url = next;
        }
        Ok(out)
    }

    /// The account this connector writes as: the token's login (`GET /user`), or any
    /// `[bot]` account for a GitHub App, whose installation cannot call `/user`.
    async fn sync_author(&self) -> PortResult<&SyncAuthor> {
        self.sync_author
            .get_or_try_init(|| async {
                match &self.auth {
                    Auth::App { .. } => Ok(SyncAuthor::AppBot),
                    Auth::Token(_) => {
                        let (me, _) = self.get(&self.url("/user")).await?;
                        Ok(SyncAuthor::Login(
                            Self::parse::<crate::mapping::GhUser>(me)?.login,
                        ))
                    }
                }
            })
            .await
    }

    fn item(&self, issue: &GhIssue, comments: &[GhComment], sync: &SyncAuthor) -> Item {
        let item = issue.to_item(comments, &self.users, sync);
        self.remember(item.key.clone(), item.origin.clone());
        for c in comments {
            let (_, origin) = split_origin(c.body.as_deref().unwrap_or(""));
            self.remember(format!("comment:{}", c.id), origin);
        }
        item
    }

    fn login_of(&self, user: &User) -> Option<String> {
        let login = self.users.login(&user.email);
        if login.is_none() {
            tracing::warn!(instance = %self.instance, email = %user.email, "no GitHub login for this email in the users directory; the assignee is left as is");
        }
        login
    }

    fn state(status: &str) -> PortResult<&'static str> {
        match status.to_ascii_lowercase().as_str() {
            "open" => Ok("open"),
            "closed" => Ok("closed"),
            other => Err(PortError::Rejected(format!(
                "GitHub issues are open or closed, not {other:?}: map the status in the rules"
            ))),
        }
    }

    async fn milestone(&self, repo: &str, title: &str) -> PortResult<u64> {
        let mut cache = self.milestones.lock().await;
        if !cache.get(repo).is_some_and(|m| m.contains_key(title)) {
            let mut found = HashMap::new();
            let mut url =
                Some(self.url(&format!("/repos/{repo}/milestones?state=all&per_page=100")));
            while let Some(u) = url {
                let (page, next) = self.get(&u).await?;
                for m in page.as_array().cloned().unwrap_or_default() {
                    if let (Some(t), Some(n)) = (m["title"].as_str(), m["number"].as_u64()) {
                        found.insert(t.to_string(), n);
                    }
                }
                url = next;
            }
            cache.insert(repo.to_string(), found);
        }
        cache
            .get(repo)
            .and_then(|m| m.get(title))
            .copied()
            .ok_or_else(|| PortError::Rejected(format!("no milestone {title:?} in {repo}")))
    }

    /// The fields of a create or an edit, in GitHub's words.
    async fn fields(
        &self,
        repo: &str,
        update: &ItemUpdate,
        origin: Option<&str>,
    ) -> PortResult<Value> {
        let mut fields = serde_json::Map::new();
        if let Some(s) = &update.summary {
            fields.insert("title".into(), json!(s));
        }
        if let Some(d) = &update.description {
            fields.insert("body".into(), json!(with_origin(d, origin)));
        }
        if let Some(s) = &update.status {
            fields.insert("state".into(), json!(Self::state(s)?));
        }
        if let Some(labels) = &update.labels {
            fields.insert("labels".into(), json!(labels));
        }
        match &update.assignee {
            Some(None) => {
                fields.insert("assignees".into(), json!([]));
            }
            Some(Some(user)) => {
                if let Some(login) = self.login_of(user) {
                    fields.insert("assignees".into(), json!([login]));
                }
            }
            None => {}
        }
        if let Some(custom) = &update.custom_fields {
            if let Some(reason) = custom.get("state_reason").and_then(Value::as_str) {
                fields.insert("state_reason".into(), json!(reason));
            }
            match custom.get("milestone") {
                Some(Value::String(title)) => {
                    let number = self.milestone(repo, title).await?;
                    fields.insert("milestone".into(), json!(number));
                }
                Some(Value::Null) => {
                    fields.insert("milestone".into(), Value::Null);
                }
                _ => {}
            }
        }
        Ok(Value::Object(fields))
    }

    /// Subscribes `url` to the repository's `issues` and `issue_comment` events.
    pub async fn subscribe(&self, url: &str) -> PortResult<()> {
        let body = json!({
            "name": "web",
            "active": true,
            "events": ["issues", "issue_comment"],
            "config": {
                "url": url,
                "content_type": "json",
                "secret": self.config.webhook_secret,
                "insecure_ssl": "0"
            }
        });
        let target = self.url(&format!("/repos/{}/hooks", self.config.repo));
        self.send(reqwest::Method::POST, &target, Some(&body))
            .await?;
        Ok(())
    }

    async fn find_in(&self, issues: &[GhIssue], origin: &str) -> PortResult<Option<Item>> {
        for issue in issues {
            let (_, found) = split_origin(issue.body.as_deref().unwrap_or(""));
            if !issue.is_pull_request() && found.as_deref() == Some(origin) {
                return self.get_item(&key_of(&issue.repo(), issue.number)).await;
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Tracker for GithubTracker {
    fn kind(&self) -> twinsync_core::ConnectorKind {
        twinsync_core::ConnectorKind::Github
    }

    fn instance(&self) -> &str {
        &self.instance
    }

    fn url(&self) -> &str {
        &self.config.api_url
    }

    fn calls(&self) -> u64 {
        self.gate.calls()
    }

    /// One page of one issue: GitHub answers 404 for a repository that does not exist
    /// or that the token cannot see.
    async fn has_project(&self, project: &str) -> PortResult<Option<bool>> {
        if split_repo(project).is_none() {
            return Ok(Some(false));
        }
        match self
            .get(&self.url(&format!("/repos/{project}/issues?per_page=1")))
            .await
        {
            Ok(_) => Ok(Some(true)),
            Err(PortError::NotFound(_)) => Ok(Some(false)),
            Err(e) => Err(e),
        }
    }

    async fn get_item(&self, key: &str) -> PortResult<Option<Item>> {
        let (repo, number) = Self::key_parts(key)?;
        let issue: GhIssue = match self
            .get(&self.url(&format!("/repos/{repo}/issues/{number}")))
            .await
        {
            Ok((v, _)) => Self::parse(v)?,
            Err(PortError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if issue.is_pull_request() {
            return Ok(None);
        }
        // The issue says how many comments it has: skip the call when there are none.
        let comments = if issue.comments > 0 {
            self.comments(repo, number).await?
        } else {
            Vec::new()
        };
        let sync = if comments.is_empty() {
            &SyncAuthor::Nobody
        } else {
            self.sync_author().await?
        };
        Ok(Some(self.item(&issue, &comments, sync)))
    }

    async fn create_item(&self, project: &str, item: &Item, origin: &str) -> PortResult<Item> {
        let repo = if split_repo(project).is_some() {
            project
        } else {
            self.config.repo.as_str()
        };
        let mut body = self
            .fields(
                repo,
                &ItemUpdate {
                    summary: Some(item.summary.clone()),
                    description: Some(item.description.clone()),
                    labels: Some(item.labels.clone()),
                    assignee: item.assignee.clone().map(Some),
                    ..ItemUpdate::default()
                },
                Some(origin),
            )
            .await?;
        let state = item.status_name().map(Self::state).transpose()?;
        if let Some(m) = item.custom_fields.get("milestone").and_then(Value::as_str)
            && let Value::Object(f) = &mut body
        {
            f.insert("milestone".into(), json!(self.milestone(repo, m).await?));
        }
        let (created, _) = self
            .send(
                reqwest::Method::POST,
                &self.url(&format!("/repos/{repo}/issues")),
                Some(&body),
            )
            .await
            .map_err(|e| unreachable(repo, e))?;
        let mut issue: GhIssue = Self::parse(created)?;
        // An issue is born open; closing it is a second call, made only when needed.
        if state == Some("closed") {
            let mut close = json!({"state": "closed"});
            if let Some(reason) = item
                .custom_fields
                .get("state_reason")
                .and_then(Value::as_str)
            {
                close["state_reason"] = json!(reason);
            }
            let (closed, _) = self
                .send(
                    reqwest::Method::PATCH,
                    &self.url(&format!("/repos/{repo}/issues/{}", issue.number)),
                    Some(&close),
                )
                .await?;
            issue = Self::parse(closed)?;
        }
        Ok(self.item(&issue, &[], &SyncAuthor::Nobody))
    }

    /// Edits the issue; the answer has no comments (read the item for those).
    async fn update_item(&self, key: &str, update: &ItemUpdate) -> PortResult<Item> {
        let (repo, number) = Self::key_parts(key)?;
        // The body carries the origin marker: keep it through an edit of the text.
        let origin = match (&update.description, self.remembered(key)) {
            (None, _) => None,
            (Some(_), Some(origin)) => origin,
            (Some(_), None) => match self.get_item(key).await? {
                Some(item) => item.origin,
                None => return Err(PortError::NotFound(key.to_string())),
            },
        };
        let body = self.fields(repo, update, origin.as_deref()).await?;
        let url = self.url(&format!("/repos/{repo}/issues/{number}"));
        let answer = if body.as_object().is_some_and(|f| f.is_empty()) {
            self.get(&url).await?.0
        } else {
            self.send(reqwest::Method::PATCH, &url, Some(&body))
                .await?
                .0
        };
        let issue: GhIssue = Self::parse(answer)?;
        Ok(self.item(&issue, &[], &SyncAuthor::Nobody))
    }

    async fn add_comment(
        &self,
        key: &str,
        body: &str,
        _author: Option<&User>,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        // Author attribution is the rules' job (GitHub posts as the token's user).
        let (repo, number) = Self::key_parts(key)?;
        let (created, _) = self
            .send(
                reqwest::Method::POST,
                &self.url(&format!("/repos/{repo}/issues/{number}/comments")),
                Some(&json!({ "body": with_origin(body, origin) })),
            )
            .await?;
        let c: GhComment = Self::parse(created)?;
        self.remember(format!("comment:{}", c.id), origin.map(str::to_string));
        Ok(Comment {
            id: c.id.to_string(),
            author: c.user.as_ref().map(|u| self.users.user(&u.login)),
            body: body.to_string(),
            created_ms: crate::mapping::millis(&c.created_at),
            origin: origin.map(str::to_string),
            remote_id: None,
            internal: false,
        })
    }

    async fn update_comment(&self, key: &str, comment_id: &str, body: &str) -> PortResult<()> {
        let (repo, _) = Self::key_parts(key)?;
        let url = self.url(&format!("/repos/{repo}/issues/comments/{comment_id}"));
        let origin = match self.remembered(&format!("comment:{comment_id}")) {
            Some(o) => o,
            None => {
                let c: GhComment = Self::parse(self.get(&url).await?.0)?;
                split_origin(c.body.as_deref().unwrap_or("")).1
            }
        };
        self.send(
            reqwest::Method::PATCH,
            &url,
            Some(&json!({ "body": with_origin(body, origin.as_deref()) })),
        )
        .await?;
        Ok(())
    }

    async fn add_attachment(&self, key: &str, attachment: &Attachment) -> PortResult<Attachment> {
        let (repo, number) = Self::key_parts(key)?;
        let (created, _) = self
            .send(
                reqwest::Method::POST,
                &self.url(&format!("/repos/{repo}/issues/{number}/comments")),
                Some(&json!({ "body": attachment_comment(attachment) })),
            )
            .await?;
        let c: GhComment = Self::parse(created)?;
        Ok(Attachment {
            id: c.id.to_string(),
            remote_id: Some(
                attachment
                    .remote_id
                    .clone()
                    .unwrap_or_else(|| attachment.id.clone()),
            ),
            ..attachment.clone()
        })
    }

    /// The newest issues first (the listing is consistent at once, which covers a retry
    /// right after a crash), then the search API (which covers older issues, e.g. after a
    /// twin store was wiped, but indexes new ones with a delay).
    async fn find_by_origin(&self, project: &str, origin: &str) -> PortResult<Option<Item>> {
        let repo = if split_repo(project).is_some() {
            project
        } else {
            self.config.repo.as_str()
        };
        let (recent, _) = self
            .get(&self.url(&format!(
                "/repos/{repo}/issues?state=all&sort=created&direction=desc&per_page=100"
            )))
            .await
            .map_err(|e| unreachable(repo, e))?;
        let recent: Vec<GhIssue> = Self::parse(recent)?;
        if let Some(item) = self.find_in(&recent, origin).await? {
            return Ok(Some(item));
        }
        if recent.len() < 100 {
            // The whole repository fitted in one page.
            return Ok(None);
        }
        let q = format!("repo:{repo} is:issue in:body \"twinsync-origin: {origin}\"");
        let url = reqwest::Url::parse_with_params(
            &self.url("/search/issues"),
            &[("q", q.as_str()), ("per_page", "100")],
        )
        .map_err(|e| PortError::Rejected(format!("search url: {e}")))?;
        let (found, _) = self.get(url.as_str()).await?;
        let items: Vec<GhIssue> = Self::parse(found["items"].clone())?;
        self.find_in(&items, origin).await
    }

    async fn search_updated(
        &self,
        query: &str,
        since_ms: i64,
        page: Option<String>,
    ) -> PortResult<ItemPage> {
        let filter = match query.trim() {
            "" => None,
            q => Some(Filter::parse(q).map_err(|e| PortError::Rejected(format!("trigger: {e}")))?),
        };
        let url = match page {
            Some(next) if next.starts_with(&self.config.api_url) => next,
            Some(next) => {
                return Err(PortError::Rejected(format!(
                    "page {next:?} is not on {}",
                    self.config.api_url
                )));
            }
            None => {
                // GitHub compares at one-second resolution: ask from the start of that second.
                let since = timestamp(since_ms.max(0) - since_ms.max(0) % 1000);
                let u = reqwest::Url::parse_with_params(
                    &self.url(&format!("/repos/{}/issues", self.config.repo)),
                    &[
                        ("state", "all"),
                        ("sort", "updated"),
                        ("direction", "asc"),
                        ("since", since.as_str()),
                        ("per_page", "100"),
                    ],
                )
                .map_err(|e| PortError::Rejected(format!("listing url: {e}")))?;
                u.to_string()
            }
        };
        let (listing, next) = self.get(&url).await?;
        let issues: Vec<GhIssue> = Self::parse(listing)?;
        let items = issues
            .iter()
            .filter(|i| !i.is_pull_request())
            .map(|i| self.item(i, &[], &SyncAuthor::Nobody))
            .filter(|item| filter.as_ref().is_none_or(|f| f.matches(item)))
            .collect();
        Ok(ItemPage { items, next })
    }

    async fn register_webhook(&self, url: &str) -> PortResult<bool> {
        self.subscribe(url).await?;
        Ok(true)
    }

    fn throttled_ms(&self) -> u64 {
        self.gate.throttled_ms()
    }

    fn verify_webhook(
        &self,
        headers: &[(String, String)],
        body: &[u8],
        _now_ms: i64,
    ) -> Result<Vec<ChangeSignal>, WebhookError> {
        webhook::verify(&self.config.webhook_secret, headers, body)
    }
}
