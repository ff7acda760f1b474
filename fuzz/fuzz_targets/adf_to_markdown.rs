//! ADF → Markdown: any JSON (a document from Jira, however odd or deep) becomes Markdown
//! and plain text without a panic or a stack overflow, and that Markdown converts back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinsync_jira::{JiraError, adf};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    // A fixture file holds the document under `adf`; anything else is taken as it is.
    let doc = doc.get("adf").cloned().unwrap_or(doc);
    let markdown = adf::to_markdown(&doc);
    let _ = adf::plain_text(&doc);
    match adf::from_markdown(&markdown) {
        Ok(_) | Err(JiraError::TooDeep { .. }) => {}
        Err(e) => panic!("the Markdown of a document was refused: {e}"),
    }
});
