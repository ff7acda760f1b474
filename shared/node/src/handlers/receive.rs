//! The receiving side of transport: a message another node sent (over `/v1/transport`,
//! a pull, or in the same process) goes to this node's `incoming` queue, or to the
//! connection's held queue while it is paused here.

use crate::Node;
use crate::handlers::HeldMessage;
use twinsync_core::{ConnectionStatus, TransportMessage};
use twinsync_ports::{NewMessage, PortError, queues};

/// Receiving side: a message from another node goes to the `incoming` or `ack` queue,
/// or to the connection's held queue while it is paused here.
pub async fn accept(node: &Node, message: &TransportMessage) -> Result<(), PortError> {
    let connection = node
        .connections
        .get(message.connection_id())
        .await?
        .ok_or_else(|| {
            PortError::Rejected(format!("unknown connection {}", message.connection_id()))
        })?;
    let queue = queues::INCOMING;
    let body = serde_json::to_string(message).map_err(|e| PortError::Rejected(e.to_string()))?;
    let new = NewMessage {
        group_id: message.group_id(),
        dedup_id: message.dedup_id(),
        body,
    };
    if connection.status == ConnectionStatus::Deactivated {
        let held = HeldMessage {
            queue: queue.to_string(),
            group_id: new.group_id.clone(),
            dedup_id: new.dedup_id.clone(),
            body: new.body,
        };
        let body = serde_json::to_string(&held).map_err(|e| PortError::Rejected(e.to_string()))?;
        node.queue
            .send(
                &queues::held(&connection.id),
                NewMessage {
                    group_id: new.group_id,
                    dedup_id: new.dedup_id,
                    body,
                },
            )
            .await?;
    } else {
        node.queue.send(queue, new).await?;
    }
    Ok(())
}
