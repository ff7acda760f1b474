//! A fresh shared secret for a connection, agreed with X25519: each node brings an
//! ephemeral key pair, the public halves travel in requests signed with the current
//! secret, and the new secret is HKDF(current secret, X25519 shared value). Someone who
//! knows the old secret and watches the rotation still cannot compute the new one, and a
//! peer that only replays old messages cannot force a rotation.

use aws_lc_rs::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::rand::SystemRandom;
use hkdf::Hkdf;
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    #[error("the other node's rotation key is not a hex X25519 public key")]
    BadPublicKey,
    #[error("the key agreement failed")]
    Agreement,
}

impl RotationError {
    /// A bad key stays bad; a new rotation starts over.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// The initiator's half, held while its rotation request is on its way.
pub struct RotationKey(EphemeralPrivateKey);

impl std::fmt::Debug for RotationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RotationKey(<redacted>)")
    }
}

/// A new ephemeral key pair: the private half, and the public half to send, hex.
pub fn rotation_key() -> Result<(RotationKey, String), RotationError> {
    let private = EphemeralPrivateKey::generate(&X25519, &SystemRandom::new())
        .map_err(|_| RotationError::Agreement)?;
    let public = private
        .compute_public_key()
        .map_err(|_| RotationError::Agreement)?;
    Ok((RotationKey(private), hex::encode(public.as_ref())))
}

/// The new secret from our private half, the peer's public half and the secret both
/// share now. `rotation_id` binds it to this one rotation.
pub fn rotated_secret(
    key: RotationKey,
    peer_public_hex: &str,
    current_secret: &str,
    rotation_id: &str,
) -> Result<String, RotationError> {
    let peer = hex::decode(peer_public_hex).map_err(|_| RotationError::BadPublicKey)?;
    if peer.len() != 32 {
        return Err(RotationError::BadPublicKey);
    }
    agreement::agree_ephemeral(
        key.0,
        UnparsedPublicKey::new(&X25519, peer),
        RotationError::Agreement,
        |shared| Ok(expand(shared, current_secret, rotation_id)),
    )
}

/// The responder's side in one step: its own public half to answer with, and the new
/// secret.
pub fn answer_rotation(
    peer_public_hex: &str,
    current_secret: &str,
    rotation_id: &str,
) -> Result<(String, String), RotationError> {
    let (key, public) = rotation_key()?;
    let secret = rotated_secret(key, peer_public_hex, current_secret, rotation_id)?;
    Ok((public, secret))
}

fn expand(shared: &[u8], current_secret: &str, rotation_id: &str) -> String {
    let salt = hex::decode(current_secret).unwrap_or_else(|_| current_secret.as_bytes().to_vec());
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF's limit of 255 * 32, so expand cannot fail.
    let _ = hk.expand(
        format!("twinsync rotation {rotation_id}").as_bytes(),
        &mut okm,
    );
    hex::encode(okm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_and_the_old_secret_alone_does_not_give_the_new_one() {
        let old = crate::new_secret();
        let (initiator, initiator_public) = rotation_key().unwrap();
        let (responder_public, on_responder) =
            answer_rotation(&initiator_public, &old, "r1").unwrap();
        let on_initiator = rotated_secret(initiator, &responder_public, &old, "r1").unwrap();
        assert_eq!(on_initiator, on_responder);
        assert_ne!(on_initiator, old);
        assert_eq!(on_initiator.len(), 64);
        // An observer knows the old secret and both public halves, but no private half:
        // answering the same public half again gives another secret.
        let (_, observer) = answer_rotation(&initiator_public, &old, "r1").unwrap();
        assert_ne!(observer, on_initiator);
    }

    #[test]
    fn bad_public_keys_are_refused() {
        for bad in ["", "zz", "00", &"ab".repeat(31)] {
            let (key, _) = rotation_key().unwrap();
            assert_eq!(
                rotated_secret(key, bad, &crate::new_secret(), "r"),
                Err(RotationError::BadPublicKey),
                "{bad:?}"
            );
        }
    }
}
