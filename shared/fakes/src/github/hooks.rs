//! The fake GitHub's other routes: repository hooks, issue search, app installation
//! tokens and the rate limit's state.

use super::RepoPath;
use super::guard::{
    Input, caller, error, invalid, invalid_because, login_of, not_found, page_params,
};
use super::state::{Fake, Hook, IssueData};
use crate::plumbing::{now_ms, strings};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use twinsync_github::auth::AppClaims;
use twinsync_github::mapping::timestamp as ts;

pub(super) async fn create_hook(
    State(fake): State<Arc<Fake>>,
    Path((owner, name)): RepoPath,
    headers: HeaderMap,
    Input(input): Input,
) -> Response {
    let repo = format!("{owner}/{name}");
    let Some(url) = input["config"]["url"].as_str().map(str::to_string) else {
        return invalid("Hook", "url", "missing_field");
    };
    let events = strings(&input["events"]).unwrap_or_else(|| vec!["push".into()]);
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
    let ping = json!({"zen": "Keep it logically awesome.", "hook_id": id, "hook": hook});
    fake.emit(&data, &repo, "ping", ping, &login);
    (StatusCode::CREATED, axum::Json(hook)).into_response()
}

/// A search query taken apart: `repo:`, `is:` and `in:` qualifiers, and the terms
/// ("quoted phrases" and bare words, lower-cased).
#[derive(Default)]
struct SearchQuery {
    repos: Vec<String>,
    is: Vec<String>,
    within: Vec<String>,
    terms: Vec<String>,
}

impl SearchQuery {
    fn parse(query: &str) -> SearchQuery {
        let mut q = SearchQuery::default();
        let mut rest = query;
        while let Some(c) = rest.chars().next() {
            if c.is_whitespace() {
                rest = &rest[c.len_utf8()..];
            } else if c == '"' {
                let end = rest[1..].find('"').map(|e| e + 1).unwrap_or(rest.len());
                q.terms.push(rest[1..end].to_lowercase());
                rest = rest.get(end + 1..).unwrap_or("");
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let word = &rest[..end];
                match word.split_once(':') {
                    Some(("repo", r)) => q.repos.push(r.to_string()),
                    Some(("is", v)) => q.is.push(v.to_string()),
                    Some(("in", v)) => q.within.push(v.to_string()),
                    _ => q.terms.push(word.to_lowercase()),
                }
                rest = &rest[end..];
            }
        }
        q
    }

    /// Whether `i` is found: of the kind asked for (`is:issue`, `is:pr`), with every
    /// term in the title or body (or where `in:` says).
    fn finds(&self, i: &IssueData) -> bool {
        if (self.is.iter().any(|v| v == "issue") && i.pull_request)
            || (self.is.iter().any(|v| v == "pr") && !i.pull_request)
        {
            return false;
        }
        let mut text = String::new();
        if self.within.is_empty() || self.within.iter().any(|w| w == "title") {
            text.push_str(&i.title.to_lowercase());
        }
        if self.within.is_empty() || self.within.iter().any(|w| w == "body") {
            text.push(' ');
            text.push_str(&i.body.clone().unwrap_or_default().to_lowercase());
        }
        self.terms.iter().all(|t| text.contains(t.as_str()))
    }
}

/// Why GitHub refuses a search before running it (docs.github.com/rest/search/search):
/// terms over 256 characters, results past the first 1,000, or a `repo:` the caller
/// cannot see (all 422).
fn refused_search(
    query: &SearchQuery,
    reachable: &[&String],
    page: (usize, usize),
) -> Option<Response> {
    let text: usize = query.terms.iter().map(|t| t.chars().count()).sum();
    if text > 256 {
        return Some(invalid_because(
            "Search",
            "q",
            "The search is longer than 256 characters.",
        ));
    }
    let (per_page, page) = page;
    if (page - 1) * per_page >= 1000 {
        return Some(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Only the first 1000 search results are available",
        ));
    }
    let hidden = query.repos.iter().any(|r| !reachable.contains(&r));
    hidden.then(|| {
        invalid_because(
            "Search",
            "q",
            "The listed users and repositories cannot be searched either because the resources do not exist or you do not have permission to view them.",
        )
    })
}

pub(super) async fn search_issues(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(query) = q.get("q").filter(|s| !s.trim().is_empty()) else {
        return invalid("Search", "q", "missing");
    };
    let query = SearchQuery::parse(query);
    let data = fake.lock();
    let token = caller(&fake, &data, &headers)
        .map(|(t, _)| t)
        .unwrap_or_default();
    let reachable: Vec<&String> = data
        .repos
        .keys()
        .filter(|r| fake.options.reach(&token, r).is_some())
        .collect();
    let (per_page, page) = page_params(&q);
    if let Some(refused) = refused_search(&query, &reachable, (per_page, page)) {
        return refused;
    }
    // The search index lags behind writes, as GitHub's does.
    let visible_before = now_ms() - fake.options.search_lag_ms;
    let mut items = Vec::new();
    for name in reachable
        .iter()
        .filter(|n| query.repos.is_empty() || query.repos.contains(n))
    {
        let r = &data.repos[*name];
        for i in r.issues.values() {
            if i.created_ms <= visible_before && query.finds(i) {
                let mut v = fake.issue(name, r, i);
                v["score"] = json!(1.0);
                items.push(v);
            }
        }
    }
    let total = items.len();
    let items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    axum::Json(json!({"total_count": total, "incomplete_results": false, "items": items, "search_type": "lexical"}))
        .into_response()
}

pub(super) async fn installation_token(
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
    if let Err((status, message)) = check_app_jwt(&headers, app_id, &pem) {
        return error(status, &message);
    }
    let token = format!("ghs_{}", uuid::Uuid::new_v4().simple());
    let expires = now_ms() + fake.options.token_ttl_ms();
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

/// `GET /app`: the authenticated app, called with its JWT. Its `slug` names the account
/// its installations write as (`{slug}[bot]`).
/// <https://docs.github.com/en/rest/apps/apps#get-the-authenticated-app>
pub(super) async fn the_app(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let Some((app_id, _, pem)) = fake.options.app.clone() else {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    };
    if let Err((status, message)) = check_app_jwt(&headers, app_id, &pem) {
        return error(status, &message);
    }
    axum::Json(json!({
        "id": app_id,
        "slug": super::guard::APP_SLUG,
        "name": "twinsync",
        "owner": {"login": "twinsync-org", "id": 1, "type": "Organization"},
        "permissions": {"issues": "write", "metadata": "read"},
        "events": ["issues", "issue_comment"],
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z"
    }))
    .into_response()
}

/// Checks the app's JWT as GitHub does: RS256 under the app's key, issued by the app,
/// living at most ten minutes; the error is GitHub's status and message otherwise.
fn check_app_jwt(headers: &HeaderMap, app_id: u64, pem: &str) -> Result<(), (StatusCode, String)> {
    let jwt = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) else {
        let message = "bad app key in the fake".to_string();
        return Err((StatusCode::INTERNAL_SERVER_ERROR, message));
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.leeway = 60;
    let claims = jsonwebtoken::decode::<AppClaims>(jwt, &key, &validation)
        .map_err(|e| {
            let message = format!("A JSON web token could not be decoded ({e})");
            (StatusCode::UNAUTHORIZED, message)
        })?
        .claims;
    if claims.iss != app_id.to_string() || claims.exp - claims.iat > 600 {
        let message = "'Expiration time' claim ('exp') is too far in the future";
        return Err((StatusCode::UNAUTHORIZED, message.to_string()));
    }
    Ok(())
}

pub(super) async fn rate_limit(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let data = fake.lock();
    let limit = fake.options.hourly_limit();
    let token = caller(&fake, &data, &headers)
        .map(|(t, _)| t)
        .unwrap_or_default();
    let window = |resource: &str, limit: u32, secs: i64| {
        let (used, reset) = data
            .used
            .get(&format!("{resource}:{token}"))
            .copied()
            .unwrap_or((0, now_ms() / 1000 + secs));
        json!({"limit": limit, "used": used, "remaining": limit.saturating_sub(used), "reset": reset})
    };
    let core = window("core", limit, 3600);
    let search = window("search", 30, 60);
    axum::Json(json!({"resources": {"core": core, "search": search}, "rate": core})).into_response()
}

/// `GET /user`: the token's own account, as GitHub's public-user. An app installation has
/// no user behind it: GitHub answers 403.
pub(super) async fn authenticated_user(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
) -> Response {
    let login = login_of(&fake, &fake.lock(), &headers);
    if login.ends_with("[bot]") {
        return error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        );
    }
    let mut user = fake.user(&login);
    let created = ts(0);
    if let Some(u) = user.as_object_mut() {
        for (key, value) in [
            ("name", Value::Null),
            ("company", Value::Null),
            ("blog", json!("")),
            ("location", Value::Null),
            ("email", Value::Null),
            ("hireable", Value::Null),
            ("bio", Value::Null),
            ("public_repos", json!(0)),
            ("public_gists", json!(0)),
            ("followers", json!(0)),
            ("following", json!(0)),
            ("created_at", json!(created)),
            ("updated_at", json!(created)),
        ] {
            u.insert(key.into(), value);
        }
    }
    axum::Json(user).into_response()
}
