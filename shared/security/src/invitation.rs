//! Invitation codes.
//!
//! A code is `tsinv1.<payload>.<check>`: the version, the payload as base64url JSON, and
//! the first 12 hex digits of SHA-256 over `tsinv1.<payload>`. The check catches typos and
//! truncation; it is not a signature, since whoever holds the code holds the secret.
//! What protects the secret is that the code is a bearer credential: it expires (7 days by
//! default), the initiating node accepts it once, and after acceptance each direction uses
//! a key derived from the secret and both node ids (HKDF) — the raw secret never travels
//! again. Treat a code like a password: it is never logged, and the CLI prints it once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "tsinv1";
/// Default lifetime of a code.
pub const DEFAULT_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// Longer codes are refused before any decoding.
const MAX_CODE_LEN: usize = 8 * 1024;

/// What an invitation carries (the seeds' list).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub secret: String,
    pub connection_id: String,
    /// "public", "private" or "local".
    pub connection_type: String,
    pub connection_name: String,
    /// The initiating node.
    pub initiator_node: String,
    pub product_version: String,
    pub tracker_type: String,
    pub tracker_url: String,
    /// Where the initiating node accepts the handshake and transport.
    pub node_url: String,
    pub instance_id: String,
    pub expires_ms: i64,
    /// The largest transport body the initiating node takes (its `max_replica_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<u64>,
    /// The most transport messages one delivery to the initiating node may carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max: Option<u32>,
}

// The secret never reaches a log through Debug.
impl std::fmt::Debug for Invitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invitation")
            .field("connection_id", &self.connection_id)
            .field("connection_type", &self.connection_type)
            .field("initiator_node", &self.initiator_node)
            .field("node_url", &self.node_url)
            .field("expires_ms", &self.expires_ms)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why a code is refused. All are the presenter's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvitationError {
    #[error("invalid invitation code: {0}")]
    Malformed(&'static str),
    #[error("invalid invitation code: version {0:?} is not supported (this node reads {PREFIX})")]
    Version(String),
    #[error("invalid invitation code: the check digits do not match (a typo or a changed code)")]
    Checksum,
    #[error("invalid invitation code: {0}")]
    Payload(String),
    #[error("invitation code expired")]
    Expired,
}

impl InvitationError {
    pub fn is_retryable(&self) -> bool {
        false
    }
}

fn check(head: &str) -> String {
    hex::encode(&Sha256::digest(head.as_bytes())[..6])
}

impl Invitation {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let head = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(json));
        let check = check(&head);
        format!("{head}.{check}")
    }

    /// Decodes and checks a code; whitespace around it (from copy and paste) is ignored.
    pub fn decode(code: &str, now_ms: i64) -> Result<Invitation, InvitationError> {
        let code = code.trim();
        if code.is_empty() {
            return Err(InvitationError::Malformed("the code is empty"));
        }
        if code.len() > MAX_CODE_LEN {
            return Err(InvitationError::Malformed("the code is too long"));
        }
        let mut parts = code.split('.');
        let (Some(version), Some(payload), Some(checksum), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvitationError::Malformed(
                "expected three parts separated by dots (is it truncated?)",
            ));
        };
        if version != PREFIX {
            return Err(InvitationError::Version(version.chars().take(16).collect()));
        }
        if check(&format!("{version}.{payload}")) != checksum.to_ascii_lowercase() {
            return Err(InvitationError::Checksum);
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| InvitationError::Malformed("the payload is not base64url"))?;
        let invitation: Invitation =
            serde_json::from_slice(&json).map_err(|e| InvitationError::Payload(e.to_string()))?;
        if invitation.secret.len() < 32
            || invitation.connection_id.is_empty()
            || invitation.node_url.is_empty()
        {
            return Err(InvitationError::Payload(
                "a required field is missing".into(),
            ));
        }
        if invitation.expires_ms <= now_ms {
            return Err(InvitationError::Expired);
        }
        Ok(invitation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Invitation {
        Invitation {
            max_body: None,
            batch_max: None,
            secret: crate::new_secret(),
            connection_id: "c-1".into(),
            connection_type: "public".into(),
            connection_name: "Demo".into(),
            initiator_node: "node-a".into(),
            product_version: "0.1.0".into(),
            tracker_type: "sandbox".into(),
            tracker_url: "http://127.0.0.1:7801".into(),
            node_url: "http://127.0.0.1:7701".into(),
            instance_id: "sandbox-a".into(),
            expires_ms: 10_000,
        }
    }

    #[test]
    fn round_trip() {
        let code = sample().encode();
        assert!(code.starts_with("tsinv1."));
        let back = Invitation::decode(&format!("  {code}\n"), 0).unwrap();
        assert_eq!(back, sample_with_secret(&back.secret));
        assert!(!format!("{back:?}").contains(&back.secret));
    }

    fn sample_with_secret(secret: &str) -> Invitation {
        Invitation {
            max_body: None,
            batch_max: None,
            secret: secret.into(),
            ..sample()
        }
    }

    #[test]
    fn bad_codes_table() {
        let good = sample().encode();
        let (head, check) = good.rsplit_once('.').unwrap();
        let mut typo: Vec<char> = good.chars().collect();
        typo[20] = if typo[20] == 'A' { 'B' } else { 'A' };
        let typo: String = typo.into_iter().collect();
        let forged_payload = {
            let mut inv = sample();
            inv.node_url = "http://evil.example".into();
            let json = serde_json::to_vec(&inv).unwrap();
            format!("{PREFIX}.{}.{check}", URL_SAFE_NO_PAD.encode(json))
        };
        // A code with good check digits over any payload: what a tool that computes them
        // (or a bug in a sender) could produce.
        let checked = |payload: &str| {
            let head = format!("{PREFIX}.{payload}");
            format!("{head}.{}", super::check(&head))
        };
        let json = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let mut without_secret = serde_json::to_value(sample()).unwrap();
        without_secret["secret"] = "short".into();
        let deep = URL_SAFE_NO_PAD.encode(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)));
        let table: Vec<(&str, String, i64, InvitationError)> = vec![
            (
                "not base64url",
                checked("not*base64!"),
                0,
                InvitationError::Malformed("the payload is not base64url"),
            ),
            (
                "base64 of garbage",
                checked(&URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x00, 0x13, 0x37])),
                0,
                InvitationError::Payload("expected value at line 1 column 1".into()),
            ),
            (
                "a JSON array",
                checked(&json(serde_json::json!([1, 2]))),
                0,
                InvitationError::Payload(
                    "invalid type: integer `1`, expected a string at line 1 column 2".into(),
                ),
            ),
            (
                "no node_url",
                checked(&json(serde_json::json!({"secret": "x"}))),
                0,
                InvitationError::Payload(
                    "missing field `connection_id` at line 1 column 14".into(),
                ),
            ),
            (
                "a short secret",
                checked(&json(without_secret)),
                0,
                InvitationError::Payload("a required field is missing".into()),
            ),
            (
                "10,000 nested arrays",
                checked(&deep),
                0,
                InvitationError::Malformed("the code is too long"),
            ),
            (
                "other characters",
                "tsinv1.ü.✓".into(),
                0,
                InvitationError::Checksum,
            ),
            (
                "empty",
                "".into(),
                0,
                InvitationError::Malformed("the code is empty"),
            ),
            (
                "truncated",
                head.to_string(),
                0,
                InvitationError::Malformed(
                    "expected three parts separated by dots (is it truncated?)",
                ),
            ),
            (
                "cut in the payload",
                format!("{}.{check}", &head[..30]),
                0,
                InvitationError::Checksum,
            ),
            ("typo", typo, 0, InvitationError::Checksum),
            ("tampered", forged_payload, 0, InvitationError::Checksum),
            (
                "future version",
                good.replacen("tsinv1", "tsinv9", 1),
                0,
                InvitationError::Version("tsinv9".into()),
            ),
            ("expired", good.clone(), 10_000, InvitationError::Expired),
            (
                "huge",
                "x".repeat(10_000),
                0,
                InvitationError::Malformed("the code is too long"),
            ),
        ];
        for (name, code, now, want) in table {
            assert_eq!(Invitation::decode(&code, now).unwrap_err(), want, "{name}");
        }
    }

    #[test]
    fn decoding_garbage_never_panics() {
        // A cheap stand-in for the fuzz target: many mutations of a valid code.
        let good = sample().encode();
        let bytes = good.as_bytes();
        for i in 0..bytes.len() {
            for b in [b'.', b'A', b'-', b'_', 0xff, b'='] {
                let mut m = bytes.to_vec();
                m[i] = b;
                let s = String::from_utf8_lossy(&m).to_string();
                let _ = Invitation::decode(&s, 0);
                let _ = Invitation::decode(&s[..i], 0);
            }
        }
    }
}
