//! The fake Zendesk's ticket routes: create, show, update (fields, a comment, safe
//! updates, closed tickets), list (by `external_id` too) and a ticket's comments.

use super::guard::{caller_id, error, invalid, json_body, not_found};
use super::render::{self, named_by, page, sanitize, sideloads};
use super::state::{CommentData, Data, Fake, PRIORITIES, STATUSES, TYPES, TicketData};
use crate::plumbing::now_ms;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

type Refusal = Box<Response>;

/// A ticket id from the path, `.json` or not.
fn ticket_id(raw: &str) -> Option<u64> {
    raw.strip_suffix(".json").unwrap_or(raw).parse().ok()
}

/// One of `allowed`, or null; anything else is Zendesk's 422 about `field`.
fn one_of(v: &Value, field: &str, allowed: &[&str]) -> Result<Option<String>, Refusal> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        other => Err(Box::new(invalid(
            field,
            &format!("{field}: {other} is not valid"),
        ))),
    }
}

fn user_field(data: &Data, v: &Value, field: &str, agent: bool) -> Result<Option<u64>, Refusal> {
    match v {
        Value::Null => Ok(None),
        v => match v.as_u64().and_then(|id| data.user(id)) {
            Some(u) if !agent || u.role == "agent" => Ok(Some(u.id)),
            Some(_) => Err(Box::new(invalid(field, "Assignee is not an agent"))),
            None => Err(Box::new(invalid(
                field,
                &format!("{field}: {v} is invalid"),
            ))),
        },
    }
}

/// Applies the writable fields of `t` to `ticket`, refusing what Zendesk refuses.
fn apply(data: &Data, ticket: &mut TicketData, t: &Map<String, Value>) -> Result<(), Refusal> {
    for (k, v) in t {
        match k.as_str() {
            "subject" => ticket.subject = v.as_str().unwrap_or("").to_string(),
            "status" => {
                ticket.status = one_of(v, "status", &STATUSES)?
                    .ok_or_else(|| Box::new(invalid("status", "Status: cannot be blank")))?
            }
            "priority" => ticket.priority = one_of(v, "priority", &PRIORITIES)?,
            "type" => ticket.kind = one_of(v, "type", &TYPES)?,
            "tags" => {
                let mut tags: Vec<String> = Vec::new();
                for tag in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    // Zendesk keeps tags lower case, spaces split them.
                    for t in tag.split_whitespace().map(str::to_ascii_lowercase) {
                        if !tags.contains(&t) {
                            tags.push(t);
                        }
                    }
                }
                ticket.tags = tags;
            }
            "assignee_id" => ticket.assignee = user_field(data, v, "assignee", true)?,
            "requester_id" => {
                ticket.requester = user_field(data, v, "requester", false)?
                    .ok_or_else(|| Box::new(invalid("requester", "Requester: cannot be blank")))?
            }
            "group_id" => {
                ticket.group = match v {
                    Value::Null => None,
                    v => Some(
                        v.as_u64()
                            .filter(|g| data.groups.iter().any(|(id, _)| id == g))
                            .ok_or_else(|| Box::new(invalid("group", "Group: is invalid")))?,
                    ),
                }
            }
            "external_id" => ticket.external_id = v.as_str().map(str::to_string),
            "custom_fields" => {
                for f in v.as_array().into_iter().flatten() {
                    match f["id"]
                        .as_u64()
                        .filter(|id| data.fields.iter().any(|(f, _)| f == id))
                    {
                        Some(id) => {
                            ticket.custom.insert(id, f["value"].clone());
                        }
                        None => {
                            return Err(Box::new(invalid(
                                "custom_fields",
                                "Custom field: is invalid",
                            )));
                        }
                    }
                }
            }
            // Read by the handlers, or read-only fields Zendesk ignores on write.
            _ => {}
        }
    }
    Ok(())
}

/// The comment a create or update carries, if any: sanitized, with its uploads.
fn comment_of(
    data: &mut Data,
    t: &Map<String, Value>,
    author: u64,
) -> Result<Option<CommentData>, Refusal> {
    let Some(c) = t.get("comment") else {
        return Ok(None);
    };
    let (html_body, body) = match (c["html_body"].as_str(), c["body"].as_str()) {
        (Some(h), _) if !h.trim().is_empty() => sanitize(h),
        (_, Some(b)) if !b.trim().is_empty() => sanitize(&render::html_of_plain(b)),
        _ => return Err(Box::new(invalid("comment", "Comment: cannot be blank"))),
    };
    let mut attachments = Vec::new();
    for token in c["uploads"].as_array().into_iter().flatten() {
        let ids = token
            .as_str()
            .and_then(|t| data.uploads.remove(t))
            .ok_or_else(|| Box::new(invalid("uploads", "Uploads: token is invalid or expired")))?;
        attachments.extend(ids);
    }
    Ok(Some(CommentData {
        id: data.id(),
        author: c["author_id"].as_u64().unwrap_or(author),
        html_body,
        body,
        public: c["public"].as_bool().unwrap_or(true),
        attachments,
        created_s: now_ms() / 1000,
    }))
}

/// Zendesk's audit of a write that added `comment`.
fn audit(fake: &Fake, data: &Data, ticket: &TicketData, comment: Option<&CommentData>) -> Value {
    let events: Vec<Value> = comment
        .map(|c| {
            let mut e = fake.comment_json(data, c);
            e["type"] = json!("Comment");
            vec![e]
        })
        .unwrap_or_default();
    json!({
        "id": data.next_id + 1,
        "ticket_id": ticket.id,
        "created_at": render::ts(ticket.updated_s),
        "author_id": comment.map(|c| c.author),
        "events": events,
        "via": { "channel": "api" },
    })
}

fn ticket_root(body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    let v = json_body(body)?;
    v["ticket"].as_object().cloned().ok_or_else(|| {
        Box::new(super::guard::bad_payload(
            "the body must be a ticket object",
        ))
    })
}

pub(super) async fn create(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = match ticket_root(&body) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut data = fake.lock();
    let caller = caller_id(&data, &headers);
    let now = now_ms() / 1000;
    let id = data.id();
    let mut ticket = TicketData {
        id,
        subject: String::new(),
        status: if t.get("assignee_id").is_some_and(|a| !a.is_null()) {
            "open"
        } else {
            "new"
        }
        .into(),
        priority: None,
        kind: None,
        tags: Vec::new(),
        assignee: None,
        requester: caller,
        submitter: caller,
        group: None,
        custom: BTreeMap::new(),
        external_id: None,
        comments: Vec::new(),
        created_s: now,
        updated_s: now,
        change: 0,
    };
    // A ticket starts with its description, the first comment.
    if !t.contains_key("comment") {
        return invalid("base", "Description: cannot be blank");
    }
    if t.get("status").and_then(Value::as_str) == Some("closed") {
        return invalid("status", "Status: closed is not valid for a new ticket");
    }
    if let Err(r) = apply(&data, &mut ticket, &t) {
        return *r;
    }
    let comment = match comment_of(&mut data, &t, caller) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    ticket.comments.extend(comment.clone());
    data.tickets.insert(id, ticket);
    data.touch(id);
    let Some(ticket) = data.tickets.get(&id) else {
        return not_found("RecordNotFound");
    };
    let answer = json!({
        "ticket": fake.ticket_json(&data, ticket),
        "audit": audit(&fake, &data, ticket, comment.as_ref()),
    });
    fake.notify(&data, id);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub(super) async fn show(
    State(fake): State<Arc<Fake>>,
    Path(raw): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let Some(t) = ticket_id(&raw).and_then(|id| data.tickets.get(&id)) else {
        return not_found("RecordNotFound");
    };
    let mut out = json!({ "ticket": fake.ticket_json(&data, t) });
    let (mut users, mut groups) = (BTreeSet::new(), BTreeSet::new());
    named_by(t, &mut users, &mut groups);
    sideloads(&data, query.get("include"), &users, &groups, &mut out);
    axum::Json(out).into_response()
}

pub(super) async fn update(
    State(fake): State<Arc<Fake>>,
    Path(raw): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = match ticket_root(&body) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let mut data = fake.lock();
    let caller = caller_id(&data, &headers);
    let Some(mut ticket) = ticket_id(&raw)
        .and_then(|id| data.tickets.get(&id))
        .cloned()
    else {
        return not_found("RecordNotFound");
    };
    if ticket.status == "closed" {
        return invalid("status", "Status: closed prevents ticket update");
    }
    // Safe update: the stamp must be the `updated_at` the ticket has now.
    if t.get("safe_update").and_then(Value::as_bool) == Some(true) {
        let stamp = t.get("updated_stamp").and_then(Value::as_str);
        if stamp != Some(render::ts(ticket.updated_s).as_str()) {
            return error(
                StatusCode::CONFLICT,
                "UpdateConflict",
                "Safe Update prevented the update due to outdated ticket data. Please fetch the latest ticket data and try again.",
            );
        }
    }
    if let Err(r) = apply(&data, &mut ticket, &t) {
        return *r;
    }
    let comment = match comment_of(&mut data, &t, caller) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    ticket.comments.extend(comment.clone());
    let id = ticket.id;
    data.tickets.insert(id, ticket);
    data.touch(id);
    let Some(ticket) = data.tickets.get(&id) else {
        return not_found("RecordNotFound");
    };
    let answer = json!({
        "ticket": fake.ticket_json(&data, ticket),
        "audit": audit(&fake, &data, ticket, comment.as_ref()),
    });
    fake.notify(&data, id);
    axum::Json(answer).into_response()
}

pub(super) async fn list(
    State(fake): State<Arc<Fake>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let external = query.get("external_id");
    let all: Vec<(u64, Value)> = data
        .tickets
        .values()
        .filter(|t| external.is_none_or(|e| t.external_id.as_ref() == Some(e)))
        .map(|t| (t.id, fake.ticket_json(&data, t)))
        .collect();
    match page(
        &format!("{}/api/v2/tickets.json", fake.base),
        "tickets",
        all,
        &query,
    ) {
        Ok(v) => axum::Json(v).into_response(),
        Err(r) => *r,
    }
}

pub(super) async fn comments(
    State(fake): State<Arc<Fake>>,
    Path(raw): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let data = fake.lock();
    let Some(t) = ticket_id(&raw).and_then(|id| data.tickets.get(&id)) else {
        return not_found("RecordNotFound");
    };
    let all: Vec<(u64, Value)> = t
        .comments
        .iter()
        .map(|c| (c.id, fake.comment_json(&data, c)))
        .collect();
    let url = format!("{}/api/v2/tickets/{}/comments.json", fake.base, t.id);
    let mut out = match page(&url, "comments", all, &query) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let users: BTreeSet<u64> = t.comments.iter().map(|c| c.author).collect();
    sideloads(
        &data,
        query.get("include"),
        &users,
        &BTreeSet::new(),
        &mut out,
    );
    axum::Json(out).into_response()
}

/// `PUT /api/v2/tickets/{ticket_id}/comments/{comment_id}/redact`: every occurrence of
/// `text` in the comment becomes `▇` characters, one per character (Zendesk's
/// "Redact string in comment"). Text the comment does not contain is refused.
pub(super) async fn redact(
    State(fake): State<Arc<Fake>>,
    Path((raw, comment)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let text = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["text"].as_str().map(str::to_string))
        .filter(|t| !t.is_empty());
    let Some(text) = text else {
        return invalid("text", "Text can't be blank");
    };
    let comment_id = comment.trim_end_matches(".json").parse::<u64>().ok();
    let mut data = fake.lock();
    let Some(id) = ticket_id(&raw).filter(|id| data.tickets.contains_key(id)) else {
        return not_found("RecordNotFound");
    };
    let Some(c) = data
        .tickets
        .get_mut(&id)
        .and_then(|t| t.comments.iter_mut().find(|c| Some(c.id) == comment_id))
    else {
        return not_found("RecordNotFound");
    };
    if !c.body.contains(&text) {
        return invalid("text", "Text was not found in the comment");
    }
    let blocks: String = text.chars().map(|_| '▇').collect();
    c.body = c.body.replace(&text, &blocks);
    c.html_body = c.html_body.replace(&text, &blocks);
    let redacted = c.clone();
    let answer = json!({"comment": fake.comment_json(&data, &redacted)});
    data.touch(id);
    fake.notify(&data, id);
    axum::Json(answer).into_response()
}

/// `DELETE /api/v2/tickets/{id}`: 204; the ticket goes to the deleted tickets view, where
/// the API no longer shows it (the fake forgets it). A ticket already deleted is a 404.
pub(super) async fn delete(State(fake): State<Arc<Fake>>, Path(raw): Path<String>) -> Response {
    let mut data = fake.lock();
    match ticket_id(&raw).and_then(|id| data.tickets.remove(&id)) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found("RecordNotFound"),
    }
}
