//! Dry runs for Test Run: what this node's active incoming rules would make of the other
//! node's replicas ([`apply_here`]), and asking the other node the same about ours
//! ([`ask_peer`]): over the signed `/v1/dry-run` for a connection made by invitation, or
//! straight in for a node of this process. Nothing is written, queued or stored.

use crate::link::signed_post;
use crate::{Node, NodeError, NodeResult};
use twinsync_core::{Connection, ConnectionKind, DryRunRequest, DryRunResult, Item};
use twinsync_rules::IncomingContext;

pub const DRY_RUN_PATH: &str = "/v1/dry-run";

/// Runs the active incoming rules on each replica against the item it would reach here.
pub async fn apply_here(node: &Node, request: &DryRunRequest) -> NodeResult<Vec<DryRunResult>> {
    let connection = node.connection(&request.connection_id).await?;
    if connection.remote_node != request.from_node {
        return Err(NodeError::Operation(format!(
            "connection {} is not with node {}",
            connection.id, request.from_node
        )));
    }
    let rules = node.rules_for(&connection)?;
    let tracker = node.tracker(&connection.local_instance)?;
    let prefix = Node::origin_prefix(&connection.id);
    let mut out = Vec::with_capacity(request.replicas.len());
    for r in &request.replicas {
        let twin = match node
            .twins
            .find_by_remote(&connection.id, &r.source_key)
            .await?
        {
            Some(t) => Some(t),
            None => match &r.target_key {
                Some(k) => node.twins.find_by_local(&connection.id, k).await?,
                None => None,
            },
        };
        let target = twin.as_ref().and_then(|t| t.local_key.clone());
        let current = match &target {
            Some(k) => tracker.get_item(k).await?,
            None => None,
        };
        let links = twin
            .as_ref()
            .map(|t| t.comment_links.clone())
            .unwrap_or_default();
        let base = current.clone().unwrap_or_else(|| Item {
            project: connection.target_project.clone(),
            ..Item::default()
        });
        let applied = rules.incoming(&IncomingContext {
            replica: &r.hub_issue,
            previous: twin.as_ref().and_then(|t| t.previous.as_ref()),
            issue: &base,
            first_sync: twin.is_none(),
            comment_links: &links,
            origin_prefix: &prefix,
        });
        out.push(match applied {
            Ok(result) => DryRunResult {
                source_key: r.source_key.clone(),
                would_create: current.is_none(),
                would_change: current.as_ref().map(|c| c.update_to(&result)),
                target_key: current.map(|c| c.key),
                result: Some(result),
                error: None,
            },
            Err(e) => DryRunResult {
                source_key: r.source_key.clone(),
                target_key: target,
                would_create: false,
                result: None,
                would_change: None,
                error: Some(e.to_string()),
            },
        });
    }
    Ok(out)
}

/// Asks the connection's other node what its incoming rules would make of `replicas`.
pub async fn ask_peer(
    node: &Node,
    connection: &Connection,
    replicas: Vec<twinsync_core::DryRunReplica>,
) -> NodeResult<Vec<DryRunResult>> {
    let request = DryRunRequest {
        connection_id: connection.id.clone(),
        from_node: node.id.clone(),
        replicas,
    };
    // A local connection's other side answers here.
    if let Some(mirror) = crate::link::mirror_id(connection) {
        let here = DryRunRequest {
            connection_id: mirror,
            ..request
        };
        return apply_here(node, &here).await;
    }
    let body = serde_json::to_vec(&request).map_err(|e| NodeError::BadMessage(e.to_string()))?;
    if let Some(link) = &connection.link {
        return match &link.peer_url {
            Some(base) => Ok(signed_post(node, connection, base, DRY_RUN_PATH, body).await?),
            None if link.kind == ConnectionKind::Private => Err(NodeError::Operation(format!(
                "node {} is private: it cannot be asked, so its side is not shown",
                connection.remote_node
            ))),
            None => Err(NodeError::NoPeer(connection.remote_node.clone())),
        };
    }
    let value = serde_json::to_value(&request).map_err(|e| NodeError::BadMessage(e.to_string()))?;
    let answer = node.peer(&connection.remote_node)?.dry_run(&value).await?;
    serde_json::from_value(answer).map_err(|e| NodeError::BadMessage(e.to_string()))
}
