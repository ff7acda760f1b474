//! Signed node-to-node requests: HMAC-SHA256 over method, path, timestamp, nonce and the
//! body's SHA-256, checked in constant time within a 5-minute window. Replay protection
//! (remembering nonces) is the caller's, since it needs storage.

use crate::keys::DirectionKey;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

pub const CONNECTION: &str = "x-twinsync-connection";
pub const NODE: &str = "x-twinsync-node";
pub const TIMESTAMP: &str = "x-twinsync-timestamp";
pub const NONCE: &str = "x-twinsync-nonce";
pub const SIGNATURE: &str = "x-twinsync-signature";

/// How far a request's timestamp may be from the receiver's clock.
pub const WINDOW_MS: i64 = 5 * 60 * 1000;

/// How far a transport delivery's timestamp may be from the receiver's clock: twice this
/// is within the queues' five-minute deduplication interval, which is what stops a replayed
/// delivery (the receiver keeps no nonce for them).
pub const TRANSPORT_WINDOW_MS: i64 = 2 * 60 * 1000;

/// The headers a signed request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub connection_id: String,
    pub node: String,
    pub timestamp_ms: i64,
    pub nonce: String,
    pub signature: String,
}

impl SignedHeaders {
    pub fn pairs(&self) -> [(&'static str, String); 5] {
        [
            (CONNECTION, self.connection_id.clone()),
            (NODE, self.node.clone()),
            (TIMESTAMP, self.timestamp_ms.to_string()),
            (NONCE, self.nonce.clone()),
            (SIGNATURE, self.signature.clone()),
        ]
    }

    /// Reads the headers (case-insensitive names).
    pub fn from_pairs(headers: &[(String, String)]) -> Result<SignedHeaders, SignatureError> {
        let get = |name: &'static str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or(SignatureError::MissingHeader(name))
        };
        Ok(SignedHeaders {
            connection_id: get(CONNECTION)?,
            node: get(NODE)?,
            timestamp_ms: get(TIMESTAMP)?
                .parse()
                .map_err(|_| SignatureError::Malformed("timestamp is not a number"))?,
            nonce: get(NONCE)?,
            signature: get(SIGNATURE)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("request timestamp is {0} ms away from this node's clock (allowed: 300000)")]
    Skew(i64),
    #[error("signature does not match")]
    BadSignature,
}

impl SignatureError {
    pub fn is_retryable(&self) -> bool {
        false
    }
}

fn canonical(method: &str, path: &str, timestamp_ms: i64, nonce: &str, body: &[u8]) -> String {
    format!(
        "{}\n{path}\n{timestamp_ms}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        hex::encode(Sha256::digest(body))
    )
}

fn mac(key: &DirectionKey, text: &str) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.0).ok()?;
    m.update(text.as_bytes());
    Some(m)
}

/// Signs a request; the nonce is a fresh UUID.
pub fn sign_request(
    key: &DirectionKey,
    connection_id: &str,
    node: &str,
    method: &str,
    path: &str,
    timestamp_ms: i64,
    body: &[u8],
) -> SignedHeaders {
    let nonce = uuid::Uuid::new_v4().to_string();
    let text = canonical(method, path, timestamp_ms, &nonce, body);
    let signature = mac(key, &text)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    SignedHeaders {
        connection_id: connection_id.to_string(),
        node: node.to_string(),
        timestamp_ms,
        nonce,
        signature,
    }
}

/// Checks the window and the signature (constant time). The caller then checks the nonce.
pub fn verify_request(
    key: &DirectionKey,
    headers: &SignedHeaders,
    method: &str,
    path: &str,
    body: &[u8],
    now_ms: i64,
) -> Result<(), SignatureError> {
    let skew = now_ms - headers.timestamp_ms;
    if skew.abs() > WINDOW_MS {
        return Err(SignatureError::Skew(skew));
    }
    let given = hex::decode(&headers.signature).map_err(|_| SignatureError::BadSignature)?;
    let text = canonical(method, path, headers.timestamp_ms, &headers.nonce, body);
    mac(key, &text)
        .ok_or(SignatureError::BadSignature)?
        .verify_slice(&given)
        .map_err(|_| SignatureError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::derive_key;

    #[test]
    fn verify_table() {
        let secret = crate::new_secret();
        let key = derive_key(&secret, "c", "a", "b");
        let other = derive_key(&secret, "c", "b", "a");
        let body = br#"{"type":"replica"}"#;
        let now = 1_000_000_000;
        let signed = sign_request(&key, "c", "a", "POST", "/v1/transport", now, body);
        type Case<'a> = (
            &'a str,
            &'a DirectionKey,
            SignedHeaders,
            &'a str,
            &'a [u8],
            i64,
            Result<(), SignatureError>,
        );
        let table: Vec<Case> = vec![
            (
                "valid",
                &key,
                signed.clone(),
                "/v1/transport",
                body,
                now,
                Ok(()),
            ),
            (
                "clock a bit off",
                &key,
                signed.clone(),
                "/v1/transport",
                body,
                now + 299_000,
                Ok(()),
            ),
            (
                "stale",
                &key,
                signed.clone(),
                "/v1/transport",
                body,
                now + 301_000,
                Err(SignatureError::Skew(301_000)),
            ),
            (
                "from the future",
                &key,
                signed.clone(),
                "/v1/transport",
                body,
                now - 301_000,
                Err(SignatureError::Skew(-301_000)),
            ),
            (
                "wrong direction key",
                &other,
                signed.clone(),
                "/v1/transport",
                body,
                now,
                Err(SignatureError::BadSignature),
            ),
            (
                "other path",
                &key,
                signed.clone(),
                "/v1/handshake",
                body,
                now,
                Err(SignatureError::BadSignature),
            ),
            (
                "tampered body",
                &key,
                signed.clone(),
                "/v1/transport",
                b"{}",
                now,
                Err(SignatureError::BadSignature),
            ),
            (
                "swapped nonce",
                &key,
                SignedHeaders {
                    nonce: "n2".into(),
                    ..signed.clone()
                },
                "/v1/transport",
                body,
                now,
                Err(SignatureError::BadSignature),
            ),
            (
                "not hex",
                &key,
                SignedHeaders {
                    signature: "zz".into(),
                    ..signed.clone()
                },
                "/v1/transport",
                body,
                now,
                Err(SignatureError::BadSignature),
            ),
        ];
        for (name, k, h, path, b, at, want) in table {
            assert_eq!(verify_request(k, &h, "POST", path, b, at), want, "{name}");
        }
    }

    #[test]
    fn headers_parse_with_clear_errors() {
        let key = derive_key(&crate::new_secret(), "c", "a", "b");
        let signed = sign_request(&key, "c", "a", "POST", "/p", 5, b"");
        let pairs: Vec<(String, String)> = signed
            .pairs()
            .iter()
            .map(|(k, v)| (k.to_uppercase(), v.clone()))
            .collect();
        assert_eq!(SignedHeaders::from_pairs(&pairs).unwrap(), signed);
        for drop in [CONNECTION, NODE, TIMESTAMP, NONCE, SIGNATURE] {
            let less: Vec<_> = pairs
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case(drop))
                .cloned()
                .collect();
            assert_eq!(
                SignedHeaders::from_pairs(&less),
                Err(SignatureError::MissingHeader(drop))
            );
        }
    }
}
