//! Rich text for the trackers that keep HTML (Azure DevOps descriptions and comments,
//! Zendesk comments); the domain keeps Markdown.
//!
//! Markdown → HTML: `pulldown-cmark` renders it. HTML → Markdown: `html5gum` reads the
//! HTML as the WHATWG tokenizer does (character references decoded, script and style
//! kept as text), [`walk`] turns the tokens into the events `pulldown-cmark` itself
//! would give for the Markdown, nested as Markdown requires whatever the HTML left open,
//! and `pulldown-cmark-to-cmark` writes them out, escaping what needs it. The Jira
//! connector writes its documents the same way.
//!
//! This replaced htmd (on html5ever) in session 52: html5ever's table of named
//! character references, every name and every prefix of one with a pointer each, was
//! 0.47 MB of a function built with every connector (docs/aws-cost.md).

mod table;
mod walk;

use pulldown_cmark::{Options, Parser};

/// The Markdown extensions both directions use: what tracker HTML has and plain
/// CommonMark lacks.
const EXTENSIONS: Options = Options::ENABLE_STRIKETHROUGH.union(Options::ENABLE_TABLES);

/// Markdown as HTML; empty text stays empty.
pub fn from_markdown(markdown: &str) -> String {
    if markdown.trim().is_empty() {
        return String::new();
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, Parser::new_ext(markdown, EXTENSIONS));
    html.trim_end().to_string()
}

/// HTML as Markdown: headings (ATX), paragraphs, emphasis, strong, strike, code, fenced
/// code blocks, links, images, lists, quotes, rules and tables. Elements Markdown has no
/// form for keep their text. Lines end without trailing spaces.
pub fn to_markdown(html: &str) -> String {
    let events = walk::events(html);
    let markdown = write(&events).or_else(|| {
        // Some nestings HTML allows have no Markdown form (a table right after an item's
        // text); the writer refuses them, and their words are kept as paragraphs.
        write(&walk::paragraphs(&events))
    });
    tidy(&markdown.unwrap_or_default())
}

/// The events as Markdown; none when the writer finds no Markdown form for them.
fn write(events: &[pulldown_cmark::Event<'static>]) -> Option<String> {
    let options = pulldown_cmark_to_cmark::Options {
        code_block_token_count: 3,
        list_token: '-',
        increment_ordered_list_bullets: true,
        ..Default::default()
    };
    let mut markdown = String::new();
    pulldown_cmark_to_cmark::cmark_with_options(events.iter(), &mut markdown, EXTENSIONS, options)
        .ok()
        .map(|_| markdown)
}

/// The writer's output as a person would write it: no blank line opening a quote
/// (` > ` then the quote's first line), a quote's lines start at the margin, and lines
/// of spaces are empty. A line's two trailing spaces are a hard break and stay.
fn tidy(markdown: &str) -> String {
    // Only a quote at the margin: inside a list item the writer's lines stay as they are.
    let blank_quote = |l: &str| l.starts_with('>') && l.chars().all(|c| c == '>' || c == ' ');
    let mut lines: Vec<&str> = Vec::new();
    for line in markdown.lines() {
        let line = line
            .strip_prefix(' ')
            .filter(|l| l.starts_with('>'))
            .unwrap_or(line);
        if line.trim().is_empty() {
            lines.push("");
        } else if blank_quote(line) {
            let opens = lines.last().is_none_or(|l| l.is_empty() || blank_quote(l));
            if !opens {
                lines.push(line.trim_end());
            }
        } else {
            lines.push(line);
        }
    }
    lines.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests;
