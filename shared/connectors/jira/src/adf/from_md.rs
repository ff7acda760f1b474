//! Markdown → ADF: pulldown-cmark's events build a stack of ADF nodes.

use super::{MAX_DEPTH, MENTION, empty, level, node};
use crate::JiraError;
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde_json::{Value, json};

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
        // The parser splits one run of text at entities and escapes (`i&amp;`): one node
        // per run, or the Markdown written back marks each piece on its own and changes
        // on every trip.
        if let Some(Value::Array(c)) = self.top().get_mut("content")
            && let Some(last) = c.last_mut()
            && last["type"] == "text"
            && last.get("marks") == t.get("marks")
            && let Some(Value::String(before)) = last.get_mut("text")
        {
            before.push_str(text);
            return;
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
