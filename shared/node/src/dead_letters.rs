//! Messages that gave up, never quietly: dead-lettering one puts its twin in Error with
//! the reason and records a sync event; an operator's redrive moves a connection's
//! dead-lettered messages back to their queues; a redriven message, once processed,
//! takes its twin out of that Error.

use crate::{Node, NodeError, NodeResult};
use serde::Deserialize;
use twinsync_core::{ChangeEvent, SyncEventKind, TransportMessage, Twin};
use twinsync_ports::{NewMessage, PortError, PortResult, QueueMessage, RedriveFilter, queues};

/// The queues whose dead-letter queues hold messages a redrive moves back.
pub(crate) const REDRIVEN_QUEUES: [&str; 4] = [
    queues::OUTGOING,
    queues::TRANSPORT,
    queues::INCOMING,
    queues::ACK,
];

/// Copies a message that gave up to the queue's dead-letter queue, then marks its twin
/// Error with the reason and records the event. The caller deletes it from `queue` (the
/// local runner) or lets the event source mapping do so (Lambda).
pub async fn dead_letter(
    node: &Node,
    queue: &str,
    message: &QueueMessage,
    reason: &str,
) -> PortResult<()> {
    node.queue
        .send(
            &queues::dlq(queue),
            NewMessage {
                group_id: message.group_id.clone(),
                dedup_id: format!("{}:dead:{}", message.dedup_id, message.id),
                body: message.body.clone(),
            },
        )
        .await?;
    tracing::error!(queue, id = %message.id, %reason, "moved to the dead-letter queue");
    mark(node, queue, message, reason).await;
    Ok(())
}

/// Puts the message's twin in Error and records a `DeadLettered` event. The message is in
/// the dead-letter queue already: a failure here is logged, not retried.
async fn mark(node: &Node, queue: &str, message: &QueueMessage, reason: &str) {
    let Some(connection) = connection_of(&message.body) else {
        tracing::warn!(queue, id = %message.id, "a dead-lettered message names no connection");
        return;
    };
    let marked = match twin_of(node, queue, &message.body).await {
        Ok(Some(twin)) => change_twin(node, twin, |t, now| {
            t.record_dead_letter(queue, reason, now)
        })
        .await
        .map_err(|e| tracing::warn!(queue, error = %e, "could not mark the twin of a dead-lettered message"))
        .ok()
        .flatten(),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(queue, error = %e, "could not find the twin of a dead-lettered message");
            None
        }
    };
    let detail = format!("a message of {queue} was dead-lettered: {reason}");
    let twin_id = marked.as_ref().map(|t| t.id.as_str());
    node.event(&connection, twin_id, SyncEventKind::DeadLettered, detail)
        .await;
}

/// After a redriven message was processed: its twin leaves the Error its dead letter
/// put it in. Best effort, like the mark: the message is done either way.
pub async fn after_redrive(node: &Node, queue: &str, message: &QueueMessage) {
    let twin = match twin_of(node, queue, &message.body).await {
        Ok(Some(twin)) => twin,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(queue, error = %e, "could not find the twin of a redriven message");
            return;
        }
    };
    match change_twin(node, twin, |t, now| t.record_redriven(now)).await {
        Ok(Some(twin)) => {
            let detail = format!("a redriven message of {queue} was processed");
            node.event(
                &twin.connection_id,
                Some(&twin.id),
                SyncEventKind::Redriven,
                detail,
            )
            .await;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(queue, error = %e, "could not clear a twin's dead letter"),
    }
}

/// Redrive: moves every dead-lettered message of the connection back to its queue, in
/// order; each twin leaves Error when its message is processed. Returns how many moved.
pub async fn redrive(node: &Node, connection_id: &str) -> NodeResult<u64> {
    node.connection(connection_id).await?;
    let id = connection_id.to_string();
    let ours = move |m: &QueueMessage| connection_of(&m.body).as_deref() == Some(id.as_str());
    let moved = redrive_picked(node, &ours).await?;
    node.event(
        connection_id,
        None,
        SyncEventKind::Redriven,
        format!("{moved} dead-lettered messages sent back to their queues"),
    )
    .await;
    Ok(moved)
}

/// Retry of one pair: its dead-lettered messages (those of its message groups) go back
/// to their queues, in order. Returns how many moved.
pub async fn redrive_twin(node: &Node, twin: &Twin) -> NodeResult<u64> {
    let groups: Vec<String> = [&twin.local_key, &twin.remote_key]
        .into_iter()
        .flatten()
        .map(|k| format!("{}:{k}", twin.connection_id))
        .collect();
    let ours = move |m: &QueueMessage| groups.contains(&m.group_id);
    let moved = redrive_picked(node, &ours).await?;
    if moved > 0 {
        let detail =
            format!("{moved} dead-lettered messages of this pair sent back to their queues");
        node.event(
            &twin.connection_id,
            Some(&twin.id),
            SyncEventKind::Redriven,
            detail,
        )
        .await;
    }
    Ok(moved)
}

/// The picked dead letters of every redriven queue back to their queues, in order.
async fn redrive_picked(node: &Node, select: &RedriveFilter) -> NodeResult<u64> {
    let mut moved = 0;
    for queue in REDRIVEN_QUEUES {
        moved += node.queue.redrive(queue, select).await?;
    }
    Ok(moved)
}

/// The connection a message body is about: change events, replicas and acks all name it.
fn connection_of(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct About {
        connection_id: String,
    }
    serde_json::from_str::<About>(body)
        .ok()
        .map(|a| a.connection_id)
}

/// The twin on this node that a message of `queue` is about, if there is one yet.
async fn twin_of(node: &Node, queue: &str, body: &str) -> NodeResult<Option<Twin>> {
    let parse = |e: serde_json::Error| NodeError::BadMessage(e.to_string());
    if queue == queues::OUTGOING {
        let event: ChangeEvent = serde_json::from_str(body).map_err(parse)?;
        return Ok(node
            .twins
            .find_by_local(&event.connection_id, &event.item_key)
            .await?);
    }
    let message: TransportMessage = serde_json::from_str(body).map_err(parse)?;
    let sent_here = queue == queues::TRANSPORT;
    let twins = &node.twins;
    Ok(match message {
        // A replica we send names our twin; one we receive, the other side's item.
        TransportMessage::Replica(r) if sent_here => match twins.get(&r.source_twin).await? {
            Some(t) => Some(t),
            None => twins.find_by_local(&r.connection_id, &r.source_key).await?,
        },
        TransportMessage::Replica(r) => {
            twins
                .find_by_remote(&r.connection_id, &r.source_key)
                .await?
        }
        // An ack we send is for a replica of the other side; one we receive, for ours.
        TransportMessage::Ack(a) if sent_here => match &a.target_key {
            Some(key) => twins.find_by_local(&a.connection_id, key).await?,
            None => {
                twins
                    .find_by_remote(&a.connection_id, &a.source_key)
                    .await?
            }
        },
        TransportMessage::Ack(a) => match twins.get(&a.source_twin).await? {
            Some(t) => Some(t),
            None => twins.find_by_local(&a.connection_id, &a.source_key).await?,
        },
        // A control message we send names our item; one we receive, the other side's.
        TransportMessage::Control(c) if sent_here => {
            twins.find_by_local(&c.connection_id, &c.source_key).await?
        }
        TransportMessage::Control(c) => {
            twins
                .find_by_remote(&c.connection_id, &c.source_key)
                .await?
        }
    })
}

/// Applies `change` to the twin and stores it, reading it again after a lost race.
/// `None` when the change left the twin as it was (or it is gone).
pub(crate) async fn change_twin(
    node: &Node,
    mut twin: Twin,
    change: impl Fn(&mut Twin, i64) -> bool,
) -> NodeResult<Option<Twin>> {
    for _ in 0..8 {
        if !change(&mut twin, node.now_ms()) {
            return Ok(None);
        }
        match node.twins.update(&twin).await {
            Ok(stored) => return Ok(Some(stored)),
            Err(PortError::Conflict(_)) => match node.twins.get(&twin.id).await? {
                Some(fresh) => twin = fresh,
                None => return Ok(None),
            },
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Conflict(format!("twin {} is changing too often", twin.id)).into())
}
