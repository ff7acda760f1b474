//! Rotation of a connection's shared secret, on both nodes. The new secret is agreed with
//! X25519 under the current one (`twinsync_security::rotation`): it never travels, and the
//! old secret plus an observed rotation do not give it. A repeated request (its answer was
//! lost) gets the same answer; the old secret verifies for a grace period, then the
//! scheduler forgets it.

use super::signed::{LinkError, Route, SignedAnswer, Verified, answer, signed_post, verify};
use crate::{Node, NodeError, NodeResult};
use serde::{Deserialize, Serialize};
use twinsync_core::{Connection, RotationRecord, Secret, SyncEventKind};
use twinsync_ports::PortError;
use twinsync_security::{RotationKey, answer_rotation, rotated_secret, rotation_key};

pub const ROTATE_PATH: &str = "/v1/rotate";
/// How long the old secret keeps verifying after a rotation.
pub const ROTATION_GRACE_MS: i64 = 15 * 60 * 1000;

/// The initiator's half of a rotation.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Names this rotation, so a repeated request is answered, not applied twice.
    pub id: String,
    /// The initiator's ephemeral X25519 public key, hex.
    pub public: String,
}

/// The responder's half.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationAnswer {
    pub public: String,
}

/// Rotates a connection's secret: the other node answers with its half (signed with the
/// current secret); both keep the old secret for a grace period so in-flight messages
/// still verify.
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
    let (key, public) = rotation_key().map_err(|e| NodeError::Operation(e.to_string()))?;
    let id = uuid::Uuid::now_v7().to_string();
    let body = serde_json::to_vec(&Rotation {
        id: id.clone(),
        public,
    })
    .map_err(|e| NodeError::BadMessage(e.to_string()))?;
    let answered: RotationAnswer = signed_post(node, &connection, &peer, ROTATE_PATH, body).await?;
    finish_rotation(node, connection, &link.secret.0, key, &answered.public, &id).await
}

/// The initiator's last step, once the other node answered rotation `id`: the new
/// secret from our key and its half, agreed under `signed_with`. The simulation, which
/// reaches the other node without HTTP, takes it from here too.
pub async fn finish_rotation(
    node: &Node,
    connection: Connection,
    signed_with: &str,
    key: RotationKey,
    answer_public: &str,
    id: &str,
) -> NodeResult<()> {
    let new = rotated_secret(key, answer_public, signed_with, id)
        .map_err(|e| NodeError::Operation(e.to_string()))?;
    apply_rotation(node, connection, signed_with, new, None).await
}

/// Makes `new` the secret. `signed_with` is the secret both sides shared when the rotation
/// started; it stays the previous one for the grace period. The other node has agreed
/// by now, so a write lost to a concurrent change of the connection (a version saved,
/// a pull recorded) is made again on the fresh record rather than given up.
async fn apply_rotation(
    node: &Node,
    connection: Connection,
    signed_with: &str,
    new: String,
    record: Option<RotationRecord>,
) -> NodeResult<()> {
    let mut connection = connection;
    let mut written = false;
    for _ in 0..8 {
        let now = node.now_ms();
        if let Some(link) = connection.link.as_mut() {
            link.previous_secret = Some(Secret(signed_with.to_string()));
            link.previous_until_ms = now + ROTATION_GRACE_MS;
            link.secret = Secret(new.clone());
            if record.is_some() {
                link.last_rotation = record.clone();
            }
        }
        connection.updated_ms = now;
        match node.connections.update(&connection).await {
            Ok(_) => {
                written = true;
                break;
            }
            Err(PortError::Conflict(_)) => connection = node.connection(&connection.id).await?,
            Err(e) => return Err(e.into()),
        }
    }
    if !written {
        return Err(NodeError::Busy {
            what: format!(
                "connection {} is changing too often to rotate",
                connection.id
            ),
            retry_after_ms: 100,
        });
    }
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
) -> Result<SignedAnswer, LinkError> {
    let request = verify(node, ROTATE_PATH, headers, body, Route::Once).await?;
    let rotation: Rotation =
        serde_json::from_slice(&request.body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    let public = match repeated(&request, &rotation) {
        Some(public) => public,
        None => {
            let (public, new) = answer_rotation(&rotation.public, &request.secret, &rotation.id)
                .map_err(|e| LinkError::Malformed(e.to_string()))?;
            let record = RotationRecord {
                id: rotation.id.clone(),
                public: public.clone(),
            };
            apply_rotation(
                node,
                request.connection.clone(),
                &request.secret,
                new,
                Some(record),
            )
            .await?;
            public
        }
    };
    answer(node, &request, ROTATE_PATH, &RotationAnswer { public })
}

/// Our half of a rotation this node already answered, when `rotation` repeats it.
fn repeated(request: &Verified, rotation: &Rotation) -> Option<String> {
    request
        .connection
        .link
        .as_ref()
        .and_then(|l| l.last_rotation.as_ref())
        .filter(|r| r.id == rotation.id)
        .map(|r| r.public.clone())
}
