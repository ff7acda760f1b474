//! Origin markers written into text: a hidden HTML comment at the end of a body or a
//! comment, `<!-- twinsync-origin: X -->`. Trackers without a field for it (Redmine notes,
//! GitHub issues and comments) carry the marker this way; Markdown renderers hide it.

const OPEN: &str = "\n\n<!-- twinsync-origin: ";
const CLOSE: &str = " -->";

/// `text` with the origin marker appended (unchanged when there is no origin).
pub fn with_origin(text: &str, origin: Option<&str>) -> String {
    match origin {
        Some(o) if !o.is_empty() => format!("{text}{OPEN}{o}{CLOSE}"),
        _ => text.to_string(),
    }
}

/// Splits text into what the user wrote and its origin marker, if it ends with one.
pub fn split_origin(text: &str) -> (String, Option<String>) {
    let trimmed = text.trim_end_matches(['\n', '\r', ' ']);
    if let Some(at) = trimmed.rfind(OPEN.trim_start_matches('\n')) {
        let rest = &trimmed[at + OPEN.trim_start_matches('\n').len()..];
        if let Some(origin) = rest.strip_suffix(CLOSE)
            && !origin.contains('\n')
        {
            let body = trimmed[..at].trim_end_matches(['\n', '\r']);
            return (body.to_string(), Some(origin.to_string()));
        }
    }
    (text.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", Some("twinsync:c:1")),
            ("Plain text", Some("twinsync:c:2")),
            ("Ends with a newline\n", None),
            ("Two\n\nparagraphs", Some("twinsync:c:PROJ-3")),
            ("<!-- a user's own comment -->", None),
        ];
        for (text, origin) in cases {
            let marked = with_origin(text, *origin);
            let (back, found) = split_origin(&marked);
            assert_eq!(found.as_deref(), *origin, "{text:?}");
            if origin.is_some() {
                assert_eq!(back, text.trim_end_matches('\n'), "{text:?}");
            } else {
                assert_eq!(back, *text);
            }
        }
    }

    #[test]
    fn a_marker_survives_what_trackers_do_to_text() {
        // GitHub and Redmine may turn LF into CRLF or trim the end.
        let marked = with_origin("Body", Some("twinsync:c:9")).replace('\n', "\r\n");
        let (_, found) = split_origin(&marked.replace("\r\n", "\n"));
        assert_eq!(found.as_deref(), Some("twinsync:c:9"));
        let (body, found) = split_origin("Body\n<!-- twinsync-origin: twinsync:c:9 -->\n");
        assert_eq!(
            (body.as_str(), found.as_deref()),
            ("Body", Some("twinsync:c:9"))
        );
    }
}
