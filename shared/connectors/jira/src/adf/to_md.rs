//! ADF → Markdown: the tree becomes pulldown-cmark events again, depth-bounded.

use super::{MAX_DEPTH, MENTION, heading_level, plain_text};
use pulldown_cmark::{Alignment, CodeBlockKind, CowStr, Event, LinkType, Tag, TagEnd};
use serde_json::Value;

pub(super) fn children(v: &Value) -> &[Value] {
    v["content"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn attr<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v["attrs"][name].as_str()
}

fn link<'a>(href: String, title: &str) -> Tag<'a> {
    Tag::Link {
        link_type: LinkType::Inline,
        dest_url: CowStr::from(href),
        title: CowStr::from(title.to_string()),
        id: CowStr::from(""),
    }
}

/// Events for one ADF node `depth` levels down, appended to `out`. A node deeper than
/// [`MAX_DEPTH`] becomes its text: the nesting is lost, the words are not.
pub(super) fn events(v: &Value, depth: usize, out: &mut Vec<Event<'static>>) {
    if depth >= MAX_DEPTH {
        tracing::warn!(
            max = MAX_DEPTH,
            "a Jira document nests deeper than twinsync reads; its deepest part is flattened to text"
        );
        out.push(Event::Text(CowStr::from(plain_text(v))));
        return;
    }
    let kind = v["type"].as_str().unwrap_or("");
    let each = |out: &mut Vec<Event<'static>>, of: &Value| {
        for c in children(of) {
            events(c, depth + 1, out);
        }
    };
    let wrap = |out: &mut Vec<Event<'static>>, tag: Tag<'static>, end: TagEnd| {
        out.push(Event::Start(tag));
        each(out, v);
        out.push(Event::End(end));
    };
    match kind {
        "doc" => each(out, v),
        "paragraph" => wrap(out, Tag::Paragraph, TagEnd::Paragraph),
        "heading" => {
            let l = heading_level(v["attrs"]["level"].as_u64().unwrap_or(1));
            wrap(
                out,
                Tag::Heading {
                    level: l,
                    id: None,
                    classes: Vec::new(),
                    attrs: Vec::new(),
                },
                TagEnd::Heading(l),
            )
        }
        "blockquote" => wrap(out, Tag::BlockQuote(None), TagEnd::BlockQuote(None)),
        "panel" => {
            // A panel has no Markdown form: a quote that says what kind of panel it was.
            let label = attr(v, "panelType").unwrap_or("info");
            out.push(Event::Start(Tag::BlockQuote(None)));
            out.push(Event::Start(Tag::Paragraph));
            out.push(Event::Start(Tag::Strong));
            let mut name = label.to_string();
            if let Some(first) = name.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            out.push(Event::Text(CowStr::from(format!("{name}:"))));
            out.push(Event::End(TagEnd::Strong));
            out.push(Event::End(TagEnd::Paragraph));
            each(out, v);
            out.push(Event::End(TagEnd::BlockQuote(None)));
        }
        "bulletList" => wrap(out, Tag::List(None), TagEnd::List(false)),
        "orderedList" => {
            let start = v["attrs"]["order"].as_u64().unwrap_or(1);
            wrap(out, Tag::List(Some(start)), TagEnd::List(true))
        }
        "listItem" => {
            // An item of one paragraph is written tight (`* a` lines, no blank between).
            let blocks = children(v);
            if let [only] = blocks
                && only["type"] == "paragraph"
            {
                out.push(Event::Start(Tag::Item));
                each(out, only);
                out.push(Event::End(TagEnd::Item));
            } else {
                wrap(out, Tag::Item, TagEnd::Item)
            }
        }
        "codeBlock" => {
            let lang = attr(v, "language").unwrap_or("").to_string();
            out.push(Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(
                CowStr::from(lang),
            ))));
            let text: String = children(v)
                .iter()
                .filter_map(|t| t["text"].as_str())
                .collect();
            out.push(Event::Text(CowStr::from(format!("{text}\n"))));
            out.push(Event::End(TagEnd::CodeBlock));
        }
        "rule" => out.push(Event::Rule),
        "hardBreak" => out.push(Event::HardBreak),
        "text" => text_events(v, out),
        "mention" => {
            let id = attr(v, "id").unwrap_or("");
            let text = attr(v, "text").unwrap_or("@someone").to_string();
            out.push(Event::Start(link(format!("{MENTION}{id}"), "")));
            out.push(Event::Text(CowStr::from(text)));
            out.push(Event::End(TagEnd::Link));
        }
        "emoji" => {
            let text = attr(v, "text").or(attr(v, "shortName")).unwrap_or("");
            out.push(Event::Text(CowStr::from(text.to_string())));
        }
        "inlineCard" | "blockCard" => {
            let url = attr(v, "url").unwrap_or("").to_string();
            out.push(Event::Start(link(url.clone(), "")));
            out.push(Event::Text(CowStr::from(url)));
            out.push(Event::End(TagEnd::Link));
        }
        // Media sit in their own block: a paragraph holds their note.
        "mediaSingle" | "mediaGroup" => wrap(out, Tag::Paragraph, TagEnd::Paragraph),
        "media" => {
            let alt = attr(v, "alt").unwrap_or("attachment");
            out.push(Event::Text(CowStr::from(format!("[{alt}]"))));
        }
        "table" => table_events(v, depth, out),
        _ => {
            // Unknown blocks (expand, layout, ...) keep their content; unknown inline
            // nodes their text.
            if let Some(t) = v["text"].as_str() {
                out.push(Event::Text(CowStr::from(t.to_string())));
            }
            each(out, v);
        }
    }
}

fn text_events(v: &Value, out: &mut Vec<Event<'static>>) {
    let text = v["text"].as_str().unwrap_or("").to_string();
    let marks = v["marks"].as_array().cloned().unwrap_or_default();
    let mut ends = Vec::new();
    let mut code = false;
    for m in &marks {
        let (start, end) = match m["type"].as_str().unwrap_or("") {
            "strong" => (Tag::Strong, TagEnd::Strong),
            "em" => (Tag::Emphasis, TagEnd::Emphasis),
            "strike" => (Tag::Strikethrough, TagEnd::Strikethrough),
            "link" => (
                link(
                    attr(m, "href").unwrap_or("").to_string(),
                    attr(m, "title").unwrap_or(""),
                ),
                TagEnd::Link,
            ),
            "code" => {
                code = true;
                continue;
            }
            // underline, textColor, subsup: no Markdown form; the text stays.
            _ => continue,
        };
        out.push(Event::Start(start));
        ends.push(end);
    }
    out.push(if code {
        Event::Code(CowStr::from(text))
    } else {
        Event::Text(CowStr::from(text))
    });
    while let Some(end) = ends.pop() {
        out.push(Event::End(end));
    }
}

fn table_events(v: &Value, depth: usize, out: &mut Vec<Event<'static>>) {
    let rows = children(v);
    let columns = rows.iter().map(|r| children(r).len()).max().unwrap_or(0);
    if columns == 0 {
        return;
    }
    out.push(Event::Start(Tag::Table(vec![Alignment::None; columns])));
    for (i, row) in rows.iter().enumerate() {
        // Markdown tables always have a header row: the first row is it.
        if i == 0 {
            out.push(Event::Start(Tag::TableHead));
        } else {
            out.push(Event::Start(Tag::TableRow));
        }
        for c in 0..columns {
            out.push(Event::Start(Tag::TableCell));
            if let Some(cell) = children(row).get(c) {
                // Cells hold paragraphs; a Markdown cell is one line of inline content.
                for (n, block) in children(cell).iter().enumerate() {
                    if n > 0 {
                        out.push(Event::Text(CowStr::from(" ")));
                    }
                    // Table, row, cell and block lie between the table and this inline.
                    children(block)
                        .iter()
                        .for_each(|i| events(i, depth + 4, out));
                }
            }
            out.push(Event::End(TagEnd::TableCell));
        }
        out.push(Event::End(if i == 0 {
            TagEnd::TableHead
        } else {
            TagEnd::TableRow
        }));
    }
    out.push(Event::End(TagEnd::Table));
}
