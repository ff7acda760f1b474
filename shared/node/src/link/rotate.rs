//! Rotation of a connection's shared secret, on both nodes.

use super::signed::{LinkError, signed_post, verify};
use crate::{Node, NodeError, NodeResult};
use serde::{Deserialize, Serialize};
use twinsync_core::{Connection, Secret, SyncEventKind};
use twinsync_security::derive_key;

pub const ROTATE_PATH: &str = "/v1/rotate";
/// How long the old secret keeps verifying after a rotation.
const ROTATION_GRACE_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Random salt; the new secret is HKDF(old secret, salt), so the secret itself never
    /// travels.
    pub salt: String,
}

fn rotated(secret: &str, salt: &str) -> String {
    let key = derive_key(secret, salt, "rotate", "rotate");
    hex::encode(key.0)
}

/// Rotates a connection's secret: the other node is told first (signed with the current
/// secret); both keep the old secret for a grace period so in-flight messages still verify.
pub async fn rotate_secret(node: &Node, connection_id: &str) -> NodeResult<()> {
    let connection = node.connection(connection_id).await?;
    let link = connection
        .link
        .clone()
        .ok_or_else(|| NodeError::Operation(format!("{connection_id} has no shared secret")))?;
    let Some(peer) = link.peer_url.clone() else {
        return Err(NodeError::Operation(
            "the other node of this private connection cannot be reached; rotate from there".into(),
        ));
    };
    let salt = twinsync_security::new_secret();
    let body = serde_json::to_vec(&Rotation { salt: salt.clone() })
        .map_err(|e| NodeError::BadMessage(e.to_string()))?;
    let _: serde_json::Value = signed_post(node, &connection, &peer, ROTATE_PATH, body).await?;
    apply_rotation(node, connection, &salt).await?;
    Ok(())
}

async fn apply_rotation(node: &Node, mut connection: Connection, salt: &str) -> NodeResult<()> {
    let now = node.now_ms();
    if let Some(link) = connection.link.as_mut() {
        let new = rotated(&link.secret.0, salt);
        link.previous_secret = Some(link.secret.clone());
        link.previous_until_ms = now + ROTATION_GRACE_MS;
        link.secret = Secret(new);
    }
    connection.updated_ms = now;
    node.connections.update(&connection).await?;
    node.event(
        &connection.id,
        None,
        SyncEventKind::ConnectionStatus,
        "shared secret rotated",
    )
    .await;
    Ok(())
}

/// `POST /v1/rotate`: the other node rotates the shared secret.
pub async fn receive_rotation(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(), LinkError> {
    let (connection, _) = verify(node, ROTATE_PATH, headers, body, false).await?;
    let rotation: Rotation =
        serde_json::from_slice(body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    if rotation.salt.len() < 32 {
        return Err(LinkError::Malformed("salt too short".into()));
    }
    apply_rotation(node, connection, &rotation.salt).await?;
    Ok(())
}
