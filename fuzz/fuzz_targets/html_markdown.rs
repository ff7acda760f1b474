//! HTML ↔ Markdown for Azure DevOps and Zendesk: any text converts both ways without a
//! panic, and a Zendesk marker appended to any Markdown without raw HTML is found again
//! after the trip through HTML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinsync_ado::html as ado;
use twinsync_zendesk::html::{self as zendesk, Marker};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The text as HTML from the tracker.
    let _ = ado::to_markdown(text);
    let _ = zendesk::to_markdown(text);
    // The text as the domain's Markdown, written to the tracker and read back.
    let _ = ado::to_markdown(&ado::from_markdown(text));
    let _ = zendesk::to_markdown(&zendesk::to_html(text));
    let _ = zendesk::split_marker(text);

    // Raw HTML in Markdown passes through as it is and Zendesk sanitizes it; without it
    // the marker's paragraph is the last one.
    if !text.contains('<') {
        let marker = Marker::Origin("twinsync:c:PROJ-1#5".into());
        let html = zendesk::marked_html(text, Some(&marker));
        let (_, found) = zendesk::split_marker(&zendesk::to_markdown(&html));
        assert_eq!(found, Some(marker), "{html}");
    }
});
