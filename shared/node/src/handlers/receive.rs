//! The receiving side of transport: a message another node sent (over `/v1/transport`,
//! a pull, or in the same process) goes to this node's `incoming` queue, or to the
//! connection's held queue while it is paused here.

use crate::Node;
use crate::handlers::HeldMessage;
use twinsync_core::{Connection, ConnectionStatus, TransportMessage};
use twinsync_ports::{NewMessage, PortError, queues};

/// Receiving side: a message from another node goes to the `incoming` queue, or to the
/// connection's held queue while it is paused here.
pub async fn accept(node: &Node, message: &TransportMessage) -> Result<(), PortError> {
    let connection = connection_of(node, message.connection_id()).await?;
    accept_all(node, &connection, std::slice::from_ref(message)).await
}

/// The connection a message from another node names; one this node does not know
/// refuses it for good.
pub async fn connection_of(node: &Node, id: &str) -> Result<Connection, PortError> {
    node.connections
        .get(id)
        .await?
        .ok_or_else(|| PortError::Rejected(format!("unknown connection {id}")))
}

/// Queues `messages` of `connection` in their order: several with one batch send, so a
/// delivery of a list costs one request on SQS.
pub async fn accept_all(
    node: &Node,
    connection: &Connection,
    messages: &[TransportMessage],
) -> Result<(), PortError> {
    let mut news = Vec::with_capacity(messages.len());
    for message in messages {
        let body =
            serde_json::to_string(message).map_err(|e| PortError::Rejected(e.to_string()))?;
        news.push(NewMessage {
            group_id: message.group_id(),
            dedup_id: message.dedup_id(),
            body,
        });
    }
    let queue = queues::INCOMING;
    if connection.status == ConnectionStatus::Deactivated {
        for new in news {
            let held = HeldMessage {
                queue: queue.to_string(),
                group_id: new.group_id.clone(),
                dedup_id: new.dedup_id.clone(),
                body: new.body,
            };
            let body =
                serde_json::to_string(&held).map_err(|e| PortError::Rejected(e.to_string()))?;
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
        }
        return Ok(());
    }
    match <[NewMessage; 1]>::try_from(news) {
        Ok([one]) => {
            node.queue.send(queue, one).await?;
        }
        Err(news) if news.is_empty() => {}
        Err(news) => node.queue.send_batch(queue, news).await?,
    }
    Ok(())
}
