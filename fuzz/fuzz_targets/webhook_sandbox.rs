//! Sandbox webhooks: a delivery signed with the secret is parsed (never a panic, never
//! refused for its signature); a delivery signed with another secret, or with a signature
//! taken from the input, is always refused.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{NOW_MS, SECRET, forged, headers};
use libfuzzer_sys::fuzz_target;
use twinsync_ports::WebhookError;
use twinsync_sandbox::webhook::{DELIVERY, SIGNATURE, TIMESTAMP, sign, verify};

fuzz_target!(|data: &[u8]| {
    let ts = NOW_MS / 1000;
    let ts_text = ts.to_string();
    let delivery = |signature: &str| {
        headers(&[
            (SIGNATURE, signature),
            (TIMESTAMP, &ts_text),
            (DELIVERY, "fuzz-delivery"),
        ])
    };

    match verify(SECRET, &delivery(&sign(SECRET, ts, data)), data, NOW_MS) {
        Ok(signal) => assert!(!signal.item_key.is_empty(), "a signal without an item"),
        Err(WebhookError::Malformed(_)) => {}
        Err(e) => panic!("a signed, fresh delivery was refused: {e}"),
    }
    let wrong = verify(SECRET, &delivery(&sign("another", ts, data)), data, NOW_MS);
    assert!(
        matches!(wrong, Err(WebhookError::BadSignature)),
        "{wrong:?}"
    );

    let (claim, body) = forged(data);
    if claim != sign(SECRET, ts, body) {
        let verdict = verify(SECRET, &delivery(&claim), body, NOW_MS);
        assert!(verdict.is_err(), "a forged delivery was taken: {verdict:?}");
    }
});
