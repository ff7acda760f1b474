//! Connections between nodes that do not share a process: invitation, acceptance with a
//! signed handshake, and the handshake's receiving end on the inviting node.

use super::signed::{HANDSHAKE_PATH, LinkError, PRODUCT_VERSION, Route, Signer, Verified, verify};
use crate::{Node, NodeError, NodeResult};
use serde::{Deserialize, Serialize};
use twinsync_connector_kit::target::check_node_url;
use twinsync_core::{
    ConfigVersion, Connection, ConnectionKind, ConnectionStatus, ConnectorKind, Link, Secret,
    SyncEventKind, Trigger, VersionStatus,
};
use twinsync_ports::PortError;
use twinsync_rules::defaults;
use twinsync_security::{Invitation, derive_key};

/// What an operator gives to invite or accept.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
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
    #[schema(value_type = crate::router::schemas::ConnectionKindBody)]
    pub kind: ConnectionKind,
}

fn public() -> ConnectionKind {
    ConnectionKind::Public
}

/// Checks what the operator gave before anything is stored or sent, so a typo is
/// refused while the invitation code still works: the instance exists, the project is
/// written as the connector's projects are and the tracker has it (where it can tell
/// cheaply), the trigger parses. Returns the instance's connector and the triggers.
pub(super) async fn check_request(
    node: &Node,
    req: &LinkRequest,
) -> NodeResult<(ConnectorKind, Vec<Trigger>)> {
    let tracker = node.tracker(&req.instance).map_err(|_| {
        let mut known: Vec<&str> = node.trackers.keys().map(String::as_str).collect();
        known.sort_unstable();
        NodeError::Operation(format!(
            "unknown tracker instance {:?}; this node has {}",
            req.instance,
            known.join(", ")
        ))
    })?;
    let kind = tracker.kind();
    kind.check_project(&req.target_project)
        .map_err(NodeError::Operation)?;
    let triggers: Vec<Trigger> = req
        .trigger
        .iter()
        .map(|q| Trigger {
            id: "t1".into(),
            query: q.clone(),
            active: true,
        })
        .collect();
    for t in &triggers {
        t.filter()
            .map_err(|e| NodeError::Operation(format!("trigger {:?}: {e}", t.query)))?;
    }
    match tracker.has_project(&req.target_project).await {
        Ok(Some(false)) => Err(NodeError::Operation(format!(
            "tracker instance {} ({kind}) has no project {:?}",
            req.instance, req.target_project
        ))),
        Ok(_) => Ok((kind, triggers)),
        Err(e) if e.is_retryable() => Err(e.into()),
        Err(e) => Err(NodeError::Operation(format!(
            "cannot check project {:?} on {}: {e}",
            req.target_project, req.instance
        ))),
    }
}

/// A side's first version: the default rules for its connector and, once known, the
/// other side's, with the operator's trigger.
pub(super) fn first_version(
    local: ConnectorKind,
    remote: Option<ConnectorKind>,
    triggers: Vec<Trigger>,
) -> ConfigVersion {
    let defaults = match remote {
        Some(remote) => defaults::for_pair(local, remote),
        None => defaults::for_connector(local),
    };
    ConfigVersion {
        triggers,
        origin: twinsync_core::VersionOrigin::Invitation,
        ..defaults
    }
}

/// Who a new connection joins and how, before its configuration.
pub(super) struct Joining<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub remote_node: &'a str,
    pub status: ConnectionStatus,
    pub link: Link,
}

pub(super) fn new_connection(
    node: &Node,
    req: &LinkRequest,
    joining: Joining<'_>,
    version: ConfigVersion,
) -> NodeResult<Connection> {
    let mut c = Connection {
        id: joining.id.to_string(),
        name: joining.name.to_string(),
        local_node: node.id.clone(),
        remote_node: joining.remote_node.to_string(),
        local_instance: req.instance.clone(),
        target_project: req.target_project.clone(),
        status: joining.status,
        status_reason: None,
        versions: vec![],
        link: Some(joining.link),
        revision: 0,
        updated_ms: node.now_ms(),
    };
    let number = c.add_draft(version, node.now_ms());
    c.activate(number)
        .map_err(|e| NodeError::Operation(e.to_string()))?;
    Ok(c)
}

/// Invite: creates a Pending connection and returns its invitation code. Its first
/// version has the default rules for its own connector; the handshake tells it the
/// other side's, and the pair's defaults replace them.
pub async fn invite(node: &Node, req: &LinkRequest) -> NodeResult<(Connection, String)> {
    let url = node
        .public_url()
        .ok_or_else(|| NodeError::Operation("this node has no public URL yet".into()))?;
    if req.kind == ConnectionKind::Local {
        return Err(NodeError::Operation(
            "a local connection joins two projects of this node and needs no invitation: use `twinsync connection local`".into(),
        ));
    }
    let (kind, triggers) = check_request(node, req).await?;
    let tracker = node.tracker(&req.instance)?;
    let id = format!("conn-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let secret = twinsync_security::new_secret();
    let expires = node.now_ms() + twinsync_security::invitation::DEFAULT_TTL_MS;
    let name = req.name.clone().unwrap_or_else(|| id.clone());
    let joining = Joining {
        id: &id,
        name: &name,
        remote_node: "",
        status: ConnectionStatus::Pending,
        link: Link {
            kind: req.kind,
            peer_url: None,
            secret: Secret(secret.clone()),
            invitation_expires_ms: expires,
            invitation_used: false,
            pulls: false,
            previous_secret: None,
            previous_until_ms: 0,
            last_rotation: None,
            peer_max_body: None,
            peer_batch_max: None,
        },
    };
    let connection = new_connection(node, req, joining, first_version(kind, None, triggers))?;
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
        tracker_type: kind.to_string(),
        tracker_url: tracker.url().to_string(),
        node_url: url,
        instance_id: req.instance.clone(),
        expires_ms: expires,
        max_body: Some(node.settings.max_replica_bytes),
        batch_max: Some(twinsync_core::TRANSPORT_BATCH_MAX),
    }
    .encode();
    Ok((connection, code))
}

/// The acceptor's signed proof that it holds the secret. Unknown fields are ignored, so
/// a newer acceptor may say more.
#[derive(Debug, Serialize, Deserialize)]
pub struct Handshake {
    pub connection_id: String,
    pub acceptor_node: String,
    /// `None` when the acceptor cannot be reached: it will pull (private connection).
    pub acceptor_url: Option<String>,
    pub product_version: String,
    /// The acceptor's connector (`jira`, `github`, ...), for the inviting side's default
    /// rules. Older acceptors do not send it.
    #[serde(default)]
    pub acceptor_tracker: Option<String>,
    /// The largest transport body the acceptor takes (its `max_replica_bytes`). Older
    /// acceptors do not send it, and take the default.
    #[serde(default)]
    pub max_body: Option<u64>,
    /// The most transport messages one delivery to the acceptor may carry. Older
    /// acceptors do not send it, and take one a request.
    #[serde(default)]
    pub batch_max: Option<u32>,
}

/// Accept: checks the code and the request, proves knowledge of the secret to the
/// initiator with a signed handshake, and creates this side's Active connection with the
/// default rules for its connector and the initiator's.
pub async fn accept(node: &Node, code: &str, req: &LinkRequest) -> NodeResult<Connection> {
    let invitation =
        Invitation::decode(code, node.now_ms()).map_err(|e| NodeError::Operation(e.to_string()))?;
    // Everything that can be wrong on this side is checked before the handshake spends
    // the code; the inviting node's URL first, as the code names it.
    check_node_url(&invitation.node_url)
        .map_err(|e| NodeError::Operation(format!("the invitation's node URL: {e}")))?;
    let url = acceptor_url(node, &invitation).await?;
    let (kind, triggers) = check_request(node, req).await?;
    send_handshake(
        node,
        &invitation,
        &Handshake {
            connection_id: invitation.connection_id.clone(),
            acceptor_node: node.id.clone(),
            acceptor_url: url,
            product_version: PRODUCT_VERSION.into(),
            acceptor_tracker: Some(kind.to_string()),
            max_body: Some(node.settings.max_replica_bytes),
            batch_max: Some(twinsync_core::TRANSPORT_BATCH_MAX),
        },
    )
    .await?;
    let joining = Joining {
        id: &invitation.connection_id,
        name: &invitation.connection_name,
        remote_node: &invitation.initiator_node,
        status: ConnectionStatus::Active,
        link: accepted_link(&invitation, req),
    };
    let remote = ConnectorKind::parse(&invitation.tracker_type);
    let connection = new_connection(node, req, joining, first_version(kind, remote, triggers))?;
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

/// Whether this node may accept `invitation`, and the URL it gives the inviting node
/// (none for a private connection: this node pulls).
async fn acceptor_url(node: &Node, invitation: &Invitation) -> NodeResult<Option<String>> {
    if invitation.initiator_node == node.id {
        return Err(NodeError::Operation(
            "a node cannot accept its own invitation".into(),
        ));
    }
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
    if invitation.connection_type == "private" {
        return Ok(None);
    }
    node.public_url()
        .map(Some)
        .ok_or_else(|| NodeError::Operation("this node has no public URL yet".into()))
}

/// The acceptor's side of the trust: a private connection's acceptor pulls.
fn accepted_link(invitation: &Invitation, req: &LinkRequest) -> Link {
    let private = invitation.connection_type == "private";
    let kind = if private {
        ConnectionKind::Private
    } else {
        req.kind
    };
    Link {
        peer_url: Some(invitation.node_url.clone()),
        pulls: private,
        peer_max_body: invitation.max_body,
        peer_batch_max: invitation.batch_max,
        ..Link::established(kind, Secret(invitation.secret.clone()))
    }
}

/// Posts the handshake to the inviting node, signed with the key for this direction.
async fn send_handshake(
    node: &Node,
    invitation: &Invitation,
    handshake: &Handshake,
) -> NodeResult<()> {
    let body = serde_json::to_vec(handshake).map_err(|e| NodeError::Operation(e.to_string()))?;
    let key = derive_key(
        &invitation.secret,
        &invitation.connection_id,
        &node.id,
        &invitation.initiator_node,
    );
    let signer = Signer {
        key: &key,
        connection_id: &invitation.connection_id,
        from: &node.id,
    };
    let url = format!(
        "{}{HANDSHAKE_PATH}",
        invitation.node_url.trim_end_matches('/')
    );
    let (r, _) = signer.post(&node.http, &url, HANDSHAKE_PATH, node.now_ms(), body);
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
    Ok(())
}

/// The inviting side made its first version before it knew the other tracker; with the
/// acceptor's connector known, that version takes the pair's defaults (its triggers
/// stay). A version the operator activated meanwhile is theirs and is left alone.
fn adopt_pair_defaults(connection: &mut Connection, local: ConnectorKind, remote: ConnectorKind) {
    let alone = defaults::for_connector(local);
    let Some(v) = connection
        .versions
        .iter_mut()
        .find(|v| v.number == 1 && v.status == VersionStatus::Active)
    else {
        return;
    };
    if v.outgoing != alone.outgoing
        || v.incoming != alone.incoming
        || v.helper_maps != alone.helper_maps
    {
        return;
    }
    let pair = defaults::for_pair(local, remote);
    v.outgoing = pair.outgoing;
    v.incoming = pair.incoming;
    v.helper_maps = pair.helper_maps;
    v.note = pair.note;
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
        body,
        ..
    } = verify(node, HANDSHAKE_PATH, headers, body, Route::Handshake).await?;
    let hs: Handshake =
        serde_json::from_slice(&body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    // The acceptor's URL is where this node will send: a query or fragment could steer
    // its requests to other routes.
    if let Some(url) = &hs.acceptor_url {
        check_node_url(url).map_err(|e| LinkError::Malformed(format!("acceptor_url: {e}")))?;
    }
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
    link.peer_max_body = hs.max_body;
    link.peer_batch_max = hs.batch_max;
    connection.remote_node = hs.acceptor_node.clone();
    let remote = hs
        .acceptor_tracker
        .as_deref()
        .and_then(ConnectorKind::parse);
    if let (Ok(tracker), Some(remote)) = (node.tracker(&connection.local_instance), remote) {
        adopt_pair_defaults(&mut connection, tracker.kind(), remote);
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pending(version: ConfigVersion) -> Connection {
        let mut c = Connection {
            id: "c".into(),
            name: "c".into(),
            local_node: "a".into(),
            remote_node: String::new(),
            local_instance: "i".into(),
            target_project: "DEMO".into(),
            status: ConnectionStatus::Pending,
            status_reason: None,
            versions: vec![],
            link: None,
            revision: 0,
            updated_ms: 0,
        };
        let n = c.add_draft(version, 0);
        c.activate(n).unwrap();
        c
    }

    fn trigger() -> Vec<Trigger> {
        vec![Trigger {
            id: "t1".into(),
            query: "labels = sync".into(),
            active: true,
        }]
    }

    /// The inviting side's first version becomes the pair's defaults once the handshake
    /// names the other tracker, keeping its trigger; a version the operator activated
    /// before the accept, or one that is not the defaults, stays as it is.
    #[test]
    fn the_inviters_first_version_takes_the_pairs_defaults() {
        use ConnectorKind::*;
        let mut c = pending(first_version(Sandbox, None, trigger()));
        adopt_pair_defaults(&mut c, Sandbox, Jira);
        let v = c.active_version().unwrap();
        let want = defaults::for_pair(Sandbox, Jira);
        assert_eq!(v.helper_maps, want.helper_maps);
        assert_eq!(v.note, want.note);
        assert_eq!(v.triggers, trigger());

        let mut own = first_version(Sandbox, None, trigger());
        own.helper_maps.statuses.insert("x".into(), "y".into());
        let mut c = pending(own.clone());
        adopt_pair_defaults(&mut c, Sandbox, Jira);
        assert!(c.active_version().unwrap().same_config(&own));

        let mut c = pending(first_version(Sandbox, None, trigger()));
        let n = c.add_draft(own.clone(), 1);
        c.activate(n).unwrap();
        adopt_pair_defaults(&mut c, Sandbox, Jira);
        assert!(c.version(1).unwrap().helper_maps.statuses.is_empty());
        assert!(c.active_version().unwrap().same_config(&own));
    }

    /// The handshake of an older acceptor (no tracker) still reads, and so does a newer
    /// one's with fields this node does not know.
    #[test]
    fn handshakes_old_and_new_read() {
        let old = r#"{"connection_id":"c","acceptor_node":"b","acceptor_url":null,"product_version":"0.1.0"}"#;
        let hs: Handshake = serde_json::from_str(old).unwrap();
        assert_eq!(hs.acceptor_tracker, None);
        let newer = r#"{"connection_id":"c","acceptor_node":"b","acceptor_url":null,"product_version":"0.1.0","acceptor_tracker":"jira","later":1}"#;
        let hs: Handshake = serde_json::from_str(newer).unwrap();
        assert_eq!(hs.acceptor_tracker.as_deref(), Some("jira"));
    }
}
