//! Private connections: the node that cannot be reached pulls its messages from the
//! public one (long poll) and acknowledges what it queued.

use super::signed::{LinkError, Route, SignedAnswer, answer, signed_post, verify};
use crate::handlers::receive;
use crate::{Node, NodeError, NodeResult};
use serde::{Deserialize, Serialize};
use twinsync_core::{Connection, SyncEventKind, TransportMessage};

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
) -> Result<SignedAnswer, LinkError> {
    let request = verify(node, PULL_PATH, headers, body, Route::Once).await?;
    let connection = &request.connection;
    let req: PullRequest =
        serde_json::from_slice(&request.body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    let outbox = twinsync_ports::queues::outbox(&connection.id);
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(req.wait_ms.min(25_000));
    loop {
        let batch = node
            .queue
            .receive(&outbox, req.max.clamp(1, 100), PULL_VISIBILITY_MS)
            .await?;
        if !batch.is_empty() || std::time::Instant::now() >= deadline {
            let limit = connection
                .link
                .as_ref()
                .map_or(twinsync_core::DEFAULT_MAX_TRANSPORT_BODY, |l| {
                    l.peer_max_body()
                });
            let mut pulled = Vec::with_capacity(batch.len());
            let mut total = 0u64;
            for m in batch {
                // The answer stays within what the puller takes; what does not fit is
                // offered again at once, to its next pull.
                total += m.body.len() as u64 + 64;
                if total > limit && !pulled.is_empty() {
                    node.queue.change_visibility(&outbox, &m.receipt, 0).await?;
                    continue;
                }
                pulled.push(PulledMessage {
                    receipt: m.receipt,
                    body: m.body,
                });
            }
            return answer(node, &request, PULL_PATH, &pulled);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `POST /v1/pull/ack`: the private node has queued these; they can go.
pub async fn serve_pull_ack(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<SignedAnswer, LinkError> {
    let request = verify(node, PULL_ACK_PATH, headers, body, Route::Once).await?;
    let connection = &request.connection;
    let ack: PullAck =
        serde_json::from_slice(&request.body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    let outbox = twinsync_ports::queues::outbox(&connection.id);
    let mut deleted = 0;
    for receipt in &ack.receipts {
        // A receipt that timed out and was handed out again is refused; the message is
        // then pulled once more and deduplicated on arrival.
        if node.queue.delete(&outbox, receipt).await.is_ok() {
            deleted += 1;
        }
    }
    answer(
        node,
        &request,
        PULL_ACK_PATH,
        &serde_json::json!({ "deleted": deleted }),
    )
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
            // The answer is the peer's, but each message must still be of this connection:
            // a peer must not reach another connection's twins through its own.
            Ok(message) if message.connection_id() != connection.id => {
                tracing::error!(
                    connection = %connection.id,
                    other = %message.connection_id(),
                    "pulled message is of another connection; refused"
                );
                node.event(
                    &connection.id,
                    None,
                    SyncEventKind::Error,
                    format!(
                        "the other node handed over a message of connection {}; refused",
                        message.connection_id()
                    ),
                )
                .await;
            }
            // Acknowledged all the same: pulled again, it would be refused again.
            Ok(message) if message.malformed().is_some() => tracing::error!(
                connection = %connection.id,
                reason = message.malformed().unwrap_or_default(),
                "pulled message cannot be applied; dropped"
            ),
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
