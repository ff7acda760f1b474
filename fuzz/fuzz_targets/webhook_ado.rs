//! Azure DevOps service hooks: the subscription's secret header and its Basic
//! credentials are two ways to the same reading of a body; any other credential is
//! refused.
#![no_main]

#[path = "common.rs"]
mod common;

use base64::Engine;
use common::{SECRET, forged, headers};
use libfuzzer_sys::fuzz_target;
use twinsync_ado::webhook::{SECRET_HEADER, verify};
use twinsync_ports::WebhookError;

const USER: &str = "twinsync";

fuzz_target!(|data: &[u8]| {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{SECRET}"))
    );
    let by_header = verify(USER, SECRET, &headers(&[(SECRET_HEADER, SECRET)]), data);
    let by_basic = verify(USER, SECRET, &headers(&[("Authorization", &basic)]), data);
    match (&by_header, &by_basic) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "the credential changed what the payload says");
            for s in a {
                assert!(s.delivery_id.starts_with("ado:"), "{s:?}");
            }
        }
        (Err(WebhookError::Malformed(_)), Err(WebhookError::Malformed(_))) => {}
        other => panic!("the two credentials disagree: {other:?}"),
    }

    let (claim, body) = forged(data);
    if claim.trim() != SECRET {
        let verdict = verify(USER, SECRET, &headers(&[(SECRET_HEADER, &claim)]), body);
        assert!(verdict.is_err(), "a forged secret was taken: {verdict:?}");
    }
    if claim.strip_prefix("Basic ").map(str::trim) != basic.strip_prefix("Basic ") {
        let verdict = verify(USER, SECRET, &headers(&[("authorization", &claim)]), body);
        assert!(
            verdict.is_err(),
            "forged credentials were taken: {verdict:?}"
        );
    }
});
