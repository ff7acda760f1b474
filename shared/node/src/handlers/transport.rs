//! transport: deliver replicas and acks to the other node, and accept the other node's.

use crate::handlers::{outgoing, send_or_hold, to_body};
use crate::{Node, NodeResult};
use std::collections::HashMap;
use std::sync::Arc;
use twinsync_core::{Connection, ConnectionStatus, SyncEventKind, TransportMessage};
use twinsync_ports::{Delivered, NewMessage, Peer, PortError, QueueMessage, queues};

/// A message's delivery, made before its handling with the others of its batch.
pub type Delivery = Result<(), PortError>;

/// The deliveries [`deliver_together`] made, by queue message id.
#[derive(Default)]
pub struct Together(HashMap<String, Delivery>);

impl Together {
    /// The delivery made for the queue message `id`, if one was.
    pub fn of(&self, id: &str) -> Option<&Delivery> {
        self.0.get(id)
    }
}

/// Delivers a transport batch's messages for each connection whose other node takes
/// several to a request (`Peer::batch_max`) together: one signed request for up to ten.
/// On AWS each request is an invocation of the other node's function URL and a send
/// there, so one a message made those two per change under any load. Each message is
/// then handled as before, with its delivery made; a connection paused, a peer that
/// takes one at a time or a lone message is left to the handler.
pub async fn deliver_together(node: &Node, batch: &[QueueMessage]) -> Together {
    // A lone message goes as it always did; its body is read once, by its handler.
    if batch.len() < 2 {
        return Together::default();
    }
    let mut by_connection: Vec<(String, Vec<(String, TransportMessage)>)> = Vec::new();
    for queued in batch {
        let Ok(message) = serde_json::from_str::<TransportMessage>(&queued.body) else {
            continue;
        };
        let id = message.connection_id().to_string();
        let entry = (queued.id.clone(), message);
        match by_connection.iter_mut().find(|(c, _)| *c == id) {
            Some((_, members)) => members.push(entry),
            None => by_connection.push((id, vec![entry])),
        }
    }
    let runs = by_connection
        .into_iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|(id, members)| deliver_connection(node, id, members));
    let mut together = Together::default();
    for delivered in futures::future::join_all(runs).await {
        together.0.extend(delivered);
    }
    together
}

/// One connection's messages of a batch, delivered in their order when its peer takes
/// several to a request; nothing otherwise.
async fn deliver_connection(
    node: &Node,
    connection_id: String,
    members: Vec<(String, TransportMessage)>,
) -> Vec<(String, Delivery)> {
    let connection = match node.connections.get(&connection_id).await {
        Ok(Some(c)) if c.status != ConnectionStatus::Deactivated => c,
        _ => return Vec::new(),
    };
    let Ok(Destination::Peer(peer)) = destination(node, &connection) else {
        return Vec::new();
    };
    if peer.batch_max() <= 1 {
        return Vec::new();
    }
    let (ids, messages): (Vec<String>, Vec<TransportMessage>) = members.into_iter().unzip();
    let delivered = peer.deliver_all(&messages).await;
    tracing::debug!(connection = %connection.id, messages = messages.len(), ok = delivered.is_ok(), "delivered together");
    match delivered {
        Ok(answers) if answers.len() == ids.len() => ids
            .into_iter()
            .zip(answers)
            .map(|(id, answer)| match answer {
                Delivered::Accepted => (id, Ok(())),
                Delivered::Refused(reason) => (id, Err(PortError::Rejected(reason))),
            })
            .collect(),
        // An answer that does not add up: each goes again on its own, and the other
        // node's deduplication drops what had arrived.
        Ok(_) => Vec::new(),
        Err(e) => ids.into_iter().map(|id| (id, Err(e.clone()))).collect(),
    }
}

/// Delivers one message to the connection's remote node, unless `delivered` says it was
/// with the rest of its batch. A retryable failure leaves the message queued (the runner
/// backs off); after `error_after_failures` tries in a row the connection goes to Error,
/// and it returns to Active by itself on the next success.
pub async fn handle(
    node: &Node,
    message: TransportMessage,
    receive_count: u32,
    delivered: Option<Delivery>,
) -> NodeResult<()> {
    let Some(connection) = node.connections.get(message.connection_id()).await? else {
        tracing::warn!(connection = %message.connection_id(), "message for an unknown connection dropped");
        return Ok(());
    };
    let result = match delivered {
        // At the other node already, whatever the connection's status says since.
        Some(result) => result,
        None if connection.status == ConnectionStatus::Deactivated => {
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
        None => deliver(node, &connection, &message).await,
    };
    match result {
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
    let now = node.now_ms();
    let changed = crate::versions::change_if(node, connection_id, |c| {
        if c.status == to && c.status_reason == reason {
            return Ok(None);
        }
        let from = c.status;
        c.transition(to, reason.clone())?;
        c.updated_ms = now;
        Ok(Some(from))
    })
    .await?;
    let Some(from) = changed else {
        return Ok(());
    };
    if to == ConnectionStatus::Deactivated {
        // When the pause began: a resume after the held queue's retention reads every
        // twin again (pause::after_pause).
        node.connections
            .set_meta(&crate::pause::paused_key(connection_id), &now.to_string())
            .await?;
    }
    let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
    let detail = format!("{} -> {}{reason}", from.as_str(), to.as_str());
    node.event(connection_id, None, SyncEventKind::ConnectionStatus, detail)
        .await;
    Ok(())
}

/// Where a connection's messages go.
enum Destination {
    /// A local connection's other side, a record of this node.
    Mirror(String),
    /// The outbox a private node pulls from, with the most it takes in one pull.
    Outbox(u64),
    /// The other node, over HTTP or in this process.
    Peer(Arc<dyn Peer>),
}

fn destination(node: &Node, connection: &Connection) -> Result<Destination, PortError> {
    if let Some(mirror) = crate::link::mirror_id(connection) {
        return Ok(Destination::Mirror(mirror));
    }
    if let Some(link) = &connection.link
        && link.kind == twinsync_core::ConnectionKind::Private
        && link.peer_url.is_none()
    {
        return Ok(Destination::Outbox(link.peer_max_body()));
    }
    let peer: Arc<dyn Peer> = match connection.link.as_ref().and_then(|l| l.peer_url.clone()) {
        Some(url) => Arc::new(crate::link::HttpPeer::new(node, connection, &url)),
        None => node
            .peer(&connection.remote_node)
            .map_err(|e| PortError::Unavailable(e.to_string()))?,
    };
    Ok(Destination::Peer(peer))
}

/// Hands `message` to the other node: over HTTP for a connection made by invitation, into
/// the outbox for a private node that pulls, or straight in for a node of this process.
async fn deliver(
    node: &Node,
    connection: &Connection,
    message: &TransportMessage,
) -> Result<(), PortError> {
    match destination(node, connection)? {
        Destination::Mirror(mirror) => {
            let message = message.clone().for_connection(&mirror);
            crate::handlers::receive::accept(node, &message).await
        }
        Destination::Outbox(max_body) => {
            let body =
                serde_json::to_string(message).map_err(|e| PortError::Rejected(e.to_string()))?;
            // The pulling node holds its pulls to the limit it told this one.
            crate::link::check_size(body.len(), max_body, &connection.remote_node)?;
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
            Ok(())
        }
        Destination::Peer(peer) => {
            peer.deliver(message).await?;
            if let Some(max) = peer.batch_max_said() {
                learn_batch_max(node, connection, max).await;
            }
            Ok(())
        }
    }
}

/// Notes on the connection how many messages its other node takes to a request, where
/// its link predates lists (made before that node said it in the handshake): one write,
/// once, and later deliveries go together. A failed write is tried at the next delivery.
async fn learn_batch_max(node: &Node, connection: &Connection, max: u32) {
    if connection
        .link
        .as_ref()
        .is_none_or(|l| l.peer_batch_max.is_some())
    {
        return;
    }
    let now = node.now_ms();
    let noted = crate::versions::change(node, &connection.id, |c| {
        if let Some(link) = c.link.as_mut() {
            link.peer_batch_max = Some(max);
        }
        c.updated_ms = now;
        Ok(())
    })
    .await;
    match noted {
        Ok(()) => {
            tracing::info!(connection = %connection.id, max, "the other node takes several messages a request; later deliveries go together")
        }
        Err(e) => {
            tracing::warn!(connection = %connection.id, error = %e, "the other node's list size not noted")
        }
    }
}
