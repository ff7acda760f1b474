//! Atlassian Document Format ↔ Markdown.
//!
//! Markdown → ADF: `pulldown-cmark` parses; a stack of ADF nodes is built from its events.
//! ADF → Markdown: the tree becomes the same kind of events, which `pulldown-cmark-to-cmark`
//! writes out. Headings, paragraphs, emphasis, strong, strike, inline code, links, lists,
//! code blocks, quotes, rules, hard breaks and tables map one to one. What Markdown has no
//! form for degrades to the nearest readable thing: a mention becomes a link
//! `[@Name](mention:accountId)` (and comes back as a mention), a panel a quote that starts
//! with its type, an emoji its text, a card its link, media a note.
//!
//! Both directions walk the document's nesting, so it is bounded by [`MAX_DEPTH`]:
//! Markdown nested deeper is refused with [`JiraError::TooDeep`] (Jira could not take it
//! either), and ADF nodes deeper than that are flattened to their text, so an item a
//! person wrote in Jira still syncs, never overflowing the stack.

mod from_md;
mod to_md;

pub use from_md::from_markdown;
use to_md::{children, events};

use pulldown_cmark::{HeadingLevel, Options};
use serde_json::{Value, json};

const MENTION: &str = "mention:";

/// How deep ADF nodes may nest here: fifteen levels of nested lists, more than a person
/// writes (or Jira's editor makes), and far less than the stack allows.
pub const MAX_DEPTH: usize = 32;

/// An empty ADF document.
pub fn empty() -> Value {
    json!({"type": "doc", "version": 1, "content": []})
}

fn node(kind: &str) -> Value {
    json!({"type": kind, "content": []})
}

fn level(l: HeadingLevel) -> u8 {
    match l {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

fn heading_level(n: u64) -> HeadingLevel {
    match n {
        0 | 1 => HeadingLevel::H1,
        2 => HeadingLevel::H2,
        3 => HeadingLevel::H3,
        4 => HeadingLevel::H4,
        5 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// An ADF document (or any ADF node) to Markdown.
pub fn to_markdown(doc: &Value) -> String {
    let mut evs = Vec::new();
    events(doc, 0, &mut evs);
    let mut out = String::new();
    if pulldown_cmark_to_cmark::cmark(
        evs.iter(),
        &mut out,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .is_err()
    {
        // Writing to a String does not fail; keep the text we have if it ever does.
        return out;
    }
    out.trim().to_string()
}

/// Plain text of an ADF document, for logs and filters. It walks the tree with a stack
/// of its own, so any depth is fine.
pub fn plain_text(doc: &Value) -> String {
    enum Step<'a> {
        Enter(&'a Value),
        /// After a block's content: it ends its line.
        Leave(&'a Value),
    }
    let mut out = String::new();
    let mut todo = vec![Step::Enter(doc)];
    while let Some(step) = todo.pop() {
        match step {
            Step::Enter(v) => {
                if let Some(t) = v["text"].as_str() {
                    out.push_str(t);
                }
                todo.push(Step::Leave(v));
                todo.extend(children(v).iter().rev().map(Step::Enter));
            }
            Step::Leave(v) => {
                if v.get("content").is_some() && !out.ends_with('\n') && v["type"] != "doc" {
                    out.push('\n');
                }
            }
        }
    }
    out.trim_end().to_string()
}
