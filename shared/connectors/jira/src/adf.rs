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

use crate::JiraError;
use pulldown_cmark::{
    Alignment, CodeBlockKind, CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd,
};
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

struct Builder {
    stack: Vec<Value>,
    marks: Vec<Value>,
    /// Inside a link to `mention:ID`: the id, and the text seen so far.
    mention: Option<(String, String)>,
    in_table_head: bool,
}

impl Builder {
    fn top(&mut self) -> &mut Value {
        // The document is always at the bottom of the stack.
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn push_child(&mut self, child: Value) {
        if let Some(Value::Array(c)) = self.top().get_mut("content") {
            c.push(child);
        }
    }

    /// Inline content needs a paragraph where ADF allows only blocks (list items, cells,
    /// quotes, the document itself).
    fn inline_parent(&mut self) {
        let kind = self.top()["type"].as_str().unwrap_or("").to_string();
        if matches!(
            kind.as_str(),
            "doc" | "listItem" | "tableCell" | "tableHeader" | "blockquote"
        ) {
            self.stack.push(node("paragraph"));
            self.top()["implicit"] = json!(true);
        }
    }

    /// Closes a paragraph opened for stray inline content, before a block starts or ends.
    fn close_implicit(&mut self) {
        if self.top().get("implicit").is_some() {
            self.pop();
        }
    }

    fn pop(&mut self) {
        if self.stack.len() < 2 {
            return;
        }
        if let Some(mut done) = self.stack.pop() {
            if let Some(o) = done.as_object_mut() {
                o.remove("implicit");
            }
            self.push_child(done);
        }
    }

    fn open(&mut self, mut n: Value, attrs: Option<Value>) {
        self.close_implicit();
        if let Some(a) = attrs {
            n["attrs"] = a;
        }
        self.stack.push(n);
    }

    fn text(&mut self, text: &str, extra: Option<Value>) {
        if text.is_empty() {
            return;
        }
        if let Some((_, seen)) = &mut self.mention {
            seen.push_str(text);
            return;
        }
        self.inline_parent();
        let mut t = json!({"type": "text", "text": text});
        let mut marks = self.marks.clone();
        if let Some(m) = extra {
            // ADF allows `code` only alongside `link`.
            marks.retain(|m| m["type"] == "link");
            marks.push(m);
        }
        if !marks.is_empty() {
            t["marks"] = Value::Array(marks);
        }
        self.push_child(t);
    }
}

/// Markdown to an ADF document; `TooDeep` when its blocks nest deeper than [`MAX_DEPTH`].
pub fn from_markdown(markdown: &str) -> Result<Value, JiraError> {
    let mut b = Builder {
        stack: vec![json!({"type": "doc", "version": 1, "content": []})],
        marks: Vec::new(),
        mention: None,
        in_table_head: false,
    };
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(markdown, options) {
        if matches!(event, Event::Start(_)) && b.stack.len() >= MAX_DEPTH {
            return Err(JiraError::TooDeep { max: MAX_DEPTH });
        }
        match event {
            Event::Start(tag) => match tag {
                Tag::Paragraph => b.open(node("paragraph"), None),
                Tag::Heading { level: l, .. } => {
                    b.open(node("heading"), Some(json!({"level": level(l)})))
                }
                Tag::BlockQuote(_) => b.open(node("blockquote"), None),
                Tag::CodeBlock(kind) => {
                    let language = match kind {
                        CodeBlockKind::Fenced(lang) if !lang.is_empty() => Some(lang.to_string()),
                        _ => None,
                    };
                    b.open(
                        node("codeBlock"),
                        language.map(|l| json!({ "language": l })),
                    )
                }
                Tag::List(Some(start)) => {
                    b.open(node("orderedList"), Some(json!({"order": start})))
                }
                Tag::List(None) => b.open(node("bulletList"), None),
                Tag::Item => b.open(node("listItem"), None),
                Tag::Table(_) => b.open(node("table"), None),
                Tag::TableHead => {
                    b.in_table_head = true;
                    b.open(node("tableRow"), None)
                }
                Tag::TableRow => b.open(node("tableRow"), None),
                Tag::TableCell => {
                    let kind = if b.in_table_head {
                        "tableHeader"
                    } else {
                        "tableCell"
                    };
                    b.open(node(kind), None)
                }
                Tag::Emphasis => b.marks.push(json!({"type": "em"})),
                Tag::Strong => b.marks.push(json!({"type": "strong"})),
                Tag::Strikethrough => b.marks.push(json!({"type": "strike"})),
                Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                    match dest_url.strip_prefix(MENTION) {
                        Some(id) => b.mention = Some((id.to_string(), String::new())),
                        None => b
                            .marks
                            .push(json!({"type": "link", "attrs": {"href": dest_url.to_string()}})),
                    }
                }
                _ => {}
            },
            Event::End(end) => match end {
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                    b.marks.pop();
                }
                TagEnd::Link | TagEnd::Image => match b.mention.take() {
                    Some((id, text)) => {
                        b.inline_parent();
                        b.push_child(json!({"type": "mention", "attrs": {"id": id, "text": text}}));
                    }
                    None => {
                        b.marks.pop();
                    }
                },
                TagEnd::TableHead => {
                    b.close_implicit();
                    b.pop();
                    b.in_table_head = false;
                }
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::BlockQuote(_)
                | TagEnd::CodeBlock
                | TagEnd::List(_)
                | TagEnd::Item
                | TagEnd::Table
                | TagEnd::TableRow
                | TagEnd::TableCell => {
                    b.close_implicit();
                    b.pop();
                }
                _ => {}
            },
            Event::Text(t) => {
                if b.top()["type"] == "codeBlock" {
                    let text = t.strip_suffix('\n').unwrap_or(&t).to_string();
                    b.push_child(json!({"type": "text", "text": text}));
                } else {
                    b.text(&t, None);
                }
            }
            Event::Code(t) => b.text(&t, Some(json!({"type": "code"}))),
            Event::Html(t) | Event::InlineHtml(t) => b.text(&t, None),
            Event::SoftBreak => b.text(" ", None),
            Event::HardBreak => {
                b.inline_parent();
                b.push_child(json!({"type": "hardBreak"}));
            }
            Event::Rule => {
                b.close_implicit();
                b.push_child(json!({"type": "rule"}));
            }
            _ => {}
        }
    }
    while b.stack.len() > 1 {
        b.pop();
    }
    let mut doc = b.stack.pop().unwrap_or_else(empty);
    // Code blocks that received several text events hold one text node in ADF.
    merge_code_text(&mut doc);
    Ok(doc)
}

fn merge_code_text(v: &mut Value) {
    if v["type"] == "codeBlock"
        && let Some(Value::Array(c)) = v.get_mut("content")
    {
        let text: String = c.iter().filter_map(|t| t["text"].as_str()).collect();
        *c = if text.is_empty() {
            Vec::new()
        } else {
            vec![json!({"type": "text", "text": text})]
        };
        return;
    }
    if let Some(Value::Array(c)) = v.get_mut("content") {
        c.iter_mut().for_each(merge_code_text);
    }
}

fn children(v: &Value) -> &[Value] {
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
fn events(v: &Value, depth: usize, out: &mut Vec<Event<'static>>) {
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
