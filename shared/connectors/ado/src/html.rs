//! Rich text: Azure DevOps keeps descriptions and (by default) comments as HTML; the
//! domain keeps Markdown. `twinsync-html` converts both ways, so a round trip keeps
//! headings, emphasis, lists, links, code and tables.

/// Markdown as the HTML Azure DevOps shows.
pub fn from_markdown(markdown: &str) -> String {
    twinsync_html::from_markdown(markdown)
}

/// HTML from Azure DevOps as Markdown. Text that is not HTML passes through as it is:
/// a field set through the API as plain text keeps its characters unescaped.
pub fn to_markdown(html: &str) -> String {
    if !html.contains('<') {
        return html.trim().to_string();
    }
    twinsync_html::to_markdown(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_round_trips_through_html() {
        let cases = [
            "Plain text",
            "# Title\n\nA **bold** and *italic* word.",
            "- one\n- two",
            "1. first\n2. second",
            "A [link](https://example.com/x).",
            "```\nlet x = 1;\n```",
            "Two\n\nparagraphs",
        ];
        for md in cases {
            let html = from_markdown(md);
            assert!(html.contains('<'), "{md:?} -> {html}");
            assert_eq!(to_markdown(&html), md, "{html}");
        }
    }

    #[test]
    fn ado_html_reads_as_markdown() {
        assert_eq!(
            to_markdown("<div>Steps:<br></div><div><b>Crash</b> on save</div>"),
            "Steps:\n\n**Crash** on save"
        );
        assert_eq!(to_markdown(""), "");
        assert_eq!(to_markdown("no markup"), "no markup");
        assert_eq!(from_markdown("  "), "");
    }
}
