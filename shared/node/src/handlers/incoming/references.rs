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

/// The replica with its cross-references rewritten (unchanged when the version says not
/// to, or when nothing refers to a twin).
pub(super) async fn rewritten(
    node: &Node,
    connection: &Connection,
    replica: &Value,
) -> NodeResult<Value> {
    if !connection
        .active_version()
        .is_some_and(|v| v.rewrite_references)
    {
        return Ok(replica.clone());
    }
    let local = node.tracker(&connection.local_instance)?.kind();
    // The other side's `owner/repo`, when its keys are GitHub's: a bare `#12` is one too.
    let repo = replica["key"]
        .as_str()
        .and_then(|k| k.split_once('#'))
        .map(|(repo, _)| repo.to_string());
    let mut out = replica.clone();
    if let Some(text) = replica["description"].as_str() {
        out["description"] =
            Value::String(text_of(node, connection, local, text, repo.as_deref()).await?);
    }
    if let Some(comments) = out["comments"].as_array_mut() {
        for c in comments {
            if let Some(text) = c["body"].as_str().map(str::to_string) {
                c["body"] =
                    Value::String(text_of(node, connection, local, &text, repo.as_deref()).await?);
            }
        }
    }
    Ok(out)
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
    Ok(rewrite(text, &refs, |r| {
        refs.iter()
            .position(|x| x == r)
            .and_then(|i| replacements[i].clone())
    }))
}
