//! Domain fields as GitHub's: state, milestone, assignee login, labels, body.

use super::GithubTracker;
use serde_json::{Value, json};
use std::collections::HashMap;
use twinsync_core::marker::with_origin;
use twinsync_core::{ItemUpdate, User};
use twinsync_ports::{PortError, PortResult};

impl GithubTracker {
    pub(super) fn login_of(&self, user: &User) -> Option<String> {
        let login = self.users.login(&user.email);
        if login.is_none() {
            tracing::warn!(instance = %self.instance, email = %user.email, "no GitHub login for this email in the users directory; the assignee is left as is");
        }
        login
    }

    pub(super) fn state(status: &str) -> PortResult<&'static str> {
        match status.to_ascii_lowercase().as_str() {
            "open" => Ok("open"),
            "closed" => Ok("closed"),
            other => Err(PortError::Rejected(format!(
                "GitHub issues are open or closed, not {other:?}: map the status in the rules"
            ))),
        }
    }

    pub(super) async fn milestone(&self, repo: &str, title: &str) -> PortResult<u64> {
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
    pub(super) async fn fields(
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
}
