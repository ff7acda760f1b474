//! Redmine issues with their journals, as the API answers: any JSON reads as an item or
//! is refused; the item's version counts its journals, a comment comes only from a
//! journal with notes, and an origin marker appended to a comment is split off again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinsync_redmine::mapping::{Issue, OwnFields, note_with_marker, split_marker};

fuzz_target!(|data: &[u8]| {
    // The connector reads `{"issue": {...}}`; the fuzzer may also give the bare issue.
    let issue = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| serde_json::from_value::<Issue>(v.get("issue").cloned().unwrap_or(v)).ok());
    let Some(issue) = issue else { return };
    let item = issue.to_item("https://redmine.example", OwnFields::origin(1), &[]);
    let journals = issue.journals.as_ref().map_or(0, Vec::len);
    assert_eq!(item.version, 1 + journals as u64);
    assert!(item.comments.len() <= journals);
    for comment in &item.comments {
        let note = note_with_marker(&comment.body, Some("twinsync:c:7"));
        let (body, origin) = split_marker(&note);
        assert_eq!(origin.as_deref(), Some("twinsync:c:7"), "{note:?}");
        assert_eq!(
            body,
            comment.body.trim_end_matches(['\n', '\r']),
            "{note:?}"
        );
    }
});
