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

    // The round trips of every kind of markup are twinsync-html's tests; here, what is
    // Azure DevOps' own: its editor's lines and plain text set through the API.
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
