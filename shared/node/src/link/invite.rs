//! Connections between nodes that do not share a process: invitation, acceptance with a
//! signed handshake, and the handshake's receiving end on the inviting node.

use super::signed::{HANDSHAKE_PATH, LinkError, PRODUCT_VERSION, Verified, verify};
use crate::{Node, NodeError, NodeResult};
use serde::{Deserialize, Serialize};
use twinsync_core::{
    Connection, ConnectionKind, ConnectionStatus, Link, Secret, SyncEventKind, Trigger,
};
use twinsync_ports::PortError;
use twinsync_security::{Invitation, derive_key, sign_request};

/// What an operator gives to invite or accept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The tracker instance this side syncs.
    pub instance: String,
    /// Where twins are created on this side.
    pub target_project: String,
    /// An optional trigger query for this side.
    pub trigger: Option<String>,
    /// For invite: the connection's name and type.
    pub name: Option<String>,
    #[serde(default = "public")]
    pub kind: ConnectionKind,
}

fn public() -> ConnectionKind {
    ConnectionKind::Public
}

fn new_connection(
    node: &Node,
    id: &str,
    name: &str,
    remote: &str,
    req: &LinkRequest,
    status: ConnectionStatus,
    link: Link,
) -> NodeResult<Connection> {
    node.tracker(&req.instance)?;
    let mut c = Connection {
        id: id.to_string(),
        name: name.to_string(),
        local_node: node.id.clone(),
        remote_node: remote.to_string(),
        local_instance: req.instance.clone(),
        target_project: req.target_project.clone(),
        status,
        status_reason: None,
        triggers: req
            .trigger
            .iter()
            .map(|q| Trigger {
                id: "t1".into(),
                query: q.clone(),
                active: true,
            })
            .collect(),
        plans: vec![],
        versions: vec![],
        link: Some(link),
        revision: 0,
        updated_ms: node.now_ms(),
    };
    for t in &c.triggers {
        t.filter()
            .map_err(|e| NodeError::Operation(format!("trigger: {e}")))?;
    }
    let number = c.add_draft(twinsync_rules::defaults::version(), node.now_ms());
    c.activate(number)
        .map_err(|e| NodeError::Operation(e.to_string()))?;
    Ok(c)
}

/// Invite: creates a Pending connection and returns its invitation code.
pub async fn invite(node: &Node, req: &LinkRequest) -> NodeResult<(Connection, String)> {
    let url = node
        .public_url()
        .ok_or_else(|| NodeError::Operation("this node has no public URL yet".into()))?;
    let tracker = node.tracker(&req.instance)?;
    let id = format!("conn-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let secret = twinsync_security::new_secret();
    let expires = node.now_ms() + twinsync_security::invitation::DEFAULT_TTL_MS;
    let name = req.name.clone().unwrap_or_else(|| id.clone());
    let connection = new_connection(
        node,
        &id,
        &name,
        "",
        req,
        ConnectionStatus::Pending,
        Link {
            kind: req.kind,
            peer_url: None,
            secret: Secret(secret.clone()),
            invitation_expires_ms: expires,
            invitation_used: false,
            pulls: false,
            previous_secret: None,
            previous_until_ms: 0,
            last_rotation: None,
        },
    )?;
    node.connections.insert(&connection).await?;
    node.event(
        &id,
        None,
        SyncEventKind::ConnectionStatus,
        "invited: Pending",
    )
    .await;
    let code = Invitation {
        secret,
        connection_id: id,
        connection_type: format!("{:?}", req.kind).to_lowercase(),
        connection_name: name,
        initiator_node: node.id.clone(),
        product_version: PRODUCT_VERSION.into(),
        tracker_type: tracker.kind().to_string(),
        tracker_url: tracker.url().to_string(),
        node_url: url,
        instance_id: req.instance.clone(),
        expires_ms: expires,
    }
    .encode();
    Ok((connection, code))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handshake {
    pub connection_id: String,
    pub acceptor_node: String,
    /// `None` when the acceptor cannot be reached: it will pull (private connection).
    pub acceptor_url: Option<String>,
    pub product_version: String,
}

/// Accept: checks the code, proves knowledge of the secret to the initiator with a signed
/// handshake, and creates this side's Active connection.
pub async fn accept(node: &Node, code: &str, req: &LinkRequest) -> NodeResult<Connection> {
    let invitation =
        Invitation::decode(code, node.now_ms()).map_err(|e| NodeError::Operation(e.to_string()))?;
    if invitation.initiator_node == node.id {
        return Err(NodeError::Operation(
            "a node cannot accept its own invitation".into(),
        ));
    }
    let private = invitation.connection_type == "private";
    let url = if private {
        None
    } else {
        Some(
            node.public_url()
                .ok_or_else(|| NodeError::Operation("this node has no public URL yet".into()))?,
        )
    };
    if node
        .connections
        .get(&invitation.connection_id)
        .await?
        .is_some()
    {
        return Err(NodeError::Operation(format!(
            "connection {} exists on this node",
            invitation.connection_id
        )));
    }
    let body = serde_json::to_vec(&Handshake {
        connection_id: invitation.connection_id.clone(),
        acceptor_node: node.id.clone(),
        acceptor_url: url,
        product_version: PRODUCT_VERSION.into(),
    })
    .map_err(|e| NodeError::Operation(e.to_string()))?;
    let key = derive_key(
        &invitation.secret,
        &invitation.connection_id,
        &node.id,
        &invitation.initiator_node,
    );
    let signed = sign_request(
        &key,
        &invitation.connection_id,
        &node.id,
        "POST",
        HANDSHAKE_PATH,
        node.now_ms(),
        &body,
    );
    let mut r = node
        .http
        .post(format!(
            "{}{HANDSHAKE_PATH}",
            invitation.node_url.trim_end_matches('/')
        ))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in signed.pairs() {
        r = r.header(k, v);
    }
    let resp = r.send().await.map_err(|e| {
        NodeError::Port(PortError::Unavailable(format!(
            "{}: {e}",
            invitation.node_url
        )))
    })?;
    if !resp.status().is_success() {
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        return Err(NodeError::Operation(format!(
            "the inviting node refused: {status} {text}"
        )));
    }
    let connection = new_connection(
        node,
        &invitation.connection_id,
        &invitation.connection_name,
        &invitation.initiator_node,
        req,
        ConnectionStatus::Active,
        Link {
            kind: if private {
                ConnectionKind::Private
            } else {
                req.kind
            },
            peer_url: Some(invitation.node_url.clone()),
            secret: Secret(invitation.secret.clone()),
            invitation_expires_ms: 0,
            invitation_used: true,
            pulls: private,
            previous_secret: None,
            previous_until_ms: 0,
            last_rotation: None,
        },
    )?;
    node.connections.insert(&connection).await?;
    node.event(
        &connection.id,
        None,
        SyncEventKind::ConnectionStatus,
        format!(
            "accepted invitation from {}: Active",
            invitation.initiator_node
        ),
    )
    .await;
    Ok(connection)
}

/// `POST /v1/handshake` on the inviting node.
pub async fn receive_handshake(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Connection, LinkError> {
    let Verified {
        mut connection,
        signed,
        ..
    } = verify(node, HANDSHAKE_PATH, headers, body, true).await?;
    let hs: Handshake =
        serde_json::from_slice(body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    if hs.connection_id != connection.id || hs.acceptor_node != signed.node {
        return Err(LinkError::Malformed(
            "handshake does not match its headers".into(),
        ));
    }
    let major = |v: &str| v.split('.').next().unwrap_or("").to_string();
    if major(&hs.product_version) != major(PRODUCT_VERSION) {
        return Err(LinkError::Refused(format!(
            "version mismatch: this node runs twinsync {PRODUCT_VERSION}, the other {}",
            hs.product_version
        )));
    }
    let now = node.now_ms();
    let link = connection
        .link
        .as_mut()
        .ok_or_else(|| LinkError::UnknownConnection(connection.id.clone()))?;
    if link.invitation_used || connection.status != ConnectionStatus::Pending {
        return Err(LinkError::Refused(
            "this invitation code was already used".into(),
        ));
    }
    if link.invitation_expires_ms <= now {
        return Err(LinkError::Refused("this invitation code expired".into()));
    }
    link.invitation_used = true;
    link.peer_url = hs.acceptor_url.clone();
    connection.remote_node = hs.acceptor_node.clone();
    connection
        .transition(ConnectionStatus::Active, None)
        .map_err(|e| LinkError::Refused(e.to_string()))?;
    connection.updated_ms = now;
    // The conditional write makes a code usable once even under concurrent accepts.
    let stored = node
        .connections
        .update(&connection)
        .await
        .map_err(|e| match e {
            PortError::Conflict(_) => {
                LinkError::Refused("this invitation code was already used".into())
            }
            other => other.into(),
        })?;
    node.event(
        &stored.id,
        None,
        SyncEventKind::ConnectionStatus,
        format!("{} accepted: Pending -> Active", hs.acceptor_node),
    )
    .await;
    Ok(stored)
}
