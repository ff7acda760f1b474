//! Connections between nodes that do not share a process: invitation, acceptance with a
//! signed handshake, and the signed `/v1/transport` endpoint with its HTTP peer.

use crate::handlers::receive;
use crate::{Node, NodeError, NodeResult};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use twinsync_core::{
    Connection, ConnectionKind, ConnectionStatus, Link, Secret, SyncEventKind, TransportMessage,
    Trigger,
};
use twinsync_ports::{Peer, PortError, PortResult};
use twinsync_security::{
    Invitation, SignatureError, SignedHeaders, derive_key, sign_request, verify_request,
};

pub const PRODUCT_VERSION: &str = env!("CARGO_PKG_VERSION");
pub const TRANSPORT_PATH: &str = "/v1/transport";
pub const HANDSHAKE_PATH: &str = "/v1/handshake";
/// Bodies above this are refused before any parsing.
pub const MAX_BODY: usize = 1 << 20;

/// Delivers transport messages to another node over HTTP, signed with this direction's key.
pub struct HttpPeer {
    http: reqwest::Client,
    url: String,
    connection_id: String,
    from: String,
    key: twinsync_security::DirectionKey,
    clock: std::sync::Arc<dyn twinsync_core::Clock>,
}

impl HttpPeer {
    pub fn new(node: &Node, connection: &Connection, peer_url: &str) -> Self {
        let secret = connection
            .link
            .as_ref()
            .map(|l| l.secret.0.clone())
            .unwrap_or_default();
        Self {
            http: node.http.clone(),
            url: format!("{}{TRANSPORT_PATH}", peer_url.trim_end_matches('/')),
            connection_id: connection.id.clone(),
            from: node.id.clone(),
            key: derive_key(&secret, &connection.id, &node.id, &connection.remote_node),
            clock: node.clock.clone(),
        }
    }
}

#[async_trait]
impl Peer for HttpPeer {
    async fn deliver(&self, message: &TransportMessage) -> PortResult<()> {
        let body = serde_json::to_vec(message).map_err(|e| PortError::Rejected(e.to_string()))?;
        let signed = sign_request(
            &self.key,
            &self.connection_id,
            &self.from,
            "POST",
            TRANSPORT_PATH,
            self.clock.now_ms(),
            &body,
        );
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in signed.pairs() {
            req = req.header(k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| PortError::Unavailable(format!("{}: {e}", self.url)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        if status.is_server_error() || status.as_u16() == 429 {
            Err(PortError::Unavailable(format!(
                "{}: {status} {text}",
                self.url
            )))
        } else {
            Err(PortError::Rejected(format!(
                "{}: {status} {text}",
                self.url
            )))
        }
    }
}

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

/// Why a node-to-node request is refused, with its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("unknown connection {0}")]
    UnknownConnection(String),
    #[error("{0}")]
    Refused(String),
    #[error("nonce already used (replay)")]
    Replay,
    #[error("body over {MAX_BODY} bytes")]
    TooLarge,
    #[error("malformed body: {0}")]
    Malformed(String),
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl LinkError {
    pub fn status(&self) -> u16 {
        match self {
            LinkError::Signature(_) | LinkError::Replay => 401,
            LinkError::UnknownConnection(_) => 404,
            LinkError::Refused(_) => 409,
            LinkError::TooLarge => 413,
            LinkError::Malformed(_) => 400,
            LinkError::Node(e) if e.is_retryable() => 503,
            LinkError::Node(_) => 500,
        }
    }
}

impl From<PortError> for LinkError {
    fn from(e: PortError) -> Self {
        LinkError::Node(e.into())
    }
}

/// Verifies a signed request from the connection's other node; returns the connection.
async fn verify(
    node: &Node,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    handshake: bool,
) -> Result<(Connection, SignedHeaders), LinkError> {
    if body.len() > MAX_BODY {
        return Err(LinkError::TooLarge);
    }
    let signed = SignedHeaders::from_pairs(headers)?;
    let connection = node
        .connections
        .get(&signed.connection_id)
        .await?
        .ok_or_else(|| LinkError::UnknownConnection(signed.connection_id.clone()))?;
    let link = connection
        .link
        .as_ref()
        .ok_or_else(|| LinkError::UnknownConnection(signed.connection_id.clone()))?;
    // Before the handshake the initiator does not know the acceptor's id yet.
    if !handshake && signed.node != connection.remote_node {
        return Err(LinkError::Signature(SignatureError::BadSignature));
    }
    let key = derive_key(&link.secret.0, &connection.id, &signed.node, &node.id);
    let now = node.now_ms();
    if let Err(e) = verify_request(&key, &signed, "POST", path, body, now) {
        // A message signed just before a rotation still verifies with the old secret.
        let old = link
            .previous_secret
            .as_ref()
            .filter(|_| now < link.previous_until_ms);
        let Some(old) = old else { return Err(e.into()) };
        let old_key = derive_key(&old.0, &connection.id, &signed.node, &node.id);
        verify_request(&old_key, &signed, "POST", path, body, now)?;
    }
    let expires = signed.timestamp_ms + 2 * twinsync_security::signing::WINDOW_MS;
    if !node
        .connections
        .remember_nonce(&format!("{}:{}", connection.id, signed.nonce), expires)
        .await?
    {
        return Err(LinkError::Replay);
    }
    Ok((connection, signed))
}

/// `POST /v1/handshake` on the inviting node.
pub async fn receive_handshake(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Connection, LinkError> {
    let (mut connection, signed) = verify(node, HANDSHAKE_PATH, headers, body, true).await?;
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

/// What a private node asks for when it pulls.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    pub max: usize,
    /// Long poll: wait up to this long for a first message.
    pub wait_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PulledMessage {
    pub receipt: String,
    pub body: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullAck {
    pub receipts: Vec<String>,
}

pub const PULL_PATH: &str = "/v1/pull";
pub const PULL_ACK_PATH: &str = "/v1/pull/ack";
/// How long a pulled message stays invisible before it is offered again.
const PULL_VISIBILITY_MS: i64 = 30_000;

/// `POST /v1/pull` on the public node: hands the private node its waiting messages.
pub async fn serve_pull(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Vec<PulledMessage>, LinkError> {
    let (connection, _) = verify(node, PULL_PATH, headers, body, false).await?;
    let req: PullRequest =
        serde_json::from_slice(body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    let outbox = twinsync_ports::queues::outbox(&connection.id);
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(req.wait_ms.min(25_000));
    loop {
        let batch = node
            .queue
            .receive(&outbox, req.max.clamp(1, 100), PULL_VISIBILITY_MS)
            .await?;
        if !batch.is_empty() || std::time::Instant::now() >= deadline {
            return Ok(batch
                .into_iter()
                .map(|m| PulledMessage {
                    receipt: m.receipt,
                    body: m.body,
                })
                .collect());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `POST /v1/pull/ack`: the private node has queued these; they can go.
pub async fn serve_pull_ack(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<usize, LinkError> {
    let (connection, _) = verify(node, PULL_ACK_PATH, headers, body, false).await?;
    let ack: PullAck =
        serde_json::from_slice(body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    let outbox = twinsync_ports::queues::outbox(&connection.id);
    let mut deleted = 0;
    for receipt in &ack.receipts {
        // A receipt that timed out and was handed out again is refused; the message is
        // then pulled once more and deduplicated on arrival.
        if node.queue.delete(&outbox, receipt).await.is_ok() {
            deleted += 1;
        }
    }
    Ok(deleted)
}

async fn signed_post<T: serde::de::DeserializeOwned>(
    node: &Node,
    connection: &Connection,
    base: &str,
    path: &str,
    body: Vec<u8>,
) -> PortResult<T> {
    let secret = connection
        .link
        .as_ref()
        .map(|l| l.secret.0.clone())
        .unwrap_or_default();
    let key = derive_key(&secret, &connection.id, &node.id, &connection.remote_node);
    let signed = sign_request(
        &key,
        &connection.id,
        &node.id,
        "POST",
        path,
        node.now_ms(),
        &body,
    );
    let mut r = node
        .http
        .post(format!("{}{path}", base.trim_end_matches('/')))
        .header("content-type", "application/json")
        .timeout(std::time::Duration::from_secs(40))
        .body(body);
    for (k, v) in signed.pairs() {
        r = r.header(k, v);
    }
    let resp = r
        .send()
        .await
        .map_err(|e| PortError::Unavailable(format!("{base}: {e}")))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(if status.is_server_error() {
            PortError::Unavailable(format!("{base}{path}: {status} {text}"))
        } else {
            PortError::Rejected(format!("{base}{path}: {status} {text}"))
        });
    }
    serde_json::from_str(&text).map_err(|e| PortError::Rejected(format!("{base}{path}: {e}")))
}

/// On the private node: pulls once from the public node (long poll), queues what came,
/// then acknowledges it. Returns how many messages arrived.
pub async fn pull_once(node: &Node, connection: &Connection, wait_ms: u64) -> NodeResult<usize> {
    let Some(base) = connection.link.as_ref().and_then(|l| l.peer_url.clone()) else {
        return Ok(0);
    };
    let req = serde_json::to_vec(&PullRequest { max: 50, wait_ms })
        .map_err(|e| NodeError::BadMessage(e.to_string()))?;
    let pulled: Vec<PulledMessage> = signed_post(node, connection, &base, PULL_PATH, req).await?;
    let mut receipts = Vec::with_capacity(pulled.len());
    for m in &pulled {
        match serde_json::from_str::<TransportMessage>(&m.body) {
            Ok(message) => receive::accept(node, &message).await?,
            Err(e) => tracing::error!(error = %e, "pulled message is unreadable; dropped"),
        }
        receipts.push(m.receipt.clone());
    }
    if !receipts.is_empty() {
        let ack = serde_json::to_vec(&PullAck { receipts })
            .map_err(|e| NodeError::BadMessage(e.to_string()))?;
        let _: serde_json::Value = signed_post(node, connection, &base, PULL_ACK_PATH, ack).await?;
    }
    Ok(pulled.len())
}

pub const ROTATE_PATH: &str = "/v1/rotate";
/// How long the old secret keeps verifying after a rotation.
const ROTATION_GRACE_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Random salt; the new secret is HKDF(old secret, salt), so the secret itself never
    /// travels.
    pub salt: String,
}

fn rotated(secret: &str, salt: &str) -> String {
    let key = derive_key(secret, salt, "rotate", "rotate");
    hex::encode(key.0)
}

/// Rotates a connection's secret: the other node is told first (signed with the current
/// secret); both keep the old secret for a grace period so in-flight messages still verify.
pub async fn rotate_secret(node: &Node, connection_id: &str) -> NodeResult<()> {
    let connection = node.connection(connection_id).await?;
    let link = connection
        .link
        .clone()
        .ok_or_else(|| NodeError::Operation(format!("{connection_id} has no shared secret")))?;
    let Some(peer) = link.peer_url.clone() else {
        return Err(NodeError::Operation(
            "the other node of this private connection cannot be reached; rotate from there".into(),
        ));
    };
    let salt = twinsync_security::new_secret();
    let body = serde_json::to_vec(&Rotation { salt: salt.clone() })
        .map_err(|e| NodeError::BadMessage(e.to_string()))?;
    let _: serde_json::Value = signed_post(node, &connection, &peer, ROTATE_PATH, body).await?;
    apply_rotation(node, connection, &salt).await?;
    Ok(())
}

async fn apply_rotation(node: &Node, mut connection: Connection, salt: &str) -> NodeResult<()> {
    let now = node.now_ms();
    if let Some(link) = connection.link.as_mut() {
        let new = rotated(&link.secret.0, salt);
        link.previous_secret = Some(link.secret.clone());
        link.previous_until_ms = now + ROTATION_GRACE_MS;
        link.secret = Secret(new);
    }
    connection.updated_ms = now;
    node.connections.update(&connection).await?;
    node.event(
        &connection.id,
        None,
        SyncEventKind::ConnectionStatus,
        "shared secret rotated",
    )
    .await;
    Ok(())
}

/// `POST /v1/rotate`: the other node rotates the shared secret.
pub async fn receive_rotation(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(), LinkError> {
    let (connection, _) = verify(node, ROTATE_PATH, headers, body, false).await?;
    let rotation: Rotation =
        serde_json::from_slice(body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    if rotation.salt.len() < 32 {
        return Err(LinkError::Malformed("salt too short".into()));
    }
    apply_rotation(node, connection, &rotation.salt).await?;
    Ok(())
}

/// `POST /v1/transport`: a replica or ack from the other node.
pub async fn receive_transport(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(), LinkError> {
    let (connection, _) = verify(node, TRANSPORT_PATH, headers, body, false).await?;
    let message: TransportMessage =
        serde_json::from_slice(body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    if message.connection_id() != connection.id {
        return Err(LinkError::Malformed(
            "message is for another connection".into(),
        ));
    }
    receive::accept(node, &message).await.map_err(|e| match e {
        PortError::Rejected(m) => LinkError::Refused(m),
        other => other.into(),
    })
}
