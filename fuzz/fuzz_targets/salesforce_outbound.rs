//! Salesforce Outbound Messages: any body parses or is refused (never a panic, no entity
//! expansion); with the path's secret a message is taken only from its own org, and
//! without it never.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{SECRET, forged, headers};
use libfuzzer_sys::fuzz_target;
use twinsync_ports::WebhookError;
use twinsync_salesforce::outbound::{PATH_SECRET, parse, verify};

/// The org of `tests/fixtures/salesforce/outbound-message.xml`, in its 18-character form.
const ORG: &str = "00Dx0000000Ed2wEAC";

fuzz_target!(|data: &[u8]| {
    let parsed = parse(data);
    match verify(SECRET, ORG, &headers(&[(PATH_SECRET, SECRET)]), data) {
        Ok(signals) => {
            let envelope = parsed.expect("a message taken parses");
            assert!(envelope.organization_id.get(..15) == ORG.get(..15));
            assert!(signals.len() <= envelope.notifications.len());
            for s in &signals {
                assert!(!s.item_key.is_empty() && s.delivery_id.starts_with("salesforce:"));
            }
        }
        // The org's id is compared after parsing: another org's message reads as forged.
        Err(WebhookError::Malformed(_)) => assert!(parsed.is_err()),
        Err(WebhookError::BadSignature) => assert!(parsed.is_ok()),
        Err(e) => panic!("a message with the path's secret was refused: {e}"),
    }

    let (claim, body) = forged(data);
    if claim != SECRET {
        let verdict = verify(SECRET, ORG, &headers(&[(PATH_SECRET, &claim)]), body);
        assert!(
            matches!(verdict, Err(WebhookError::BadSignature)),
            "{verdict:?}"
        );
    }
});
