//! Zendesk keeps comments as HTML (`html_body`) and derives a plain `body` from it; the
//! domain speaks Markdown. `twinsync-html` converts both ways.
//!
//! Zendesk sanitizes `html_body`: HTML comments and unknown attributes are dropped, so a
//! hidden marker would not survive. The connector's markers are a last paragraph of
//! plain text, `[twinsync-origin: X]` (a synced comment), `[twinsync-description]` (a
//! note that carries a new description) or `[twinsync-edit: ID]` (a note that quotes an
//! edit of comment ID), found again in the plain `body`.

/// What the last line of a comment says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// A comment sync wrote, with the origin it came from.
    Origin(String),
    /// A note carrying the ticket's new description (the first comment cannot change).
    Description,
    /// A note quoting an edit of the comment with this id on the other side.
    Edit(String),
    /// A note that carries an attachment copied from the other side.
    Attachment,
}

impl Marker {
    /// The paragraph that carries the marker.
    pub fn line(&self) -> String {
        match self {
            Marker::Origin(o) => format!("[twinsync-origin: {o}]"),
            Marker::Description => "[twinsync-description]".to_string(),
            Marker::Edit(id) => format!("[twinsync-edit: {id}]"),
            Marker::Attachment => "[twinsync-attachment]".to_string(),
        }
    }

    fn parse(line: &str) -> Option<Marker> {
        // Markdown escapes brackets; the plain body does not.
        let line = line.trim().replace('\\', "");
        let inner = line.strip_prefix("[twinsync-")?.strip_suffix(']')?;
        match inner.split_once(": ") {
            Some(("origin", o)) if !o.is_empty() && !o.contains(' ') => {
                Some(Marker::Origin(o.to_string()))
            }
            Some(("edit", id)) if !id.is_empty() => Some(Marker::Edit(id.to_string())),
            None if inner == "description" => Some(Marker::Description),
            None if inner == "attachment" => Some(Marker::Attachment),
            _ => None,
        }
    }
}

/// Markdown as HTML for `html_body`.
pub fn to_html(markdown: &str) -> String {
    twinsync_html::from_markdown(markdown)
}

/// `markdown` as HTML with `marker` as its last paragraph.
pub fn marked_html(markdown: &str, marker: Option<&Marker>) -> String {
    let body = to_html(markdown);
    match marker {
        Some(m) => format!("{body}\n<p>{}</p>", escape(&m.line())),
        None => body,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Zendesk's comment HTML as Markdown.
pub fn to_markdown(html: &str) -> String {
    twinsync_html::to_markdown(html)
}

/// Splits text into what the user wrote and the connector's marker, if its last
/// non-empty line is one.
pub fn split_marker(text: &str) -> (String, Option<Marker>) {
    let trimmed = text.trim_end();
    let (head, last) = match trimmed.rsplit_once('\n') {
        Some((head, last)) => (head, last),
        None => ("", trimmed),
    };
    match Marker::parse(last) {
        Some(m) => (head.trim_end().to_string(), Some(m)),
        None => (text.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_round_trips_through_html() {
        let cases = [
            "Plain text",
            "**Bold** and *italic* and `code`",
            "A [link](https://example.com)",
            "* one\n* two",
            "> quoted",
            "```\nfn main() {}\n```",
        ];
        for md in cases {
            let back = to_markdown(&to_html(md));
            assert_eq!(to_html(&back), to_html(md), "{md:?} came back as {back:?}");
        }
    }

    #[test]
    fn markers_survive_as_text_and_are_split_off() {
        for marker in [
            Marker::Origin("twinsync:c:PROJ-1#5".into()),
            Marker::Description,
            Marker::Edit("77".into()),
            Marker::Attachment,
        ] {
            let html = marked_html("Hello **there**", Some(&marker));
            let (md, found) = split_marker(&to_markdown(&html));
            assert_eq!(found.as_ref(), Some(&marker), "{html}");
            assert_eq!(md, "Hello **there**");
            // The plain body Zendesk derives keeps the marker as a line of its own.
            let plain = format!("Hello there\n\n{}", marker.line());
            assert_eq!(split_marker(&plain).1.as_ref(), Some(&marker));
        }
        assert_eq!(split_marker("no marker [twinsync-origin: x]").1, None);
        assert_eq!(split_marker("[twinsync-other: x]").1, None);
    }
}
