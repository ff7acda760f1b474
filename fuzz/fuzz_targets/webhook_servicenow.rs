//! ServiceNow pushes: a push signed with the secret is parsed (never a panic, never
//! refused for its signature; a record it names is of the configured table); a forged
//! signature is always refused.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{NOW_MS, SECRET, forged, headers};
use libfuzzer_sys::fuzz_target;
use twinsync_ports::WebhookError;
use twinsync_servicenow::webhook::{SIGNATURE, sign, verify};

fuzz_target!(|data: &[u8]| {
    let push = |signature: &str| headers(&[(SIGNATURE, signature)]);
    match verify(SECRET, "incident", &push(&sign(SECRET, data)), data, NOW_MS) {
        Ok(signals) => {
            assert!(signals.len() <= 1, "{signals:?}");
            for s in &signals {
                assert!(!s.item_key.is_empty() && s.project == "incident", "{s:?}");
            }
        }
        // A push's own `sent_at` may be outside the window: that is the body's doing.
        Err(WebhookError::Malformed(_) | WebhookError::Stale(_)) => {}
        Err(e) => panic!("a signed push was refused: {e}"),
    }

    let (claim, body) = forged(data);
    if claim.trim() != sign(SECRET, body) {
        let verdict = verify(SECRET, "incident", &push(&claim), body, NOW_MS);
        assert!(verdict.is_err(), "a forged push was taken: {verdict:?}");
    }
});
