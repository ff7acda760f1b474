//! Zendesk webhooks: a delivery signed with the secret at the node's time is parsed
//! (never a panic, never refused for its signature or its age; a ticket id is digits);
//! a forged signature is always refused.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{NOW_MS, SECRET, forged, headers};
use libfuzzer_sys::fuzz_target;
use twinsync_ports::WebhookError;
use twinsync_zendesk::webhook::{INVOCATION, SIGNATURE, TIMESTAMP, sign, verify};

fuzz_target!(|data: &[u8]| {
    let at = twinsync_zendesk::mapping::timestamp(NOW_MS);
    let delivery = |signature: &str| {
        headers(&[
            (SIGNATURE, signature),
            (TIMESTAMP, &at),
            (INVOCATION, "fuzz-invocation"),
        ])
    };
    match verify(SECRET, &delivery(&sign(SECRET, &at, data)), data, NOW_MS) {
        Ok(signals) => {
            assert!(signals.len() <= 1, "{signals:?}");
            for s in &signals {
                assert!(
                    !s.item_key.is_empty() && s.item_key.bytes().all(|b| b.is_ascii_digit()),
                    "{s:?}"
                );
            }
        }
        Err(WebhookError::Malformed(_)) => {}
        Err(e) => panic!("a signed, fresh delivery was refused: {e}"),
    }

    let (claim, body) = forged(data);
    if claim.trim() != sign(SECRET, &at, body) {
        let verdict = verify(SECRET, &delivery(&claim), body, NOW_MS);
        assert!(verdict.is_err(), "a forged delivery was taken: {verdict:?}");
    }
});
