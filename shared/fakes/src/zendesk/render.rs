//! The fake Zendesk's JSON: tickets, comments, attachments, people and groups as the
//! API reference shows them, cursor pagination, sideloads, and what Zendesk does to a
//! comment's HTML (sanitized, wrapped, a plain `body` derived from it).

use super::state::{CommentData, Data, Fake, TicketData, UserData};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// Seconds since the epoch as Zendesk writes timestamps.
pub(super) fn ts(secs: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

impl Fake {
    pub(super) fn ticket_json(&self, data: &Data, t: &TicketData) -> Value {
        let custom: Vec<Value> = data
            .fields
            .iter()
            .map(|(id, _)| json!({ "id": id, "value": t.custom.get(id).cloned().unwrap_or(Value::Null) }))
            .collect();
        json!({
            "id": t.id,
            "url": format!("{}/api/v2/tickets/{}.json", self.base, t.id),
            "external_id": t.external_id,
            "created_at": ts(t.created_s),
            "updated_at": ts(t.updated_s),
            "generated_timestamp": t.updated_s,
            "type": t.kind,
            "subject": t.subject,
            "raw_subject": t.subject,
            "description": t.comments.first().map(|c| c.body.clone()).unwrap_or_default(),
            "priority": t.priority,
            "status": t.status,
            "recipient": null,
            "requester_id": t.requester,
            "submitter_id": t.submitter,
            "assignee_id": t.assignee,
            "organization_id": null,
            "group_id": t.group,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "has_incidents": false,
            "is_public": t.comments.first().is_none_or(|c| c.public),
            "due_at": null,
            "tags": t.tags,
            "custom_fields": custom,
            "via": { "channel": "api" },
        })
    }

    pub(super) fn comment_json(&self, data: &Data, c: &CommentData) -> Value {
        let attachments: Vec<Value> = c
            .attachments
            .iter()
            .filter_map(|id| data.attachments.iter().find(|a| a.id == *id))
            .map(|a| self.attachment_json(a))
            .collect();
        json!({
            "id": c.id,
            "type": "Comment",
            "author_id": c.author,
            "body": c.body,
            "html_body": c.html_body,
            "plain_body": c.body,
            "public": c.public,
            "attachments": attachments,
            "audit_id": c.id + 1,
            "via": { "channel": "api" },
            "created_at": ts(c.created_s),
            "metadata": { "system": {}, "custom": {} },
        })
    }

    pub(super) fn attachment_json(&self, a: &super::state::AttachmentData) -> Value {
        json!({
            "id": a.id,
            "file_name": a.file_name,
            "content_url": format!("{}/attachments/token/{}/?name={}", self.base, a.token, a.file_name),
            "content_type": a.content_type,
            "size": a.bytes.len(),
            "inline": false,
            "deleted": false,
            "thumbnails": [],
        })
    }
}

pub(super) fn user_json(u: &UserData) -> Value {
    json!({ "id": u.id, "name": u.name, "email": u.email, "role": u.role, "active": true })
}

/// The sideloads `include` asks for (`users`, `groups`) for these people and groups.
pub(super) fn sideloads(
    data: &Data,
    include: Option<&String>,
    users: &BTreeSet<u64>,
    groups: &BTreeSet<u64>,
    out: &mut Value,
) {
    let wanted: Vec<&str> = include
        .map(|i| i.split(',').map(str::trim).collect())
        .unwrap_or_default();
    if wanted.contains(&"users") {
        out["users"] = data
            .users
            .iter()
            .filter(|u| users.contains(&u.id))
            .map(user_json)
            .collect();
    }
    if wanted.contains(&"groups") {
        out["groups"] = data
            .groups
            .iter()
            .filter(|(id, _)| groups.contains(id))
            .map(|(id, name)| json!({ "id": id, "name": name }))
            .collect();
    }
}

/// The people and group a ticket names, for sideloads.
pub(super) fn named_by(t: &TicketData, users: &mut BTreeSet<u64>, groups: &mut BTreeSet<u64>) {
    users.insert(t.requester);
    users.insert(t.submitter);
    users.extend(t.assignee);
    groups.extend(t.group);
}

/// One page of `all` under cursor pagination: `page[size]` (at most 100) from after
/// `page[after]` (an item's id). The page's JSON, or Zendesk's 400.
pub(super) fn page(
    base_url: &str,
    key: &str,
    all: Vec<(u64, Value)>,
    query: &HashMap<String, String>,
) -> Result<Value, Box<Response>> {
    let size = match query.get("page[size]").map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return Err(Box::new(super::guard::bad_payload(
                "page[size] must be a number between 1 and 100",
            )));
        }
    };
    let after: u64 = query
        .get("page[after]")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let rest: Vec<(u64, Value)> = all.into_iter().filter(|(id, _)| *id > after).collect();
    let has_more = rest.len() > size;
    let items: Vec<(u64, Value)> = rest.into_iter().take(size).collect();
    let last = items.last().map(|(id, _)| id.to_string());
    let next = match (&last, has_more) {
        (Some(l), true) => {
            let mut q: Vec<(String, String)> = query
                .iter()
                .filter(|(k, _)| k.as_str() != "page[after]")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            q.push(("page[after]".into(), l.clone()));
            let qs = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(q)
                .finish();
            Value::String(format!("{base_url}?{qs}"))
        }
        _ => Value::Null,
    };
    Ok(json!({
        key: items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
        "meta": { "has_more": has_more, "after_cursor": last, "before_cursor": null },
        "links": { "next": next, "prev": null },
    }))
}

/// What Zendesk keeps of a comment's HTML: HTML comments dropped, wrapped as the agent
/// UI shows it; and the plain `body` it derives.
pub(super) fn sanitize(html: &str) -> (String, String) {
    let mut clean = String::new();
    let mut rest = html;
    while let Some(at) = rest.find("<!--") {
        clean.push_str(&rest[..at]);
        rest = match rest[at..].find("-->") {
            Some(end) => &rest[at + end + 3..],
            None => "",
        };
    }
    clean.push_str(rest);
    let plain = plain_text(&clean);
    (
        format!("<div class=\"zd-comment\" dir=\"auto\">{clean}</div>"),
        plain,
    )
}

/// A plain `body` as HTML for `html_body`, one paragraph per blank-line block.
pub(super) fn html_of_plain(body: &str) -> String {
    body.split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", escape(p).replace('\n', "<br>")))
        .collect::<Vec<_>>()
        .join("")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn plain_text(html: &str) -> String {
    let mut out = String::new();
    let mut tag = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match (in_tag, ch) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag
                    .trim_start_matches('/')
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                let closing = tag.starts_with('/');
                if name == "br"
                    || (closing
                        && matches!(
                            name.as_str(),
                            "p" | "li" | "pre" | "blockquote" | "h1" | "h2" | "h3" | "div"
                        ))
                {
                    out.push('\n');
                    if name != "br" && name != "li" {
                        out.push('\n');
                    }
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    let text = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.dedup_by(|a, b| a.is_empty() && b.is_empty());
    lines.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zendesk_drops_html_comments_and_derives_a_plain_body() {
        let (html, plain) = sanitize(
            "<p>Hello <strong>you</strong></p>\n<!-- twinsync: x --><p>[twinsync-origin: a:b]</p>",
        );
        assert!(!html.contains("<!--"), "{html}");
        assert_eq!(plain, "Hello you\n\n[twinsync-origin: a:b]");
        assert_eq!(html_of_plain("a <b>\n\nc"), "<p>a &lt;b&gt;</p><p>c</p>");
    }
}
