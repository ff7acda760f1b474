//! Rich text: Azure DevOps keeps descriptions and (by default) comments as HTML; the
//! domain keeps Markdown. `pulldown-cmark` renders Markdown to HTML and `htmd` turns HTML
//! back into Markdown, so a round trip keeps headings, emphasis, lists, links and code.

/// Markdown as the HTML Azure DevOps shows.
pub fn from_markdown(markdown: &str) -> String {
    if markdown.trim().is_empty() {
        return String::new();
    }
    let mut options = pulldown_cmark::Options::empty();
    options.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    options.insert(pulldown_cmark::Options::ENABLE_TABLES);
    let parser = pulldown_cmark::Parser::new_ext(markdown, options);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    html.trim_end().to_string()
}

/// HTML from Azure DevOps as Markdown. Text that is not HTML passes through as it is.
pub fn to_markdown(html: &str) -> String {
    if html.trim().is_empty() {
        return String::new();
    }
    if !html.contains('<') {
        return html.trim().to_string();
    }
    let converter = htmd::HtmlToMarkdown::builder()
        .options(htmd::options::Options {
            heading_style: htmd::options::HeadingStyle::Atx,
            code_block_style: htmd::options::CodeBlockStyle::Fenced,
            bullet_list_marker: htmd::options::BulletListMarker::Dash,
            ul_bullet_spacing: 1,
            ol_number_spacing: 1,
            ..Default::default()
        })
        .build();
    match converter.convert(html) {
        // A line break Azure DevOps' editor leaves at the end of a line is no break.
        Ok(md) => md
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string(),
        // A parser failure keeps the text readable rather than losing it.
        Err(_) => html.to_string(),
    }
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
