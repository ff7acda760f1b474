//! GitHub webhooks: a delivery signed with the secret is parsed for each event that
//! announces issues (never a panic, never refused for its signature, at most one issue,
//! keyed `repo#number` in its own repository); a forged signature is always refused.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{SECRET, forged, headers};
use libfuzzer_sys::fuzz_target;
use twinsync_github::webhook::{DELIVERY, EVENT, SIGNATURE, sign, verify};
use twinsync_ports::WebhookError;

fuzz_target!(|data: &[u8]| {
    let delivery = |signature: &str, event: &str| {
        headers(&[
            (SIGNATURE, signature),
            (EVENT, event),
            (DELIVERY, "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ])
    };
    let signature = sign(SECRET, data);
    for event in ["issues", "issue_comment", "ping"] {
        match verify(SECRET, &delivery(&signature, event), data) {
            Ok(signals) => {
                assert!(signals.len() <= 1, "{event}: {signals:?}");
                for s in &signals {
                    assert_eq!(
                        s.item_key.rsplit_once('#').map(|(r, _)| r),
                        Some(s.project.as_str())
                    );
                    assert!(s.delivery_id.starts_with("github:"));
                }
            }
            Err(WebhookError::Malformed(_)) => {}
            Err(e) => panic!("{event}: a signed delivery was refused: {e}"),
        }
    }

    let (claim, body) = forged(data);
    if claim != sign(SECRET, body) {
        let verdict = verify(SECRET, &delivery(&claim, "issues"), body);
        assert!(verdict.is_err(), "a forged delivery was taken: {verdict:?}");
    }
    // No secret configured: every delivery is refused, signed or not.
    assert!(verify("", &delivery(&signature, "issues"), data).is_err());
});
