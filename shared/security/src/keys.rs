//! Keys per direction, derived from a connection's shared secret with HKDF-SHA256, so each
//! direction signs with its own key and the secret itself never travels after acceptance.

use hkdf::Hkdf;
use sha2::Sha256;

/// A 256-bit key for one direction of one connection.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectionKey(pub [u8; 32]);

impl std::fmt::Debug for DirectionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectionKey(<redacted>)")
    }
}

/// The key `from` uses to sign messages to `to` on `connection_id`.
pub fn derive_key(secret_hex: &str, connection_id: &str, from: &str, to: &str) -> DirectionKey {
    let ikm = hex::decode(secret_hex).unwrap_or_else(|_| secret_hex.as_bytes().to_vec());
    let hk = Hkdf::<Sha256>::new(Some(connection_id.as_bytes()), &ikm);
    let info = format!("twinsync transport v1 {from} -> {to}");
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF's limit of 255 * 32, so expand cannot fail.
    let _ = hk.expand(info.as_bytes(), &mut okm);
    DirectionKey(okm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_connections_get_different_keys() {
        let s = crate::new_secret();
        let ab = derive_key(&s, "c", "a", "b");
        assert_eq!(ab, derive_key(&s, "c", "a", "b"));
        assert_ne!(ab, derive_key(&s, "c", "b", "a"));
        assert_ne!(ab, derive_key(&s, "other", "a", "b"));
        assert_ne!(ab, derive_key(&crate::new_secret(), "c", "a", "b"));
        assert!(!format!("{ab:?}").contains(&hex::encode(ab.0)));
    }
}
