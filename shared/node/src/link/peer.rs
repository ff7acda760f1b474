//! The transport both ways: [`HttpPeer`] delivers replicas and acks to the other node,
//! signed with this direction's key; [`receive_transport`] takes them in.

use super::signed::{LinkError, Route, Signer, TRANSPORT_PATH, peer_refusal, verify};
use crate::Node;
use crate::handlers::receive;
use async_trait::async_trait;
use twinsync_connector_kit::outbound;
use twinsync_core::{Connection, TransportMessage};
use twinsync_ports::{Peer, PortError, PortResult};
use twinsync_security::derive_key;

/// Delivers transport messages to another node over HTTP, signed with this direction's key.
pub struct HttpPeer {
    http: reqwest::Client,
    url: String,
    connection_id: String,
    from: String,
    key: twinsync_security::DirectionKey,
    clock: std::sync::Arc<dyn twinsync_core::Clock>,
    /// The largest body the other node said it takes.
    peer_max_body: u64,
}

impl HttpPeer {
    pub fn new(node: &Node, connection: &Connection, peer_url: &str) -> Self {
        let link = connection.link.as_ref();
        let secret = link.map(|l| l.secret.0.clone()).unwrap_or_default();
        Self {
            http: node.http.clone(),
            url: format!("{}{TRANSPORT_PATH}", peer_url.trim_end_matches('/')),
            connection_id: connection.id.clone(),
            from: node.id.clone(),
            key: derive_key(&secret, &connection.id, &node.id, &connection.remote_node),
            clock: node.clock.clone(),
            peer_max_body: link.map_or(twinsync_core::DEFAULT_MAX_TRANSPORT_BODY, |l| {
                l.peer_max_body()
            }),
        }
    }
}

/// Refuses, for good, a body over what the other node takes: it would refuse it unread,
/// so the twin says why now instead of retrying what cannot pass.
pub(crate) fn check_size(body_len: usize, peer_max_body: u64, peer: &str) -> PortResult<()> {
    if body_len as u64 > peer_max_body {
        return Err(PortError::Rejected(format!(
            "the replica is {body_len} bytes, over the {peer_max_body} bytes the other node ({peer}) takes \
             (raise max_replica_bytes in that node's [node] section, then make the connection again)"
        )));
    }
    Ok(())
}

#[async_trait]
impl Peer for HttpPeer {
    async fn deliver(&self, message: &TransportMessage) -> PortResult<()> {
        let body = serde_json::to_vec(message).map_err(|e| PortError::Rejected(e.to_string()))?;
        check_size(body.len(), self.peer_max_body, &self.url)?;
        let signer = Signer {
            key: &self.key,
            connection_id: &self.connection_id,
            from: &self.from,
        };
        let (req, _) = signer.post(
            &self.http,
            &self.url,
            TRANSPORT_PATH,
            self.clock.now_ms(),
            body,
        );
        let resp = req.send().await.map_err(|e| {
            PortError::Unavailable(format!("{}: {}", self.url, outbound::describe(&e)))
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(peer_refusal(&self.url, status.as_u16(), &text))
    }
}

/// `POST /v1/transport`: a replica or ack from the other node.
pub async fn receive_transport(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(), LinkError> {
    let verified = verify(node, TRANSPORT_PATH, headers, body, Route::Delivery).await?;
    let connection = verified.connection;
    let message: TransportMessage =
        serde_json::from_slice(&verified.body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    if message.connection_id() != connection.id {
        return Err(LinkError::Malformed(
            "message is for another connection".into(),
        ));
    }
    if let Some(reason) = message.malformed() {
        return Err(LinkError::Malformed(reason.into()));
    }
    receive::accept(node, &message).await.map_err(|e| match e {
        PortError::Rejected(m) => LinkError::Refused(m),
        other => other.into(),
    })
}
