//! Trust between nodes: invitation codes, the keys a connection derives from its shared
//! secret, and signatures on node-to-node requests. No IO: callers bring the clock and the
//! nonce memory.

pub mod invitation;
pub mod keys;
pub mod signing;

pub use invitation::{Invitation, InvitationError};
pub use keys::{DirectionKey, derive_key};
pub use signing::{SignatureError, SignedHeaders, sign_request, verify_request};

/// A fresh 256-bit secret, hex-encoded, from the operating system's generator.
pub fn new_secret() -> String {
    // Two v4 UUIDs are 244 random bits from the OS generator; hashing them spreads them
    // over 256 bits without adding a dependency on a second RNG.
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(uuid::Uuid::new_v4().as_bytes());
    h.update(uuid::Uuid::new_v4().as_bytes());
    hex::encode(h.finalize())
}
