//! Jira webhooks: a signed delivery and the same body taken unsigned (`allow_unsigned`)
//! read the same; a forged signature is always refused, and without a secret an unsigned
//! delivery is refused unless the config allows it.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{SECRET, forged, headers};
use libfuzzer_sys::fuzz_target;
use twinsync_jira::webhook::{IDENTIFIER, SIGNATURE, Unsigned, sign, verify};
use twinsync_ports::WebhookError;

fuzz_target!(|data: &[u8]| {
    let delivery = |signature: &str| headers(&[(SIGNATURE, signature), (IDENTIFIER, "fuzz-1")]);
    let signed = verify(
        SECRET,
        Unsigned::Refused,
        &delivery(&sign(SECRET, data)),
        data,
    );
    let unsigned = verify(
        "",
        Unsigned::Allowed,
        &headers(&[(IDENTIFIER, "fuzz-1")]),
        data,
    );
    match (&signed, &unsigned) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "the signature changed what the payload says");
            for s in a {
                assert!(!s.item_key.is_empty() && s.delivery_id == "jira:fuzz-1");
            }
        }
        (Err(WebhookError::Malformed(_)), Err(WebhookError::Malformed(_))) => {}
        other => panic!("signed and unsigned disagree: {other:?}"),
    }
    let refused = verify("", Unsigned::Refused, &[], data);
    assert!(
        matches!(refused, Err(WebhookError::Unsigned(_))),
        "{refused:?}"
    );

    let (claim, body) = forged(data);
    if claim != sign(SECRET, body) {
        let verdict = verify(SECRET, Unsigned::Allowed, &delivery(&claim), body);
        assert!(verdict.is_err(), "a forged delivery was taken: {verdict:?}");
    }
});
