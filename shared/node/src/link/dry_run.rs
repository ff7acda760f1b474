//! `POST /v1/dry-run`: the other node's Test Run asks what this node's active incoming
//! rules would make of its replicas. Signed both ways like the transport; nothing is
//! written, queued or stored (the nonce aside).

use super::signed::{LinkError, Route, SignedAnswer, answer, verify};
use crate::Node;
use crate::preview::{DRY_RUN_PATH, apply_here};
use twinsync_core::DryRunRequest;

pub async fn serve_dry_run(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<SignedAnswer, LinkError> {
    let request = verify(node, DRY_RUN_PATH, headers, body, Route::Once).await?;
    let asked: DryRunRequest =
        serde_json::from_slice(&request.body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    // The signature names the connection: a peer asks about its own connection only.
    if asked.connection_id != request.connection.id
        || asked.from_node != request.connection.remote_node
    {
        return Err(LinkError::Refused(
            "a dry run names another connection or node than its signature".into(),
        ));
    }
    let results = apply_here(node, &asked).await?;
    answer(node, &request, DRY_RUN_PATH, &results)
}
