//! control: operations that change both nodes' twins. [`tell`] sends one to the other
//! node after this node has done its side; [`handle`] follows the other node's request
//! here and answers it, and takes the answers to ours.

use crate::handlers::{ingest::queue_changes, new_trace_id, send_to_peer};
use crate::pairing::SamePair;
use crate::{Node, NodeResult, pairing};
use twinsync_core::{
    Connection, ControlAnswer, ControlMessage, ControlOp, MatchOn, SyncEventKind, TransportMessage,
    Twin, matching,
};

/// What a request names on the other node: its item by key or by a field's value, and
/// the twin record the request is about, when this node knows it.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub key: Option<String>,
    /// Relink by a field, without a key.
    pub match_on: Option<MatchOn>,
    pub twin: Option<String>,
}

/// Tells the other node to follow `op` on the twin of `local_key` (its `remote_key`).
pub async fn tell(
    node: &Node,
    connection: &Connection,
    op: ControlOp,
    local_key: &str,
    remote_key: Option<&str>,
) -> NodeResult<()> {
    let target = Target {
        key: remote_key.map(str::to_string),
        ..Target::default()
    };
    ask(node, connection, op, local_key, target).await?;
    Ok(())
}

/// Sends the request `op` on the twin of `local_key` to the other node; returns the
/// request's id, which its answer repeats.
pub async fn ask(
    node: &Node,
    connection: &Connection,
    op: ControlOp,
    local_key: &str,
    target: Target,
) -> NodeResult<String> {
    let id = uuid::Uuid::now_v7().to_string();
    let message = ControlMessage {
        connection_id: connection.id.clone(),
        from_node: node.id.clone(),
        id: id.clone(),
        op,
        source_key: local_key.to_string(),
        target_key: target.key,
        match_on: target.match_on,
        answer: None,
        target_twin: target.twin,
        answer_twin: None,
        trace_id: new_trace_id(),
    };
    send_to_peer(node, &TransportMessage::Control(message)).await?;
    Ok(id)
}

/// Tells the other node again that `twin` is unlinked: its replica from the record
/// `remote_twin` shows it never heard (an Unlink that crashed before it told it, found by
/// the simulation, seed 727). Naming the record leaves a pair relinked since alone.
pub async fn tell_unlinked_again(
    node: &Node,
    connection: &Connection,
    twin: &Twin,
    remote_twin: &str,
) -> NodeResult<()> {
    let Some(local) = &twin.local_key else {
        return Ok(());
    };
    let target = Target {
        key: twin.remote_key.clone(),
        match_on: None,
        twin: Some(remote_twin.to_string()),
    };
    ask(node, connection, ControlOp::Unlink, local, target).await?;
    Ok(())
}

pub async fn handle(node: &Node, message: ControlMessage) -> NodeResult<()> {
    let Some(connection) = node.connections.get(&message.connection_id).await? else {
        tracing::warn!(connection = %message.connection_id, "control message for an unknown connection dropped");
        return Ok(());
    };
    match message.answer.clone() {
        None => {
            // A relink by field names its item here by value: found, it is the target.
            let (message, answer, pair_twin) = match find_match(node, &connection, message).await? {
                Ok(message) if message.op == ControlOp::Relink => {
                    let (answer, pair_twin) = relink_here(node, &connection, &message).await?;
                    (message, answer, pair_twin)
                }
                Ok(message) => {
                    let answer = follow(node, &connection, &message).await?;
                    (message, answer, None)
                }
                Err((message, refusal)) => (message, refusal, None),
            };
            let (verb, detail) = match &answer {
                ControlAnswer::Done(d) => ("done", d),
                ControlAnswer::Refused(why) => ("refused", why),
            };
            tracing::info!(op = message.op.as_str(), from = %message.from_node, item = %message.source_key, target_twin = ?message.target_twin, "{verb}: {detail}");
            node.event(
                &connection.id,
                None,
                SyncEventKind::Operation,
                format!(
                    "{} asked by {} for {}: {verb}: {detail}",
                    message.op.as_str(),
                    message.from_node,
                    message.source_key
                ),
            )
            .await;
            let reply = message.answered(&node.id, answer, pair_twin);
            send_to_peer(node, &TransportMessage::Control(reply)).await
        }
        Some(answer) => answered(node, &connection, &message, answer).await,
    }
}

/// Does here what the other node did on its side (a Relink: [`relink_here`]).
async fn follow(
    node: &Node,
    connection: &Connection,
    message: &ControlMessage,
) -> NodeResult<ControlAnswer> {
    let (local, remote) = (
        message.target_key.as_deref(),
        Some(message.source_key.as_str()),
    );
    let Some(twin) = pairing::find(node, &connection.id, local, remote).await? else {
        return Ok(ControlAnswer::Done("no twin here".into()));
    };
    if matches!(message.op, ControlOp::Deleted | ControlOp::MovedOut) {
        return crate::removals::follow(node, connection, twin, message.op).await;
    }
    let key = twin.local_key.clone().unwrap_or_default();
    let named_other = message
        .target_twin
        .as_ref()
        .is_some_and(|named| *named != twin.id);
    if named_other || pairing::relinked_after(node, &connection.id, &twin, &message.id).await? {
        return Ok(ControlAnswer::Done(format!(
            "{key} was linked again since; left as it is"
        )));
    }
    if message.op == ControlOp::Unlink {
        pairing::unlink(node, connection, twin).await?;
        return Ok(ControlAnswer::Done(format!("{key} unlinked")));
    }
    let dropped = if message.op == ControlOp::ForceUnlink {
        pairing::purge(node, &connection.id, &twin).await?
    } else {
        0
    };
    pairing::forget(node, connection, &twin).await?;
    Ok(ControlAnswer::Done(format!(
        "{key} no longer under sync; {dropped} pending messages dropped"
    )))
}

/// A relink by field without a key: this side's one item in the connection's project that
/// carries the value, not linked to anything, becomes the message's target.
async fn find_match(
    node: &Node,
    connection: &Connection,
    mut message: ControlMessage,
) -> NodeResult<Result<ControlMessage, (ControlMessage, ControlAnswer)>> {
    let Some(on) = message
        .match_on
        .clone()
        .filter(|_| message.target_key.is_none())
    else {
        return Ok(Ok(message));
    };
    let tracker = node.tracker(&connection.local_instance)?;
    let query = matching::query(&connection.target_project, &on);
    let mut page = None;
    let mut free = Vec::new();
    loop {
        let found = tracker.search_updated(&query, 0, page).await?;
        for item in found.items.iter().filter(|i| matching::is_match(i, &on)) {
            if node
                .twins
                .find_by_local(&connection.id, &item.key)
                .await?
                .is_none()
            {
                free.push(item.key.clone());
            }
        }
        match found.next {
            Some(next) => page = Some(next),
            None => break,
        }
    }
    let wanted = format!("{} {:?}", on.field, on.value);
    match free.as_slice() {
        [one] => {
            message.target_key = Some(one.clone());
            Ok(Ok(message))
        }
        [] => Ok(Err((
            message,
            ControlAnswer::Refused(format!("no item free to link has {wanted}")),
        ))),
        many => Ok(Err((
            message,
            ControlAnswer::Refused(format!(
                "{} items have {wanted} ({}): connect them by pairs",
                many.len(),
                many.join(", ")
            )),
        ))),
    }
}

/// Relink on this side: the named item must exist here and be free to link. A live twin
/// of the same two items that the request names is the record the other node unlinked
/// (its Unlink never arrived, or arrives later): what it sent and applied belongs to the
/// old pair, so a new record replaces it. Any other live twin of the two items is kept:
/// a newer pairing (both nodes relinked at once), or this request delivered again.
/// Linked, the answer names the twin record of the pair here.
async fn relink_here(
    node: &Node,
    connection: &Connection,
    message: &ControlMessage,
) -> NodeResult<(ControlAnswer, Option<String>)> {
    let Some(target) = message.target_key.as_deref() else {
        return Ok((ControlAnswer::Refused("no item named to link".into()), None));
    };
    let tracker = node.tracker(&connection.local_instance)?;
    if tracker.get_item(target).await?.is_none() {
        let why = format!("{target} does not exist in {}", connection.local_instance);
        return Ok((ControlAnswer::Refused(why), None));
    }
    let same_pair = match &message.target_twin {
        Some(unlinked) => SamePair::Replace(unlinked),
        None => SamePair::Keep,
    };
    let pair = (target, message.source_key.as_str());
    Ok(
        match pairing::link_for(node, connection, pair, same_pair, Some(&message.id)).await? {
            Ok(twin) => {
                pairing::record_relink(node, &connection.id, &message.id, &twin).await?;
                let done = format!("{target} linked with {}", message.source_key);
                (ControlAnswer::Done(done), Some(twin.id))
            }
            Err(why) => (ControlAnswer::Refused(why), None),
        },
    )
}

/// The twin our answered Relink pairs, and the newest record of the other node's that is
/// a leftover of the old pair there. A twin kept here that took replicas from a record
/// older than the one the answer names is the old pair's: that node replaced the record
/// before it answered (it followed our Relink after its own, which we followed), and
/// what the twin counted from it would hide our first send of the new pair as already
/// shared (simulation seed 21957 of V6 at 300 steps). A new record replaces it.
async fn renew_old_pair(
    node: &Node,
    connection: &Connection,
    message: &ControlMessage,
    (local, remote): (&str, &str),
    kept: Twin,
) -> NodeResult<Result<(Twin, Option<String>), String>> {
    let named = message.target_twin.clone();
    let Some(old) = message
        .answer_twin
        .as_deref()
        .and_then(|pair| kept.exchanged_with_older(pair))
        .map(str::to_string)
    else {
        return Ok(Ok((kept, named)));
    };
    tracing::info!(twin = %kept.id, old_record = %old, "relinked twin took the old pair's replicas; a new record replaces it");
    let replaced = named.into_iter().chain([old]).max();
    Ok(
        pairing::link(node, connection, local, remote, SamePair::Replace(&kept.id))
            .await?
            .map(|twin| (twin, replaced)),
    )
}

/// The other node's answer to one of ours. A relink it agreed to is linked here too and
/// synced; one it refused leaves nothing behind.
async fn answered(
    node: &Node,
    connection: &Connection,
    message: &ControlMessage,
    answer: ControlAnswer,
) -> NodeResult<()> {
    let local = message.target_key.clone().unwrap_or_default();
    let remote = message.source_key.as_str();
    let asked_since = message.op == ControlOp::Relink
        && pairing::pair_requested_since(node, &connection.id, &local, &message.id).await?;
    let detail = match (&answer, message.op) {
        (ControlAnswer::Done(d), ControlOp::Relink) if asked_since => {
            // An operator here asked again since (an Unlink, maybe a Relink), which the
            // other node follows after this one: the later request decides the pair.
            // Linked on this one, the record took replicas of the other node's record that
            // the later request replaced there, the later answer kept it, and nothing was
            // sent to the other node's new twin (simulation seed 1524 of V5 at 300 steps).
            format!(
                "{} confirmed: {d}; a later request asked here decides the pair",
                message.from_node
            )
        }
        (ControlAnswer::Done(d), ControlOp::Relink) => {
            let linked =
                match pairing::link(node, connection, &local, remote, SamePair::Keep).await? {
                    Ok(twin) => {
                        renew_old_pair(node, connection, message, (&local, remote), twin).await?
                    }
                    Err(why) => Err(why),
                };
            match linked {
                Ok((twin, replaced)) => {
                    // The record our request named is no longer the pair's there (the
                    // other node replaced it): what it sent before is a leftover of the
                    // old pair, still in a queue (simulation seed 2348 of V5).
                    if let Some(replaced) = &replaced {
                        pairing::record_relinked_over(node, &connection.id, &twin, replaced)
                            .await?;
                    }
                    let signal = crate::bulk::signal(&local, 0, "relink");
                    queue_changes(node, connection, &[signal], true).await?;
                    format!("{} confirmed: {d}; syncing", message.from_node)
                }
                Err(why) => {
                    // Linked otherwise here meanwhile: the other side lets go again.
                    tell(node, connection, ControlOp::Unexalate, &local, Some(remote)).await?;
                    format!("{} linked, but here {why}; undone", message.from_node)
                }
            }
        }
        (ControlAnswer::Done(d), _) => format!("{} followed: {d}", message.from_node),
        (ControlAnswer::Refused(why), _) => format!("{} refused: {why}", message.from_node),
    };
    if message.op == ControlOp::Relink {
        // Only now, with the pair linked (or not) as the answer says: from here on a
        // replica at an unlinked twin of the item links nothing.
        pairing::relink_answered(node, &connection.id, &local, &message.id).await?;
    }
    let twin = pairing::find(node, &connection.id, Some(&local), Some(remote)).await?;
    tracing::info!(op = message.op.as_str(), item = %local, twin = ?twin.as_ref().map(|t| &t.id), "{detail}");
    node.event(
        &connection.id,
        twin.as_ref().map(|t| t.id.as_str()),
        SyncEventKind::Operation,
        format!("{} of {local}: {detail}", message.op.as_str()),
    )
    .await;
    Ok(())
}
