//! ack: record on the source twin what the other side did with our replica.

use crate::pairing::twin_named_or_keyed;
use crate::{Node, NodeResult};
use twinsync_core::{AckMessage, Connection, Item, SyncEventKind, TwinStatus};
use twinsync_core::{KeySide, Twin};
use twinsync_ports::{PortError, SyncMark, SyncState};
use twinsync_rules::IncomingContext;

pub async fn handle(node: &Node, ack: AckMessage) -> NodeResult<()> {
    // Read once per invocation anyway (the sync status shown below needs it); an ack of a
    // connection this store lacks is still recorded.
    let connection = node.connection(&ack.connection_id).await.ok();
    for _ in 0..8 {
        let Some(mut twin) = twin_named_or_keyed(
            node,
            &ack.connection_id,
            KeySide::Local,
            &ack.source_key,
            Some(&ack.source_twin),
        )
        .await?
        else {
            tracing::warn!(connection = %ack.connection_id, item = %ack.source_key, "ack for an unknown twin dropped");
            return Ok(());
        };
        if twin.status == TwinStatus::Unlinked {
            return Ok(());
        }
        if !ack.source_twin.is_empty() && ack.source_twin != twin.id {
            // The answer to a replica of a twin record this store no longer has (it was
            // wiped, or the pair relinked): its versions are not this record's.
            tracing::info!(twin = %twin.id, acked_twin = %ack.source_twin, "ack for a replaced twin record dropped");
            return Ok(());
        }
        // Kept for the debug line below only: no copy on every ack when it is off.
        let before = tracing::enabled!(tracing::Level::DEBUG)
            .then(|| twin.previous.clone())
            .flatten();
        let view_here = view_in_our_terms(node, connection.as_ref(), &ack, &twin);
        twin.record_ack_viewed(&ack, view_here.as_ref(), node.now_ms());
        tracing::debug!(
            twin = %twin.id,
            applied = ack.applied_version,
            out_version = twin.out_version,
            in_version = twin.in_version,
            remote_out_version = ack.remote_out_version,
            view = %ack.remote_view.as_ref().map(crate::handlers::brief).unwrap_or_default(),
            previous_before = %before.as_ref().map(crate::handlers::brief).unwrap_or_default(),
            previous = %twin.previous.as_ref().map(crate::handlers::brief).unwrap_or_default(),
            base_item = %twin.base_item.as_ref().map(crate::handlers::brief).unwrap_or_default(),
            "acked"
        );
        if ack.error.is_none() {
            // A routine step: it goes with the twin's write (`twinsync_core::timeline`).
            let detail = format!(
                "v{} applied as {}",
                ack.applied_version,
                ack.target_key.as_deref().unwrap_or("?")
            );
            twin.record_step(SyncEventKind::Ack, detail, node.now_ms());
        }
        match node.twins.update(&twin).await {
            Ok(twin) => {
                if let Some(e) = &ack.error {
                    let detail = format!("v{} refused: {e}", ack.applied_version);
                    node.event(
                        &ack.connection_id,
                        Some(&twin.id),
                        SyncEventKind::Nack,
                        detail,
                    )
                    .await;
                }
                if let Some(connection) = &connection {
                    show(node, connection, &ack, &twin).await;
                }
                return Ok(());
            }
            // Our outgoing handler wrote the twin meanwhile: read it again.
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Conflict(format!("twin of {} is changing too often", ack.source_key)).into())
}

/// The ack's view of our last send as our incoming rules make it, which says where the
/// acker took our values (`Twin::record_ack_viewed`). Only that send's view is taken so;
/// rules that fail leave it out, and the ack is recorded as without it.
fn view_in_our_terms(
    node: &Node,
    connection: Option<&Connection>,
    ack: &AckMessage,
    twin: &Twin,
) -> Option<Item> {
    let (Some(connection), Some(view), Some(sent)) = (
        connection,
        ack.remote_view.as_ref(),
        twin.sent_item.as_ref(),
    ) else {
        return None;
    };
    if ack.applied_version != twin.out_version {
        return None;
    }
    let prefix = Node::origin_prefix(&connection.id);
    let mapped = node.rules_for(connection).and_then(|rules| {
        Ok(rules.incoming(&IncomingContext {
            replica: view,
            previous: None,
            issue: sent,
            first_sync: false,
            comment_links: &twin.comment_links,
            origin_prefix: &prefix,
        })?)
    });
    mapped
        .inspect_err(|e| tracing::warn!(twin = %twin.id, error = %e, "the ack's view could not be read in our terms"))
        .ok()
}

/// Shows on the source item what the other side did with it, and where its twin is.
async fn show(node: &Node, connection: &Connection, ack: &AckMessage, twin: &Twin) {
    let Some(key) = twin.local_key.as_deref() else {
        return;
    };
    let mark = SyncMark {
        state: match &ack.error {
            Some(e) => SyncState::Error(e.clone()),
            None => SyncState::Synced,
        },
        twin_key: ack.target_key.clone().or(twin.remote_key.clone()),
        twin_url: ack.target_url.clone().or(twin.remote_url.clone()),
    };
    crate::pairing::show_live(node, connection, key, &twin.id, mark).await;
}
