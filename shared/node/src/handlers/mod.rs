//! The handlers of the message flow, one module each, in flow order.

pub mod ack;
pub mod arrival;
mod brief;
pub mod control;
pub mod incoming;
pub mod ingest;
pub mod outgoing;
pub mod polling;
pub mod receive;
pub mod scheduler;
pub mod transport;

use crate::{Node, NodeError, NodeResult};
pub(crate) use brief::brief;
use serde::{Deserialize, Serialize};
use twinsync_core::{ChangeEvent, Item, TransportMessage, Twin};
use twinsync_ports::{NewMessage, queues};

/// A new trace id for a change: time-ordered, so a log search by id also sorts by when
/// the change began.
pub fn new_trace_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A message parked in a paused connection's held queue, with the queue it goes back to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldMessage {
    pub queue: String,
    pub group_id: String,
    pub dedup_id: String,
    pub body: String,
}

/// Runs the handler of `queue` on one message body.
/// `receive_count` is 1 on a message's first delivery; `delivered` is a transport
/// message's delivery made with the rest of its batch, if it was.
pub async fn dispatch(
    node: &Node,
    queue: &str,
    body: &str,
    receive_count: u32,
    delivered: Option<transport::Delivery>,
) -> NodeResult<()> {
    match queue {
        queues::OUTGOING => outgoing::handle(node, parse::<ChangeEvent>(body)?).await,
        queues::TRANSPORT => {
            let message = parse::<TransportMessage>(body)?;
            transport::handle(node, message, receive_count, delivered).await
        }
        queues::INCOMING => match parse::<TransportMessage>(body)? {
            TransportMessage::Replica(r) => incoming::handle(node, r).await,
            TransportMessage::Ack(a) if node.settings.ack_queue => {
                let forwarded = TransportMessage::Ack(a);
                node.queue
                    .send(
                        queues::ACK,
                        NewMessage {
                            group_id: forwarded.group_id(),
                            dedup_id: format!("{}:fwd", forwarded.dedup_id()),
                            body: body.to_string(),
                        },
                    )
                    .await?;
                Ok(())
            }
            TransportMessage::Ack(a) => ack::handle(node, a).await,
            TransportMessage::Control(c) => control::handle(node, c).await,
        },
        queues::ACK => ack::handle(node, parse(body)?).await,
        other => Err(NodeError::BadMessage(format!(
            "no handler for queue {other}"
        ))),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &str) -> NodeResult<T> {
    serde_json::from_str(body).map_err(|e| NodeError::BadMessage(e.to_string()))
}

pub(crate) fn to_body<T: Serialize>(value: &T) -> NodeResult<String> {
    serde_json::to_string(value).map_err(|e| NodeError::BadMessage(e.to_string()))
}

/// Queues `message` for the connection's other node, in its own group, on the transport
/// queue, paused or not: while the connection is paused the transport handler parks each
/// message in the held queue as it comes to it, in its group's order. Sent straight to
/// the held queue, a replica made during a pause went ahead of an ack of the same group
/// still waiting in `transport` (the link down), and the other node merged the replica
/// before the ack gave it a base (simulation seeds 680 and 1872 of generator V4).
pub(crate) async fn send_to_peer(node: &Node, message: &TransportMessage) -> NodeResult<()> {
    node.queue
        .send(
            queues::TRANSPORT,
            NewMessage {
                group_id: message.group_id(),
                dedup_id: message.dedup_id(),
                body: to_body(message)?,
            },
        )
        .await?;
    Ok(())
}

/// Sends a message to `queue`, or to the connection's held queue while it is paused.
///
/// In the held queue the message's dedup id is made its own for this pause (the
/// connection's `updated_ms`, which its pause set): a message resumed and then parked
/// again by a second pause within the queue's deduplication window would otherwise meet
/// its own first parking there and be dropped as a duplicate (found by the simulation,
/// seed 24). A redelivery within one pause still deduplicates.
pub(crate) async fn send_or_hold(
    node: &Node,
    connection: &twinsync_core::Connection,
    paused: bool,
    queue: &str,
    message: NewMessage,
) -> NodeResult<()> {
    if paused {
        let held = HeldMessage {
            queue: queue.to_string(),
            group_id: message.group_id.clone(),
            dedup_id: message.dedup_id.clone(),
            body: message.body,
        };
        node.queue
            .send(
                &queues::held(&connection.id),
                NewMessage {
                    group_id: message.group_id,
                    dedup_id: format!("{}:held:{}", message.dedup_id, connection.updated_ms),
                    body: to_body(&held)?,
                },
            )
            .await?;
    } else {
        node.queue.send(queue, message).await?;
    }
    Ok(())
}

/// Gives the outgoing rules the remote ids of comments and attachments the twin knows,
/// so the receiver matches them without a lookup. A comment sync wrote here names its
/// remote comment in its origin marker too: that counts when the twin has no link for it
/// (a crash between the comment's write and the twin's), or the other side would take
/// its own comment, coming back, for a new one (found by the simulation, seed 2).
pub(crate) fn annotate(item: &Item, twin: Option<&Twin>) -> Item {
    let mut item = item.clone();
    if let Some(twin) = twin {
        let prefix = Node::origin_prefix(&twin.connection_id);
        for c in &mut item.comments {
            let remote = twin.remote_comment_for(&c.id).or_else(|| {
                c.origin
                    .as_deref()
                    .and_then(|o| o.strip_prefix(prefix.as_str()))
                    .filter(|id| !id.is_empty())
            });
            if let Some(remote) = remote {
                c.remote_id = Some(remote.to_string());
            }
        }
    }
    item
}
