//! The ids, timeouts and attributes SQS takes, made from ours.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// SQS's longest visibility timeout.
const MAX_VISIBILITY_SECONDS: i64 = 43_200;

pub(super) fn short_hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// SQS takes group and deduplication ids of up to 128 printable ASCII characters; others
/// are replaced by their hash, which keeps them distinct and stable.
pub fn sqs_id(id: &str) -> String {
    if !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_graphic()) {
        id.to_string()
    } else {
        format!("h:{}", short_hash(id))
    }
}

pub(super) fn visibility_seconds(ms: i64) -> i32 {
    // Round up: a wait asked for in milliseconds must not end early.
    ((ms.max(0) + 999) / 1_000).min(MAX_VISIBILITY_SECONDS) as i32
}

/// A message attribute of type `String`.
pub(super) fn string_attribute(value: &str) -> Value {
    json!({ "DataType": "String", "StringValue": value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sqs_takes_pass_and_others_are_hashed() {
        let long = "x".repeat(129);
        let cases = [
            ("c1:DEMO-1", true),
            ("r:c1:acme/rm#1:01a2-uuid:3", true),
            ("c1:Ünïcode-1", false),
            ("has space", false),
            ("", false),
            (long.as_str(), false),
        ];
        for (id, kept) in cases {
            let out = sqs_id(id);
            assert_eq!(out == id, kept, "{id}");
            assert!(out.len() <= 128 && out.chars().all(|c| c.is_ascii_graphic()));
        }
        assert_ne!(sqs_id("a b"), sqs_id("a  b"));
    }

    #[test]
    fn visibility_rounds_up_and_is_capped() {
        for (ms, s) in [
            (0, 0),
            (1, 1),
            (1_000, 1),
            (1_001, 2),
            (-5, 0),
            (i64::MAX / 2, 43_200),
        ] {
            assert_eq!(visibility_seconds(ms), s, "{ms}");
        }
    }
}
