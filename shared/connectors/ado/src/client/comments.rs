//! The work item comments API (`_apis/wit/workItems/{id}/comments`, api-version
//! 7.1-preview.4): pages follow `continuationToken`; comments are posted as Markdown
//! (`format=markdown`) with the origin marker as a hidden HTML comment at the end.

use super::{AdoTracker, COMMENTS_API_VERSION, segment};
use crate::mapping;
use serde_json::{Value, json};
use twinsync_core::Comment;
use twinsync_core::marker::{split_origin, with_origin};
use twinsync_ports::PortResult;

/// Comments per page, the API's largest.
const PAGE: &str = "200";

impl AdoTracker {
    fn comments_url(&self, project: &str, key: &str, rest: &str) -> String {
        self.project_api(
            project,
            &format!("/wit/workItems/{}/comments{rest}", segment(key)),
        )
    }

    /// The project of a work item read before, or the configured one.
    fn project_of(&self, key: &str) -> String {
        self.seen(key)
            .map(|s| s.project)
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.config.project.clone())
    }

    /// Every comment of a work item, oldest first, page by page.
    pub(super) async fn comments(&self, project: &str, key: &str) -> PortResult<Vec<Value>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("api-version", COMMENTS_API_VERSION.to_string()),
                ("$top", PAGE.to_string()),
                ("order", "asc".to_string()),
            ];
            if let Some(t) = &token {
                query.push(("continuationToken", t.clone()));
            }
            let page = self
                .send(
                    self.http
                        .get(self.comments_url(project, key, ""))
                        .query(&query),
                )
                .await?;
            out.extend(
                page["comments"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["isDeleted"] != true)
                    .cloned(),
            );
            match page["continuationToken"].as_str().filter(|t| !t.is_empty()) {
                Some(t) if token.as_deref() != Some(t) => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    pub(super) async fn post_comment(
        &self,
        key: &str,
        body: &str,
        origin: Option<&str>,
    ) -> PortResult<Comment> {
        let project = self.project_of(key);
        let created = self
            .send(
                self.http
                    .post(self.comments_url(&project, key, ""))
                    .query(&[
                        ("format", "markdown"),
                        ("api-version", COMMENTS_API_VERSION),
                    ])
                    .json(&json!({ "text": mapping::comment_text(body, origin) })),
            )
            .await?;
        let own = self.own_id().await?;
        let mut comment = mapping::comment(&created, &own);
        comment.body = body.to_string();
        comment.origin = origin.map(str::to_string);
        Ok(comment)
    }

    /// Edits a comment's text and keeps the origin marker it had.
    pub(super) async fn edit_comment(
        &self,
        key: &str,
        comment_id: &str,
        body: &str,
    ) -> PortResult<()> {
        let project = self.project_of(key);
        let url = self.comments_url(&project, key, &format!("/{}", segment(comment_id)));
        let current = self
            .send(
                self.http
                    .get(&url)
                    .query(&[("api-version", COMMENTS_API_VERSION)]),
            )
            .await?;
        let (_, origin) = split_origin(current["text"].as_str().unwrap_or(""));
        self.send(
            self.http
                .patch(&url)
                .query(&[
                    ("format", "markdown"),
                    ("api-version", COMMENTS_API_VERSION),
                ])
                .json(&json!({ "text": with_origin(body, origin.as_deref()) })),
        )
        .await?;
        Ok(())
    }

    /// Deletes a comment (`DELETE .../comments/{id}`); one already gone is no error.
    pub(super) async fn delete_comment_of(&self, key: &str, comment_id: &str) -> PortResult<()> {
        let project = self.project_of(key);
        let url = self.comments_url(&project, key, &format!("/{}", segment(comment_id)));
        let answer = self
            .send(
                self.http
                    .delete(&url)
                    .query(&[("api-version", COMMENTS_API_VERSION)]),
            )
            .await;
        twinsync_ports::gone_is_done(answer)
    }
}
