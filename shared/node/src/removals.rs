//! Removals across the pair: an item deleted or moved out of every trigger on one side,
//! and comments deleted on one side. The side where it happened lets go of its twin and
//! tells the other node; the other node applies its own connection's removal policy
//! (unlink, close or delete) to its item, and every decision is an event.

use crate::handlers::control::tell;
use crate::{Node, NodeResult, pairing};
use std::sync::Arc;
use twinsync_core::removal::{closed_comment_body, removed_comments};
use twinsync_core::{
    Comment, CommentLink, Connection, ControlAnswer, ControlOp, ItemUpdate, RemovalPolicy,
    SyncEventKind, Twin,
};
use twinsync_ports::{PortError, Tracker};

/// The local item of `twin` was deleted: this node forgets the pair (replicas the other
/// node sent before it follows are dropped) and tells the other node.
pub async fn item_deleted(node: &Node, connection: &Connection, twin: &Twin) -> NodeResult<()> {
    let key = twin.local_key.clone().unwrap_or_default();
    pairing::forget_record(node, &connection.id, twin).await?;
    node.event(
        &connection.id,
        Some(&twin.id),
        SyncEventKind::Removed,
        format!("{key} was deleted here; the pair is forgotten and the other side told"),
    )
    .await;
    tell(
        node,
        connection,
        ControlOp::Deleted,
        &key,
        twin.remote_key.as_deref(),
    )
    .await
}

/// The local item of `twin`, brought under sync by a trigger, left every trigger: the
/// pair is unlinked here (a Relink brings it back) and the other node is told.
pub async fn item_moved_out(node: &Node, connection: &Connection, twin: Twin) -> NodeResult<()> {
    let key = twin.local_key.clone().unwrap_or_default();
    let remote = twin.remote_key.clone();
    let twin = pairing::unlink(node, connection, twin).await?;
    node.event(
        &connection.id,
        Some(&twin.id),
        SyncEventKind::Removed,
        format!("{key} left every trigger; unlinked here and the other side told"),
    )
    .await;
    tell(
        node,
        connection,
        ControlOp::MovedOut,
        &key,
        remote.as_deref(),
    )
    .await
}

/// Follows the other node's removal of `twin`'s remote item by this connection's policy.
pub async fn follow(
    node: &Node,
    connection: &Connection,
    twin: Twin,
    op: ControlOp,
) -> NodeResult<ControlAnswer> {
    let settings = connection
        .active_version()
        .map(|v| v.removals.clone())
        .unwrap_or_default();
    let key = twin.local_key.clone().unwrap_or_default();
    let tracker = node.tracker(&connection.local_instance)?;
    let mut done = Vec::new();
    if settings.policy == RemovalPolicy::Delete {
        match tracker.delete_item(&key).await {
            Ok(()) => {
                pairing::forget_record(node, &connection.id, &twin).await?;
                return decided(node, connection, &twin, op, format!("{key} deleted")).await;
            }
            Err(e) if e.is_retryable() => return Err(e.into()),
            // A tracker that cannot delete closes the item instead, and says why.
            Err(e) => done.push(format!("not deleted ({e})")),
        }
    }
    if settings.policy != RemovalPolicy::Unlink {
        let status = settings.close_status(tracker.kind());
        let update = ItemUpdate {
            status: Some(status.clone()),
            ..ItemUpdate::default()
        };
        match tracker.update_item(&key, &update).await {
            Ok(_) => done.push(format!("closed as {status}")),
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => done.push(format!("not closed ({e})")),
        }
    }
    pairing::unlink(node, connection, twin.clone()).await?;
    done.push("unlinked".into());
    decided(
        node,
        connection,
        &twin,
        op,
        format!("{key} {}", done.join(", ")),
    )
    .await
}

async fn decided(
    node: &Node,
    connection: &Connection,
    twin: &Twin,
    op: ControlOp,
    what: String,
) -> NodeResult<ControlAnswer> {
    let why = match op {
        ControlOp::MovedOut => "its twin left every trigger on the other side",
        _ => "its twin was deleted on the other side",
    };
    node.event(
        &connection.id,
        Some(&twin.id),
        SyncEventKind::Removed,
        format!("{what}: {why}"),
    )
    .await;
    Ok(ControlAnswer::Done(what))
}

/// Applies the removal policy to the local comments whose twins the other side's new
/// replica no longer names, and returns how many it wrote. Comments already gone here
/// are left alone.
pub async fn comments(
    node: &Node,
    connection: &Connection,
    tracker: &Arc<dyn Tracker>,
    key: &str,
    current: &[Comment],
    twin: &Twin,
    replica: &serde_json::Value,
) -> NodeResult<usize> {
    let removed = removed_comments(twin.previous.as_ref(), replica, &twin.comment_links);
    if removed.is_empty() {
        return Ok(0);
    }
    let policy = connection
        .active_version()
        .map(|v| v.removals.policy)
        .unwrap_or_default();
    let mut written = 0;
    for link in removed {
        let Some(comment) = current.iter().find(|c| c.id == link.local_id) else {
            continue;
        };
        let what = comment_removal(tracker, key, comment, &link, policy).await?;
        written += 1;
        node.event(
            &connection.id,
            Some(&twin.id),
            SyncEventKind::Removed,
            format!(
                "comment {} of {key} {what}: deleted on the other side",
                link.local_id
            ),
        )
        .await;
    }
    Ok(written)
}

async fn comment_removal(
    tracker: &Arc<dyn Tracker>,
    key: &str,
    comment: &Comment,
    link: &CommentLink,
    policy: RemovalPolicy,
) -> NodeResult<String> {
    let mut done = Vec::new();
    if policy == RemovalPolicy::Delete {
        match tracker.delete_comment(key, &link.local_id).await {
            Ok(()) => return Ok("deleted".into()),
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => done.push(format!("not deleted ({e})")),
        }
    }
    if policy != RemovalPolicy::Unlink {
        let body = closed_comment_body(&comment.body);
        match tracker.update_comment(key, &link.local_id, &body).await {
            Ok(()) => done.push("marked as deleted".into()),
            Err(PortError::NotFound(_)) => return Ok("already gone".into()),
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => done.push(format!("not marked ({e})")),
        }
    } else {
        done.push("kept".into());
    }
    Ok(done.join(", "))
}
