//! What every node-to-node request shares: the paths, the body limit, why a request is
//! refused ([`LinkError`]), the check of a signed request ([`verify`]) and the signed POST
//! a node makes to its peer ([`signed_post`]).

use super::body::{decode, encode, wire_limit};
use crate::{Node, NodeError};
use axum::http::HeaderMap;
use twinsync_connector_kit::outbound;
use twinsync_core::Connection;
use twinsync_ports::{PortError, PortResult};
use twinsync_security::signing::TRANSPORT_WINDOW_MS;
use twinsync_security::{
    DirectionKey, SignatureError, SignedHeaders, derive_key, sign_request, verify_request,
};

pub const PRODUCT_VERSION: &str = env!("CARGO_PKG_VERSION");
pub const TRANSPORT_PATH: &str = "/v1/transport";
pub const HANDSHAKE_PATH: &str = "/v1/handshake";

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
    #[error("body over {0} bytes, this node's max_replica_bytes")]
    TooLarge(u64),
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
            LinkError::TooLarge(_) => 413,
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

/// A request that passed [`verify`]: its connection, its headers, the secret it was
/// signed with (the current one, or the previous one during a rotation's grace period),
/// and its body as sent (decompressed).
pub(crate) struct Verified {
    pub connection: Connection,
    pub signed: SignedHeaders,
    pub secret: String,
    pub body: Vec<u8>,
}

/// What a signed route needs besides the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The handshake: the initiator does not know the acceptor's id yet. Its nonce is
    /// remembered, so it is taken once.
    Handshake,
    /// Any other request with an effect of its own: its nonce is remembered.
    Once,
    /// A replica or ack delivered to `/v1/transport`, which only queues it. Its nonce is
    /// not written down (a write per delivery, two per change): the request must be
    /// within [`TRANSPORT_WINDOW_MS`] of its timestamp, so a replay that still verifies
    /// comes at most twice that after the original, inside the queues' five-minute
    /// deduplication interval, and the message's own dedup id drops it there. Past the
    /// interval the replica's version is an old one and is dropped as such.
    Delivery,
}

/// Verifies a signed request from the connection's other node.
pub(crate) async fn verify(
    node: &Node,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    route: Route,
) -> Result<Verified, LinkError> {
    let limit = node.settings.max_replica_bytes;
    // A plain body is held to the limit itself; a compressed one may be a little longer
    // when it did not compress, and is held to the limit again once decompressed.
    let compressed = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v.trim() != "identity");
    let wire_max = if compressed { wire_limit(limit) } else { limit };
    if body.len() as u64 > wire_max {
        return Err(LinkError::TooLarge(limit));
    }
    let signed = SignedHeaders::from_pairs(headers)?;
    let connection = node
        .connections
        .get(&signed.connection_id)
        .await?
        .ok_or_else(|| LinkError::UnknownConnection(signed.connection_id.clone()))?;
    // Before the handshake the initiator does not know the acceptor's id yet.
    if route != Route::Handshake && signed.node != connection.remote_node {
        return Err(LinkError::Signature(SignatureError::BadSignature));
    }
    let now = node.now_ms();
    let secret = matching_secret(&connection, now, |secret| {
        let key = derive_key(secret, &connection.id, &signed.node, &node.id);
        verify_request(&key, &signed, "POST", path, body, now)
    })?;
    if route == Route::Delivery {
        let skew = now - signed.timestamp_ms;
        if skew.abs() > TRANSPORT_WINDOW_MS {
            return Err(SignatureError::Skew(skew).into());
        }
    } else {
        let expires = signed.timestamp_ms + 2 * twinsync_security::signing::WINDOW_MS;
        if !node
            .connections
            .remember_nonce(&format!("{}:{}", connection.id, signed.nonce), expires)
            .await?
        {
            return Err(LinkError::Replay);
        }
    }
    // The signature covers the bytes on the wire; only a signed body is decompressed.
    let body = decode(headers, body, limit)?;
    Ok(Verified {
        connection,
        signed,
        secret,
        body,
    })
}

/// The secret `check` accepts: the current one, or the previous one while a rotation's
/// grace period lasts, so a message signed just before a rotation still verifies.
fn matching_secret(
    connection: &Connection,
    now: i64,
    check: impl Fn(&str) -> Result<(), SignatureError>,
) -> Result<String, LinkError> {
    let link = connection
        .link
        .as_ref()
        .ok_or_else(|| LinkError::UnknownConnection(connection.id.clone()))?;
    match check(&link.secret.0) {
        Ok(()) => Ok(link.secret.0.clone()),
        Err(e) => match link.previous_secret.as_ref() {
            Some(old) if now < link.previous_until_ms => {
                check(&old.0)?;
                Ok(old.0.clone())
            }
            _ => Err(e.into()),
        },
    }
}

/// The path an answer is signed for: the request's path and nonce, so an answer cannot be
/// replayed for another request.
fn answer_path(path: &str, request_nonce: &str) -> String {
    format!("{path}#{request_nonce}")
}

/// Signs the answer `body` to a verified request, with the secret the request was signed
/// with (the asker may not know a newer one yet).
fn sign_answer(node: &Node, request: &Verified, path: &str, body: &[u8]) -> SignedHeaders {
    let connection = &request.connection;
    let key = derive_key(
        &request.secret,
        &connection.id,
        &node.id,
        &connection.remote_node,
    );
    sign_request(
        &key,
        &connection.id,
        &node.id,
        "ANSWER",
        &answer_path(path, &request.signed.nonce),
        node.now_ms(),
        body,
    )
}

/// An answer to a node-to-node request, signed for that request.
pub struct SignedAnswer {
    pub headers: SignedHeaders,
    pub body: Vec<u8>,
}

/// `value` as the signed answer to `request` on `path`.
pub(crate) fn answer<T: serde::Serialize>(
    node: &Node,
    request: &Verified,
    path: &str,
    value: &T,
) -> Result<SignedAnswer, LinkError> {
    let body = serde_json::to_vec(value).map_err(|e| LinkError::Malformed(e.to_string()))?;
    Ok(SignedAnswer {
        headers: sign_answer(node, request, path, &body),
        body,
    })
}

/// Who signs a node-to-node request, and with which key.
pub(crate) struct Signer<'a> {
    pub key: &'a DirectionKey,
    pub connection_id: &'a str,
    pub from: &'a str,
}

impl Signer<'_> {
    /// A JSON POST of `body` to `url`, signed for `path`; its headers come back too (their
    /// nonce names the answer).
    pub fn post(
        &self,
        http: &reqwest::Client,
        url: &str,
        path: &str,
        now_ms: i64,
        body: Vec<u8>,
    ) -> (reqwest::RequestBuilder, SignedHeaders) {
        let (body, encoding) = encode(body);
        let signed = sign_request(
            self.key,
            self.connection_id,
            self.from,
            "POST",
            path,
            now_ms,
            &body,
        );
        let mut request = http
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        for (k, v) in signed.pairs() {
            request = request.header(k, v);
        }
        (request, signed)
    }
}

/// Header names and values as pairs, for the signature checks (values that are not text
/// are left out: no signature header is one).
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect()
}

/// POSTs a signed request to the connection's other node and returns its answer's JSON,
/// after checking the answer was signed by that node for this very request.
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
    let signer = Signer {
        key: &key,
        connection_id: &connection.id,
        from: &node.id,
    };
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let (request, signed) = signer.post(&node.http, &url, path, node.now_ms(), body);
    let resp = request
        .timeout(std::time::Duration::from_secs(40))
        .send()
        .await
        .map_err(|e| PortError::Unavailable(format!("{base}: {}", outbound::describe(&e))))?;
    let status = resp.status();
    let headers = header_pairs(resp.headers());
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(peer_refusal(
            &format!("{base}{path}"),
            status.as_u16(),
            &text,
        ));
    }
    check_answer(
        node,
        connection,
        &headers,
        &answer_path(path, &signed.nonce),
        text.as_bytes(),
    )
    .map_err(|e| PortError::Rejected(format!("{base}{path}: the answer is not the peer's: {e}")))?;
    serde_json::from_str(&text).map_err(|e| PortError::Rejected(format!("{base}{path}: {e}")))
}

fn check_answer(
    node: &Node,
    connection: &Connection,
    headers: &[(String, String)],
    path: &str,
    body: &[u8],
) -> Result<(), LinkError> {
    let signed = SignedHeaders::from_pairs(headers)?;
    if signed.node != connection.remote_node || signed.connection_id != connection.id {
        return Err(LinkError::Signature(SignatureError::BadSignature));
    }
    let now = node.now_ms();
    matching_secret(connection, now, |secret| {
        let key = derive_key(secret, &connection.id, &signed.node, &node.id);
        verify_request(&key, &signed, "ANSWER", path, body, now)
    })
    .map(|_| ())
}

/// How a refusal by the other node is taken. A 5xx or 429 is passing. So are 401, 404, 409
/// and 413: a secret rotated on one side only, a connection not yet accepted, a limit
/// raised on the other side — an operator fixes them, and the message must still be there
/// then. Other answers (400: a message the peer cannot read) are final.
pub fn peer_refusal(what: &str, status: u16, text: &str) -> PortError {
    let reason = format!("{what}: {status} {text}");
    match status {
        401 | 404 | 409 | 413 | 429 => {
            PortError::Unavailable(format!("the other node refused: {reason}"))
        }
        s if s >= 500 => PortError::Unavailable(reason),
        _ => PortError::Rejected(reason),
    }
}
