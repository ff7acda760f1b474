//! The fake GitHub's state: repositories with their issues, comments and milestones, the
//! hooks, the tokens' request counts; how each thing looks in GitHub's JSON; and the
//! webhook deliveries a change sends.

use super::{FakeGithub, FakeOptions, Fault};
use crate::deliveries::Outgoing;
use crate::plumbing::{Traffic, now_ms};
use crate::server::Shared;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use twinsync_github::mapping::timestamp as ts;

#[derive(Clone)]
pub(super) struct IssueData {
    pub(super) id: u64,
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: Option<String>,
    pub(super) state: String,
    pub(super) state_reason: Option<String>,
    pub(super) labels: Vec<String>,
    pub(super) assignees: Vec<String>,
    pub(super) user: String,
    pub(super) milestone: Option<u64>,
    pub(super) comments: u64,
    pub(super) created_ms: i64,
    pub(super) updated_ms: i64,
    pub(super) closed_ms: Option<i64>,
    pub(super) pull_request: bool,
}

impl IssueData {
    /// A new open issue by `user`, with nothing but its title, made at `now`.
    pub(super) fn open(id: u64, number: u64, title: String, user: &str, now: i64) -> IssueData {
        IssueData {
            id,
            number,
            title,
            body: None,
            state: "open".into(),
            state_reason: None,
            labels: Vec::new(),
            assignees: Vec::new(),
            user: user.to_string(),
            milestone: None,
            comments: 0,
            created_ms: now,
            updated_ms: now,
            closed_ms: None,
            pull_request: false,
        }
    }
}

#[derive(Clone)]
pub(super) struct CommentData {
    pub(super) id: u64,
    pub(super) number: u64,
    pub(super) body: String,
    pub(super) user: String,
    pub(super) created_ms: i64,
    pub(super) updated_ms: i64,
}

#[derive(Default)]
pub(super) struct RepoData {
    pub(super) id: u64,
    pub(super) issues: BTreeMap<u64, IssueData>,
    pub(super) comments: BTreeMap<u64, CommentData>,
    pub(super) milestones: Vec<(u64, String)>,
}

impl RepoData {
    /// The number the next issue or pull request gets.
    pub(super) fn next_number(&self) -> u64 {
        self.issues.keys().next_back().copied().unwrap_or(0) + 1
    }
}

pub(super) struct Hook {
    pub(super) id: u64,
    pub(super) repo: String,
    pub(super) url: String,
    pub(super) secret: String,
    pub(super) events: Vec<String>,
}

/// Everything the fake holds, under one lock.
#[derive(Default)]
pub struct Data {
    pub(super) repos: HashMap<String, RepoData>,
    pub(super) seq: u64,
    pub(super) hooks: Vec<Hook>,
    /// Requests used per token in the current hour, and when that hour ends (s).
    pub(super) used: HashMap<String, (u32, i64)>,
    pub(super) installation_tokens: HashMap<String, i64>,
}

/// The fake's state, shared by its handlers.
pub(super) type Fake = Shared<FakeOptions, Data, Fault>;

/// The state of a fake reachable at `base` with the repositories `options` names.
pub(super) fn fake(base: String, options: FakeOptions) -> Fake {
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
    let traffic = Traffic::start("GitHub", 1 << 20, 16 << 20);
    Shared::new(base, options, data, traffic)
}

/// An id made from `name`, the same every time, as GitHub's ids are stable.
fn stable_id(seed: u64, name: &str) -> u64 {
    name.bytes()
        .fold(seed, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
        % 1_000_000
}

/// How the state looks in GitHub's JSON, and the deliveries a change sends.
impl Fake {
    pub(super) fn user(&self, login: &str) -> Value {
        let id = stable_id(7, login);
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

    pub(super) fn label(&self, repo: &str, name: &str) -> Value {
        let id = stable_id(3, name);
        json!({
            "id": id, "node_id": format!("LA_{id}"),
            "url": format!("{}/repos/{repo}/labels/{name}", self.base),
            "name": name, "description": null, "color": "ededed", "default": false
        })
    }

    pub(super) fn issue(&self, repo: &str, data: &RepoData, i: &IssueData) -> Value {
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

    pub(super) fn milestone(&self, repo: &str, number: u64, title: &str) -> Value {
        let url = format!("{}/repos/{repo}/milestones/{number}", self.base);
        json!({
            "url": url, "html_url": format!("https://github.com/{repo}/milestone/{number}"),
            "labels_url": format!("{url}/labels"), "id": number, "node_id": format!("MI_{number}"),
            "number": number, "state": "open", "title": title, "description": null,
            "creator": null, "open_issues": 0, "closed_issues": 0,
            "created_at": ts(0), "updated_at": ts(0), "closed_at": null, "due_on": null
        })
    }

    pub(super) fn comment(&self, repo: &str, c: &CommentData) -> Value {
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
    pub(super) fn emit(
        &self,
        data: &Data,
        repo: &str,
        event: &str,
        mut payload: Value,
        actor: &str,
    ) {
        let Some(r) = data.repos.get(repo) else {
            return;
        };
        payload["repository"] = self.repository(repo, r);
        payload["sender"] = self.user(actor);
        for h in data.hooks.iter().filter(|h| h.repo == repo) {
            if event == "ping" || h.events.iter().any(|e| e == event || e == "*") {
                self.traffic.outbox.send(Outgoing {
                    url: h.url.clone(),
                    event: event.to_string(),
                    headers: delivery_headers(h, event, &payload),
                    payload: payload.clone(),
                });
            }
        }
    }
}

/// GitHub's headers on a delivery to `hook` (docs: "Webhook events and payloads",
/// delivery headers), signed when the hook has a secret.
fn delivery_headers(hook: &Hook, event: &str, payload: &Value) -> Vec<(String, String)> {
    let mut headers = vec![
        ("content-type".into(), "application/json".into()),
        ("user-agent".into(), "GitHub-Hookshot/fake".into()),
        ("x-github-event".into(), event.to_string()),
        ("x-github-delivery".into(), uuid::Uuid::new_v4().to_string()),
        ("x-github-hook-id".into(), hook.id.to_string()),
        (
            "x-github-hook-installation-target-type".into(),
            "repository".into(),
        ),
    ];
    if !hook.secret.is_empty() {
        let body = payload.to_string();
        headers.push((
            "x-hub-signature-256".into(),
            twinsync_github::webhook::sign(&hook.secret, body.as_bytes()),
        ));
    }
    headers
}

/// What tests and the demo set up and read behind the API's back.
impl FakeGithub {
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
        let number = r.next_number();
        let pull_request = IssueData {
            pull_request: true,
            ..IssueData::open(id, number, title.to_string(), author, now_ms())
        };
        r.issues.insert(number, pull_request);
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
