//! What every node-to-node request shares: the paths, the body limit, why a request is
//! refused ([`LinkError`]), the check of a signed request ([`verify`]) and the signed POST
//! a node makes to its peer ([`signed_post`]).

use crate::{Node, NodeError};
use twinsync_core::Connection;
use twinsync_ports::{PortError, PortResult};
use twinsync_security::{SignatureError, SignedHeaders, derive_key, sign_request, verify_request};

pub const PRODUCT_VERSION: &str = env!("CARGO_PKG_VERSION");
pub const TRANSPORT_PATH: &str = "/v1/transport";
pub const HANDSHAKE_PATH: &str = "/v1/handshake";
/// Bodies above this are refused before any parsing.
pub const MAX_BODY: usize = 1 << 20;

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
pub(crate) async fn verify(
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

pub(crate) async fn signed_post<T: serde::de::DeserializeOwned>(
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
