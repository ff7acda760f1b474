//! ack: record on the source twin what the other side did with our replica.

use crate::pairing::twin_named_or_keyed;
use crate::{Node, NodeResult};
use twinsync_core::{AckMessage, SyncEventKind, TwinStatus};
use twinsync_core::{KeySide, Twin};
use twinsync_ports::{PortError, SyncMark, SyncState};

pub async fn handle(node: &Node, ack: AckMessage) -> NodeResult<()> {
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
        twin.record_ack(&ack, node.now_ms());
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
                show(node, &ack, &twin).await;
                return Ok(());
            }
            // Our outgoing handler wrote the twin meanwhile: read it again.
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Conflict(format!("twin of {} is changing too often", ack.source_key)).into())
}

/// Shows on the source item what the other side did with it, and where its twin is.
async fn show(node: &Node, ack: &AckMessage, twin: &Twin) {
    let (Some(key), Ok(connection)) = (
        twin.local_key.as_deref(),
        node.connection(&ack.connection_id).await,
    ) else {
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
    crate::pairing::show_live(node, &connection, key, &twin.id, mark).await;
}
