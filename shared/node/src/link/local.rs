//! Local connections, the seeds' third type: two projects of one tracker instance on one
//! node. The pair is two connection records, `{id}` and `{id}-b`, each the other's peer:
//! a message one sends is received by the other inside the node, with no network hop
//! and no secret on the wire. Each side's trigger names its own project, so an item one
//! side creates in the other project is never taken for a change of its own.

use super::LinkRequest;
use super::invite::{Joining, check_request, first_version, new_connection};
use crate::{Node, NodeError, NodeResult};
use serde::Deserialize;
use twinsync_core::{
    Connection, ConnectionKind, ConnectionStatus, Link, Secret, SyncEventKind, Trigger,
};

/// What an operator gives for a local connection.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalRequest {
    pub instance: String,
    /// The first side's project, and the second's.
    pub project: String,
    pub other_project: String,
    /// A trigger query both sides share, besides their project.
    pub trigger: Option<String>,
    pub name: Option<String>,
}

const SECOND: &str = "-b";

/// The other record of a local connection, if `connection` is one.
pub fn mirror_id(connection: &Connection) -> Option<String> {
    let local = connection
        .link
        .as_ref()
        .is_some_and(|l| l.kind == ConnectionKind::Local);
    if !local {
        return None;
    }
    Some(match connection.id.strip_suffix(SECOND) {
        Some(first) => first.to_string(),
        None => format!("{}{SECOND}", connection.id),
    })
}

/// Creates both records of a local connection, active at once.
pub async fn create_local(node: &Node, req: &LocalRequest) -> NodeResult<(Connection, Connection)> {
    if req.project == req.other_project {
        return Err(NodeError::Operation(
            "a local connection joins two different projects".into(),
        ));
    }
    let id = format!("conn-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let name = req.name.clone().unwrap_or_else(|| {
        format!(
            "{}: {} <-> {}",
            req.instance, req.project, req.other_project
        )
    });
    let mut pair = Vec::new();
    for (side, project) in [
        (id.clone(), &req.project),
        (format!("{id}{SECOND}"), &req.other_project),
    ] {
        // Each side takes only its own project's items.
        let own = format!("project = {project}");
        let query = match &req.trigger {
            Some(q) => format!("{own} AND ({q})"),
            None => own,
        };
        let link_req = LinkRequest {
            instance: req.instance.clone(),
            target_project: project.clone(),
            trigger: Some(query.clone()),
            name: Some(name.clone()),
            kind: ConnectionKind::Local,
        };
        let (kind, _) = check_request(node, &link_req).await?;
        let trigger = Trigger {
            id: "t1".into(),
            query,
            active: true,
        };
        let joining = Joining {
            id: &side,
            name: &name,
            remote_node: &node.id,
            status: ConnectionStatus::Active,
            link: Link::established(ConnectionKind::Local, Secret(String::new())),
        };
        pair.push(new_connection(
            node,
            &link_req,
            joining,
            first_version(kind, Some(kind), vec![trigger]),
        )?);
    }
    for c in &pair {
        node.connections.insert(c).await?;
        node.event(
            &c.id,
            None,
            SyncEventKind::ConnectionStatus,
            format!(
                "local connection {} <-> {}: Active",
                req.project, req.other_project
            ),
        )
        .await;
    }
    let second = pair
        .pop()
        .ok_or_else(|| NodeError::Operation("no second side".into()))?;
    let first = pair
        .pop()
        .ok_or_else(|| NodeError::Operation("no first side".into()))?;
    Ok((first, second))
}
