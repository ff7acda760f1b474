//! ingest: a tracker's webhook (or a poll) becomes ChangeEvents on the `outgoing` queue.

use crate::handlers::to_body;
use crate::{Node, NodeError, NodeResult};
use twinsync_core::{ChangeEvent, Connection, ConnectionStatus};
use twinsync_ports::{ChangeSignal, NewMessage, WebhookError, queues};

/// Why a webhook was refused; each maps to a 4xx answer.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unknown tracker instance {0}")]
    UnknownInstance(String),
    #[error("instance {instance} is a {actual} tracker, not {claimed}")]
    WrongConnector {
        instance: String,
        actual: String,
        claimed: String,
    },
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// Verifies a webhook delivery and queues a change per connection using the instance.
/// Returns how many change events were queued.
pub async fn webhook(
    node: &Node,
    connector: &str,
    instance: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<usize, IngestError> {
    let tracker = node
        .trackers
        .get(instance)
        .ok_or_else(|| IngestError::UnknownInstance(instance.to_string()))?;
    if tracker.kind().as_str() != connector {
        return Err(IngestError::WrongConnector {
            instance: instance.to_string(),
            actual: tracker.kind().to_string(),
            claimed: connector.to_string(),
        });
    }
    let signals = tracker.verify_webhook(headers, body, node.now_ms())?;
    Ok(signals_to_changes(node, instance, &signals, false).await?)
}

/// Queues one ChangeEvent per (connection on `instance`, signal). The dedup id is the item
/// and its version, so a webhook and a poll of the same change meet in the dedup window.
pub async fn signals_to_changes(
    node: &Node,
    instance: &str,
    signals: &[ChangeSignal],
    force: bool,
) -> NodeResult<usize> {
    let connections = node.connections.list().await?;
    let mut queued = 0;
    for connection in connections
        .iter()
        .filter(|c| c.local_instance == instance && c.status != ConnectionStatus::Pending)
    {
        queued += queue_changes(node, connection, signals, force).await?;
    }
    Ok(queued)
}

/// Queues one ChangeEvent per signal for one connection.
pub async fn queue_changes(
    node: &Node,
    connection: &Connection,
    signals: &[ChangeSignal],
    force: bool,
) -> NodeResult<usize> {
    let instance = connection.local_instance.as_str();
    {
        let mut batch = Vec::with_capacity(signals.len());
        let mut traces = Vec::with_capacity(signals.len());
        for s in signals {
            let event = ChangeEvent {
                connection_id: connection.id.clone(),
                instance: instance.to_string(),
                item_key: s.item_key.clone(),
                observed_version: s.version,
                delivery_id: s.delivery_id.clone(),
                force,
                trace_id: super::new_trace_id(),
            };
            let dedup_id = if force {
                format!("{}:{}:force:{}", connection.id, s.item_key, s.delivery_id)
            } else {
                format!("{}:{}:{}", connection.id, s.item_key, s.version)
            };
            traces.push(event.trace_id.clone());
            batch.push(NewMessage {
                group_id: event.group_id(),
                dedup_id,
                body: to_body(&event)?,
            });
        }
        let queued = batch.len();
        node.queue.send_batch(queues::OUTGOING, batch).await?;
        for (s, m) in signals.iter().zip(&traces) {
            tracing::info!(connection = %connection.id, item = %s.item_key, trace_id = %m, "change queued");
        }
        Ok(queued)
    }
}
