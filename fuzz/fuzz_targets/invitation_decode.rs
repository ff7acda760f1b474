//! Invitation codes: any text decodes or is refused, never a panic. The input is also
//! taken as a code's payload with a good checksum, so the fuzzer gets past the checksum
//! to the JSON. An invitation that decodes encodes to a code that decodes to itself.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use twinsync_security::Invitation;
use twinsync_security::invitation::PREFIX;

fn round_trips(code: &str) {
    if let Ok(invitation) = Invitation::decode(code, 0) {
        let again = Invitation::decode(&invitation.encode(), 0);
        assert!(again.as_ref() == Ok(&invitation), "{again:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(code) = std::str::from_utf8(data) {
        round_trips(code);
    }
    // The checksum is the first six bytes of SHA-256 over the code's head, in hex.
    let head = format!("{PREFIX}.{}", URL_SAFE_NO_PAD.encode(data));
    let check: String = Sha256::digest(head.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    round_trips(&format!("{head}.{check}"));
});
