//! The helpers scripts call: nodeHelper, commentHelper, attachmentHelper.

use rhai::{Array, Dynamic, Engine, Map};
use twinsync_core::{Attachment, Comment, CommentLink, NodeHelperMaps};

/// Maps remote statuses, priorities and users to local ones.
#[derive(Debug, Clone)]
pub struct NodeHelper {
    maps: NodeHelperMaps,
}

impl NodeHelper {
    pub fn new(maps: NodeHelperMaps) -> Self {
        Self { maps }
    }
}

/// Merges replica comments into the local ones without duplicates.
#[derive(Debug, Clone)]
pub struct CommentHelper {
    links: Vec<CommentLink>,
    origin_prefix: String,
}

impl CommentHelper {
    pub fn new(links: Vec<CommentLink>, origin_prefix: String) -> Self {
        Self {
            links,
            origin_prefix,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AttachmentHelper;

fn lookup(map: &std::collections::BTreeMap<String, String>, name: &str) -> String {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| name.to_string())
}

fn named(map: &std::collections::BTreeMap<String, String>, name: Dynamic) -> Dynamic {
    match name.into_string() {
        Ok(n) if !n.is_empty() => {
            let mut m = Map::new();
            m.insert("name".into(), lookup(map, &n).into());
            Dynamic::from_map(m)
        }
        _ => Dynamic::UNIT,
    }
}

fn user(maps: &NodeHelperMaps, email: Dynamic, display_name: Dynamic) -> Dynamic {
    match email.into_string() {
        Ok(e) if !e.is_empty() => {
            let mapped = lookup(&maps.users, &e);
            let mut m = Map::new();
            m.insert("email".into(), mapped.clone().into());
            let display = display_name.into_string().unwrap_or(mapped);
            m.insert("displayName".into(), display.into());
            Dynamic::from_map(m)
        }
        _ => Dynamic::UNIT,
    }
}

fn list<T: serde::de::DeserializeOwned>(
    value: Option<&Dynamic>,
) -> Result<Vec<T>, Box<rhai::EvalAltResult>> {
    match value {
        None => Ok(Vec::new()),
        Some(v) if v.is_unit() => Ok(Vec::new()),
        Some(v) => rhai::serde::from_dynamic(v),
    }
}

impl CommentHelper {
    fn merge(&self, issue: &Map, replica: &Map) -> Result<Array, Box<rhai::EvalAltResult>> {
        let mut out: Vec<Comment> = list(issue.get("comments"))?;
        let incoming: Vec<Comment> = list(replica.get("comments"))?;
        for rc in incoming {
            if rc.id.is_empty() {
                continue;
            }
            let origin = format!("{}{}", self.origin_prefix, rc.id);
            let linked = self
                .links
                .iter()
                .find(|l| l.remote_id == rc.id)
                .map(|l| l.local_id.clone());
            if linked
                .as_ref()
                .is_some_and(|id| !id.is_empty() && !out.iter().any(|c| &c.id == id))
            {
                // Its twin comment here was deleted: the removal travels the other way,
                // and writing the comment again would undo it.
                continue;
            }
            let target = linked
                .filter(|id| out.iter().any(|c| &c.id == id))
                .or_else(|| {
                    rc.remote_id
                        .clone()
                        .filter(|id| out.iter().any(|c| &c.id == id))
                })
                .or_else(|| {
                    out.iter()
                        .find(|c| {
                            c.origin.as_deref() == Some(origin.as_str())
                                || (c.id.is_empty()
                                    && c.remote_id.as_deref() == Some(rc.id.as_str()))
                        })
                        .map(|c| c.id.clone())
                });
            match target {
                Some(local_id) => {
                    if let Some(c) = out.iter_mut().find(|c| {
                        c.id == local_id
                            && (!local_id.is_empty()
                                || c.remote_id.as_deref() == Some(rc.id.as_str()))
                    }) {
                        if c.body != rc.body {
                            c.body = rc.body.clone();
                        }
                        c.remote_id = Some(rc.id.clone());
                    }
                }
                None => out.push(Comment {
                    id: String::new(),
                    author: rc.author.clone(),
                    body: rc.body.clone(),
                    created_ms: rc.created_ms,
                    origin: Some(origin),
                    remote_id: Some(rc.id.clone()),
                    internal: rc.internal,
                }),
            }
        }
        to_array(&out)
    }
}

fn merge_attachments(issue: &Map, replica: &Map) -> Result<Array, Box<rhai::EvalAltResult>> {
    let mut out: Vec<Attachment> = list(issue.get("attachments"))?;
    let incoming: Vec<Attachment> = list(replica.get("attachments"))?;
    for ra in incoming {
        let known = out.iter().any(|a| {
            a.remote_id.as_deref() == Some(ra.id.as_str())
                || ra.remote_id.as_deref().is_some_and(|r| r == a.id)
                || (a.filename == ra.filename && a.size == ra.size)
        });
        if !known {
            out.push(Attachment {
                id: String::new(),
                remote_id: Some(ra.id.clone()),
                ..ra
            });
        }
    }
    to_array(&out)
}

fn to_array<T: serde::Serialize>(items: &[T]) -> Result<Array, Box<rhai::EvalAltResult>> {
    let d = rhai::serde::to_dynamic(items)?;
    Ok(d.into_array().unwrap_or_default())
}

pub fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<NodeHelper>("NodeHelper")
        .register_fn("getStatus", |h: &mut NodeHelper, name: Dynamic| {
            named(&h.maps.statuses, name)
        })
        .register_fn("getPriority", |h: &mut NodeHelper, name: Dynamic| {
            named(&h.maps.priorities, name)
        })
        .register_fn("getUserByEmail", |h: &mut NodeHelper, email: Dynamic| {
            user(&h.maps, email, Dynamic::UNIT)
        })
        .register_fn(
            "getUserByEmail",
            |h: &mut NodeHelper, email: Dynamic, name: Dynamic| user(&h.maps, email, name),
        );
    engine
        .register_type_with_name::<CommentHelper>("CommentHelper")
        .register_fn(
            "mergeComments",
            |h: &mut CommentHelper, issue: Map, replica: Map| h.merge(&issue, &replica),
        );
    engine
        .register_type_with_name::<AttachmentHelper>("AttachmentHelper")
        .register_fn(
            "mergeAttachments",
            |_: &mut AttachmentHelper, issue: Map, replica: Map| {
                merge_attachments(&issue, &replica)
            },
        );
}
