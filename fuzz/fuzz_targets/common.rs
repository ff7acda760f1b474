//! What the webhook targets share: header lists, a fixed clock and the split of an input
//! into a forged signature and a body.
#![allow(dead_code)]

/// The node's clock in every target: a fixed time, so a delivery signed "now" is fresh.
pub const NOW_MS: i64 = 1_795_428_841_000;

/// The secret the targets sign with; a forged delivery never knows it.
pub const SECRET: &str = "fuzz-webhook-s3cret";

/// Header pairs as the node hands them to a verifier.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The input as a forger's delivery: its first line is the signature it claims, the rest
/// is the body. Seeds that are plain payloads still reach the parser this way.
pub fn forged(data: &[u8]) -> (String, &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => (
            String::from_utf8_lossy(&data[..at]).into_owned(),
            &data[at + 1..],
        ),
        None => (String::from_utf8_lossy(data).into_owned(), &[]),
    }
}
