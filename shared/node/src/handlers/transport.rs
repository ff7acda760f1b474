//! transport: deliver replicas and acks to the other node, and accept the other node's.

use crate::handlers::{outgoing, send_or_hold, to_body};
use crate::{Node, NodeError, NodeResult};
use twinsync_core::{ConnectionStatus, SyncEventKind, TransportMessage};
use twinsync_ports::{NewMessage, PortError, queues};

/// Delivers one message to the connection's remote node. A retryable failure leaves the
/// message queued (the runner backs off); after `error_after_failures` tries in a row the
/// connection goes to Error, and it returns to Active by itself on the next success.
pub async fn handle(node: &Node, message: TransportMessage, receive_count: u32) -> NodeResult<()> {
    let Some(connection) = node.connections.get(message.connection_id()).await? else {
        tracing::warn!(connection = %message.connection_id(), "message for an unknown connection dropped");
        return Ok(());
    };
    if connection.status == ConnectionStatus::Deactivated {
        // Paused after the message was queued: park it with the rest, in order.
        return send_or_hold(
            node,
            &connection,
            true,
            queues::TRANSPORT,
            NewMessage {
                group_id: message.group_id(),
                dedup_id: message.dedup_id(),
                body: to_body(&message)?,
            },
        )
        .await;
    }
    match deliver(node, &connection, &message).await {
        Ok(()) => {
            if connection.status == ConnectionStatus::Error {
                set_status(node, &connection.id, ConnectionStatus::Active, None).await?;
            }
            Ok(())
        }
        Err(e) if e.is_retryable() => {
            if receive_count >= node.settings.error_after_failures
                && connection.status == ConnectionStatus::Active
            {
                set_status(
                    node,
                    &connection.id,
                    ConnectionStatus::Error,
                    Some(format!("node {} unreachable: {e}", connection.remote_node)),
                )
                .await?;
            }
            Err(e.into())
        }
        Err(e) => {
            // The other node refused the message for good; the twin shows why.
            if let TransportMessage::Replica(r) = &message
                && let Some(twin) = node
                    .twins
                    .find_by_local(&r.connection_id, &r.source_key)
                    .await?
            {
                outgoing::mark_error(node, twin, &format!("remote node refused the replica: {e}"))
                    .await?;
            }
            tracing::warn!(error = %e, "transport message refused by the remote node");
            Ok(())
        }
    }
}

/// Moves a connection's status with a conditional write, retrying lost races.
pub async fn set_status(
    node: &Node,
    connection_id: &str,
    to: ConnectionStatus,
    reason: Option<String>,
) -> NodeResult<()> {
    for _ in 0..8 {
        let mut connection = node.connection(connection_id).await?;
        if connection.status == to && connection.status_reason == reason {
            return Ok(());
        }
        let from = connection.status;
        connection
            .transition(to, reason.clone())
            .map_err(|e| NodeError::Operation(e.to_string()))?;
        connection.updated_ms = node.now_ms();
        match node.connections.update(&connection).await {
            Ok(_) => {
                if to == ConnectionStatus::Deactivated {
                    // When the pause began: a resume after the held queue's retention
                    // reads every twin again (pause::after_pause).
                    node.connections
                        .set_meta(
                            &crate::pause::paused_key(connection_id),
                            &node.now_ms().to_string(),
                        )
                        .await?;
                }
                node.event(
                    connection_id,
                    None,
                    SyncEventKind::ConnectionStatus,
                    format!(
                        "{} -> {}{}",
                        from.as_str(),
                        to.as_str(),
                        reason.map(|r| format!(": {r}")).unwrap_or_default()
                    ),
                )
                .await;
                return Ok(());
            }
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Conflict(format!("connection {connection_id} is changing too often")).into())
}

/// Hands `message` to the other node: over HTTP for a connection made by invitation, into
/// the outbox for a private node that pulls, or straight in for a node of this process.
async fn deliver(
    node: &Node,
    connection: &twinsync_core::Connection,
    message: &TransportMessage,
) -> Result<(), PortError> {
    // A local connection's other side is a record of this node.
    if let Some(mirror) = crate::link::mirror_id(connection) {
        let message = message.clone().for_connection(&mirror);
        return crate::handlers::receive::accept(node, &message).await;
    }
    if let Some(link) = &connection.link
        && link.kind == twinsync_core::ConnectionKind::Private
        && link.peer_url.is_none()
    {
        let body =
            serde_json::to_string(message).map_err(|e| PortError::Rejected(e.to_string()))?;
        // The pulling node holds its pulls to the limit it told this one.
        crate::link::check_size(body.len(), link.peer_max_body(), &connection.remote_node)?;
        node.queue
            .send(
                &queues::outbox(&connection.id),
                NewMessage {
                    group_id: message.group_id(),
                    dedup_id: message.dedup_id(),
                    body,
                },
            )
            .await?;
        return Ok(());
    }
    let peer: std::sync::Arc<dyn twinsync_ports::Peer> =
        match connection.link.as_ref().and_then(|l| l.peer_url.clone()) {
            Some(url) => std::sync::Arc::new(crate::link::HttpPeer::new(node, connection, &url)),
            None => node
                .peer(&connection.remote_node)
                .map_err(|e| PortError::Unavailable(e.to_string()))?,
        };
    peer.deliver(message).await
}
