//! Trust between nodes: invitation codes, the keys a connection derives from its shared
//! secret, and signatures on node-to-node requests. No IO: callers bring the clock and the
//! nonce memory.

pub mod invitation;
pub mod keys;
pub mod rotation;
pub mod signing;

pub use invitation::{Invitation, InvitationError};
pub use keys::{DirectionKey, derive_key};
pub use rotation::{RotationError, RotationKey, answer_rotation, rotated_secret, rotation_key};
pub use signing::{SignatureError, SignedHeaders, sign_request, verify_request};

/// A fresh 256-bit secret, hex-encoded, from the operating system's generator.
pub fn new_secret() -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    // The system generator fails only if the OS has none; two v4 UUIDs (244 random bits
    // from the same OS source) stand in then rather than a weaker secret or a panic.
    if aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .is_err()
    {
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    hex::encode(bytes)
}
