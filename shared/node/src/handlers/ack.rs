//! ack: record on the source twin what the other side did with our replica.

use crate::{Node, NodeResult};
use twinsync_core::{AckMessage, SyncEventKind, TwinStatus};
use twinsync_ports::PortError;

pub async fn handle(node: &Node, ack: AckMessage) -> NodeResult<()> {
    for _ in 0..8 {
        let Some(mut twin) = node
            .twins
            .find_by_local(&ack.connection_id, &ack.source_key)
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
        twin.record_ack(&ack, node.now_ms());
        match node.twins.update(&twin).await {
            Ok(twin) => {
                let (kind, detail) = match &ack.error {
                    Some(e) => (
                        SyncEventKind::Nack,
                        format!("v{} refused: {e}", ack.applied_version),
                    ),
                    None => (
                        SyncEventKind::Ack,
                        format!(
                            "v{} applied as {}",
                            ack.applied_version,
                            ack.target_key.as_deref().unwrap_or("?")
                        ),
                    ),
                };
                node.event(&ack.connection_id, Some(&twin.id), kind, detail)
                    .await;
                crate::sync_mark::show(node, &twin).await;
                return Ok(());
            }
            // Our outgoing handler wrote the twin meanwhile: read it again.
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(PortError::Conflict(format!("twin of {} is changing too often", ack.source_key)).into())
}
