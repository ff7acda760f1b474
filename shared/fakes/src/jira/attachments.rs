//! The fake Jira's attachment routes: multipart uploads to an issue (which demand
//! `X-Atlassian-Token: no-check`, as Jira's XSRF check does) and the content download.

use super::guard::{caller_account, caller_email, issue_not_found, refused, visible_issue};
use super::state::{AttachmentData, Fake};
use crate::plumbing::{Refusal, now_ms};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

/// An uploaded file: its name, MIME type and bytes.
type Upload = (String, String, Vec<u8>);

pub(super) async fn add_attachments(
    State(fake): State<Arc<Fake>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    if headers
        .get("x-atlassian-token")
        .and_then(|v| v.to_str().ok())
        != Some("no-check")
    {
        return refused(StatusCode::FORBIDDEN, "XSRF check failed");
    }
    let files = match uploads(multipart).await {
        Ok(files) => files,
        Err(refusal) => return *refusal,
    };
    let mut data = fake.lock();
    let Some(mut issue) = visible_issue(&fake, &data, &headers, &key).cloned() else {
        return issue_not_found();
    };
    if files.is_empty() {
        return refused(
            StatusCode::BAD_REQUEST,
            "No attachments were found in the request.",
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
    issue.attachments.extend(made.iter().cloned());
    issue.touch(now);
    data.issues.insert(issue.id, issue.clone());
    let answer: Vec<Value> = made.iter().map(|a| fake.attachment(&data, a)).collect();
    fake.emit(&data, "jira:issue_updated", &issue, None, &me);
    axum::Json(Value::Array(answer)).into_response()
}

/// The `file` parts of an upload; Jira's 400 when one cannot be read.
async fn uploads(mut multipart: Multipart) -> Result<Vec<Upload>, Refusal> {
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
                let message = format!("Could not read the upload: {e}");
                return Err(Box::new(refused(StatusCode::BAD_REQUEST, &message)));
            }
        }
    }
    Ok(files)
}

pub(super) async fn attachment_content(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let data = fake.lock();
    let caller = caller_email(&headers);
    let found = data
        .issues
        .values()
        .filter(|i| fake.can_browse(caller, &i.project))
        .flat_map(|i| i.attachments.iter())
        .find(|a| a.id.to_string() == id);
    match found {
        Some(a) => ([("content-type", a.mime.clone())], a.bytes.clone()).into_response(),
        None => refused(StatusCode::NOT_FOUND, "The attachment does not exist."),
    }
}
