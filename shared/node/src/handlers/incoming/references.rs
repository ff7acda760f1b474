//! Cross-references in an incoming replica: keys and links of the other side's items
//! that have twins here become the twins' keys and links, in the description and the
//! comments, before the incoming rules run. The other side does the same with ours, so
//! each tracker's text names its own items.

use crate::{Node, NodeResult};
use serde_json::Value;
use twinsync_core::references::{Reference, find, rewrite};
use twinsync_core::{Connection, ConnectorKind};

/// At most this many references are looked up per text: each is a store read.
const MAX_PER_TEXT: usize = 50;

/// Rewrites the replica's cross-references in place (nothing when the version says not
/// to, when the replica is not an object, or when nothing refers to a twin).
pub(super) async fn rewrite_replica(
    node: &Node,
    connection: &Connection,
    replica: &mut Value,
) -> NodeResult<()> {
    if !connection
        .active_version()
        .is_some_and(|v| v.rewrite_references)
    {
        return Ok(());
    }
    let Some(fields) = replica.as_object_mut() else {
        return Ok(());
    };
    let local = node.tracker(&connection.local_instance)?.kind();
    // The other side's `owner/repo`, when its keys are GitHub's: a bare `#12` is one too.
    let repo = fields
        .get("key")
        .and_then(Value::as_str)
        .and_then(|k| k.split_once('#'))
        .map(|(repo, _)| repo.to_string());
    let repo = repo.as_deref();
    if let Some(Value::String(text)) = fields.get_mut("description") {
        *text = text_of(node, connection, local, text, repo).await?;
    }
    if let Some(Value::Array(comments)) = fields.get_mut("comments") {
        for comment in comments {
            if let Some(Value::String(body)) = comment.get_mut("body") {
                *body = text_of(node, connection, local, body, repo).await?;
            }
        }
    }
    Ok(())
}

async fn text_of(
    node: &Node,
    connection: &Connection,
    local: ConnectorKind,
    text: &str,
    repo: Option<&str>,
) -> NodeResult<String> {
    let refs: Vec<Reference> = find(text, repo).into_iter().take(MAX_PER_TEXT).collect();
    if refs.is_empty() {
        return Ok(text.to_string());
    }
    let mut replacements = Vec::with_capacity(refs.len());
    for r in &refs {
        let mut found = None;
        for candidate in &r.candidates {
            if let Some(t) = node.twins.find_by_remote(&connection.id, candidate).await? {
                found = Some(t);
                break;
            }
        }
        replacements.push(found.and_then(|t| {
            match &r.url {
                // Only the item's own link is replaced, by the twin's.
                Some(url) => (t.remote_url.as_deref() == Some(url.as_str()))
                    .then_some(t.local_url)
                    .flatten(),
                None => t.local_key.map(|k| local.reference(&k)),
            }
        }));
    }
    Ok(rewrite(text, &refs, |i, _| {
        replacements.get(i).cloned().flatten()
    }))
}
