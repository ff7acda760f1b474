//! What HTML's elements and Markdown's tags are, by name.

use super::Ev;
use html5gum::StartTag;
use pulldown_cmark::{Event, HeadingLevel, TagEnd};

pub(super) fn is_span(end: &TagEnd) -> bool {
    matches!(
        end,
        TagEnd::Strong | TagEnd::Emphasis | TagEnd::Strikethrough | TagEnd::Link
    )
}

/// Words, or the end of a span around them.
pub(super) fn is_inline(event: &Ev) -> bool {
    match event {
        Event::Text(_) | Event::Code(_) | Event::HardBreak => true,
        Event::End(end) => is_span(end) || *end == TagEnd::Image,
        _ => false,
    }
}

pub(super) fn takes_inline(end: &TagEnd) -> bool {
    is_span(end)
        || matches!(
            end,
            TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::TableCell
        )
}

pub(super) fn heading(name: &[u8]) -> Option<HeadingLevel> {
    Some(match name {
        b"h1" => HeadingLevel::H1,
        b"h2" => HeadingLevel::H2,
        b"h3" => HeadingLevel::H3,
        b"h4" => HeadingLevel::H4,
        b"h5" => HeadingLevel::H5,
        b"h6" => HeadingLevel::H6,
        _ => return None,
    })
}

pub(super) fn attribute(tag: &StartTag<()>, name: &str) -> String {
    tag.attributes
        .get(name.as_bytes())
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// Elements with no end tag.
pub(super) fn is_void(name: &[u8]) -> bool {
    matches!(
        name,
        b"br"
            | b"hr"
            | b"img"
            | b"input"
            | b"meta"
            | b"link"
            | b"wbr"
            | b"area"
            | b"base"
            | b"col"
            | b"embed"
            | b"source"
            | b"track"
            | b"param"
    )
}

/// Blocks with no Markdown form: their content stands as paragraphs.
pub(super) fn is_section(name: &[u8]) -> bool {
    matches!(
        name,
        b"div"
            | b"section"
            | b"article"
            | b"header"
            | b"footer"
            | b"main"
            | b"nav"
            | b"aside"
            | b"figure"
            | b"figcaption"
            | b"address"
            | b"details"
            | b"summary"
            | b"center"
            | b"dl"
            | b"dt"
            | b"dd"
            | b"body"
            | b"html"
            | b"form"
            | b"fieldset"
            | b"caption"
    )
}

/// Elements that hold blocks; the rest hold words.
pub(super) fn is_block(name: &[u8]) -> bool {
    is_section(name)
        || heading(name).is_some()
        || matches!(
            name,
            b"p" | b"ul"
                | b"ol"
                | b"li"
                | b"blockquote"
                | b"pre"
                | b"table"
                | b"thead"
                | b"tbody"
                | b"tfoot"
                | b"tr"
                | b"td"
                | b"th"
        )
}

/// Elements whose content a reader does not see.
pub(super) fn is_hidden(name: &[u8]) -> bool {
    matches!(
        name,
        b"script"
            | b"style"
            | b"head"
            | b"title"
            | b"template"
            | b"noscript"
            | b"iframe"
            | b"svg"
            | b"math"
            | b"object"
    )
}
