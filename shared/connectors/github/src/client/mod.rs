//! The REST client and the `Tracker` implementation. Requests go through `request.rs`
//! (budget, auth, limits, status → error); `fields.rs` turns domain fields into GitHub's.

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
use std::sync::Mutex;
use std::time::Duration;
use twinsync_connector_kit::RateGate;
use twinsync_connector_kit::outbound::{self};
use twinsync_core::marker::{split_origin, with_origin};
use twinsync_core::{Attachment, Comment, Filter, Item, ItemUpdate, User};
use twinsync_ports::{ChangeSignal, ItemPage, PortError, PortResult, Tracker, WebhookError};

pub use crate::config::{API_VERSION, USER_AGENT};

mod fields;
mod read;
mod request;
mod status;

use request::unreachable;

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
    /// The status comment's text last written per issue (`client/status.rs`).
    shown: twinsync_connector_kit::ShownMarks,
}

impl GithubTracker {
    pub fn new(instance: impl Into<String>, config: GithubConfig) -> Result<Self, GithubError> {
        config.check()?;
        let auth = Auth::from_config(config.token.as_deref(), config.app.as_ref())?;
        let http = outbound::tracker_client(
            &config.api_url,
            config.ca_file.as_deref(),
            Duration::from_secs(30),
        )
        .map_err(|e| GithubError::Http(e.to_string()))?;
        let gate = RateGate::from_config(config.requests_per_minute, config.burst)
            .map_err(GithubError::Config)?;
        Ok(Self {
            instance: instance.into(),
            users: Directory::new(config.users.clone()),
            config: GithubConfig {
                api_url: config.api_url.trim_end_matches('/').to_string(),
                ..config
            },
            auth,
            http,
            gate,
            origins: Mutex::new(HashMap::new()),
            milestones: tokio::sync::Mutex::new(HashMap::new()),
            sync_author: tokio::sync::OnceCell::new(),
            shown: twinsync_connector_kit::ShownMarks::default(),
        })
    }

    /// Time spent waiting for rate limits (ours and GitHub's), for metrics.
    pub fn throttled_ms(&self) -> u64 {
        self.gate.throttled_ms()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_url)
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

    fn item(&self, issue: &GhIssue, comments: &[GhComment], sync: &SyncAuthor) -> Item {
        // The status comment is the connector's, not a comment to sync.
        let key = key_of(&issue.repo(), issue.number);
        let (status, comments): (Vec<&GhComment>, Vec<&GhComment>) =
            comments.iter().partition(|c| status::is_status(c));
        if let Some(s) = status.first() {
            self.remember(format!("status:{key}"), Some(s.id.to_string()));
        }
        let comments: Vec<GhComment> = comments.into_iter().cloned().collect();
        let comments = comments.as_slice();
        let item = issue.to_item(comments, &self.users, sync);
        self.remember(item.key.clone(), item.origin.clone());
        for c in comments {
            let (_, origin) = split_origin(c.body.as_deref().unwrap_or(""));
            self.remember(format!("comment:{}", c.id), origin);
        }
        item
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
        // An answer about another issue (or none: `{}` reads as #0) must not be taken for
        // this one.
        if issue.number != number {
            return Err(PortError::Rejected(format!(
                "unexpected answer from GitHub: issue #{} for {key}",
                issue.number
            )));
        }
        if issue.is_pull_request() {
            return Ok(None);
        }
        // The issue says how many comments it has: skip the call when there are none.
        let comments = if issue.comments > 0 {
            match twinsync_ports::gone_is_none(self.comments(repo, number).await)? {
                Some(c) => c,
                None => return Ok(None),
            }
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
        let mut issue = Self::issue(created)?;
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
                .await
                .map_err(twinsync_connector_kit::after_create)?;
            issue = Self::issue(closed)?;
        }
        Ok(self.item(&issue, &[], &SyncAuthor::Nobody))
    }

    /// The create's one POST refused whole (a 429 or a secondary limit, or our budget
    /// before it left) made nothing; the calls before it are reads, the close after it
    /// maps its errors with `after_create`.
    fn create_refused_whole(&self, error: &PortError) -> bool {
        error.refused_whole()
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
        let issue = Self::issue(answer)?;
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

    /// One status comment per issue, edited in place (`client/status.rs`).
    async fn show_sync(&self, key: &str, mark: &twinsync_ports::SyncMark) -> PortResult<()> {
        self.show_status(key, mark).await
    }

    /// GitHub's REST API deletes comments but not issues (only an admin's GraphQL call
    /// can), so `delete_item` keeps the trait's refusal and the policy closes the issue.
    async fn delete_comment(&self, key: &str, comment_id: &str) -> PortResult<()> {
        let (repo, _) = Self::key_parts(key)?;
        let url = self.url(&format!("/repos/{repo}/issues/comments/{comment_id}"));
        twinsync_ports::gone_is_done(self.send(reqwest::Method::DELETE, &url, None).await)
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
        let recent = Self::issues(&recent, "")?;
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
        let items = Self::issues(&found, "items")?;
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
        let issues = Self::issues(&listing, "")?;
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
