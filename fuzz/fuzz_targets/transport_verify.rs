//! Any headers and body reaching `/v1/transport` or `/v1/pull` (and any answer a pulling
//! node gets back) are verified or refused; never a panic, and never accepted without the
//! key. The same request signed with the key verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinsync_security::{SignedHeaders, derive_key, sign_request, verify_request};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.lines();
    let headers: Vec<(String, String)> = lines
        .by_ref()
        .take(6)
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    let body: String = lines.collect::<Vec<_>>().join("\n");
    let key = derive_key(
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "c",
        "a",
        "b",
    );
    if let Ok(signed) = SignedHeaders::from_pairs(&headers) {
        for (method, path) in [
            ("POST", "/v1/transport"),
            ("POST", "/v1/pull"),
            ("ANSWER", "/v1/pull#n"),
        ] {
            let verdict = verify_request(
                &key,
                &signed,
                method,
                path,
                body.as_bytes(),
                signed.timestamp_ms,
            );
            // Forging a valid HMAC from random input would mean the check is broken.
            assert!(
                verdict.is_err(),
                "random input verified for {method} {path}"
            );
        }
    }
    let signed = sign_request(
        &key,
        "c",
        "a",
        "POST",
        "/v1/transport",
        1_795_428_841_000,
        body.as_bytes(),
    );
    let verdict = verify_request(
        &key,
        &signed,
        "POST",
        "/v1/transport",
        body.as_bytes(),
        1_795_428_841_000,
    );
    assert!(verdict.is_ok(), "a signed request was refused: {verdict:?}");
});
