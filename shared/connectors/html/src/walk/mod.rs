//! HTML tokens as `pulldown-cmark` events.
//!
//! Two stacks are kept: the HTML elements open, and the Markdown tags open. An element
//! that opened a Markdown tag remembers how deep the Markdown stack was, so its end tag
//! closes that tag and whatever opened inside it. A block that starts inside a paragraph
//! ends the paragraph first (as HTML's `<p>` does), an item ends the item before it, and
//! what the HTML never closed is closed by an ancestor's end or the text's end: the events
//! always nest as Markdown requires.

mod cells;
mod names;
mod text;

use crate::table::Table;
use html5gum::{DefaultEmitter, StartTag, Token, Tokenizer};
use names::{attribute, heading, is_block, is_hidden, is_section, is_span, is_void};
use pulldown_cmark::{CodeBlockKind, CowStr, Event, Tag, TagEnd};

type Ev = Event<'static>;

/// The events for `html`.
pub(crate) fn events(html: &str) -> Vec<Ev> {
    let mut emitter = DefaultEmitter::default();
    // Script and style hold text, not markup, as a browser reads them.
    emitter.naively_switch_states(true);
    let mut walker = Walker::default();
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        walker.token(token);
    }
    walker.finish()
}

/// The events' words as paragraphs with no markup, which Markdown can always hold: one
/// paragraph for each block's text.
pub(crate) fn paragraphs(events: &[Ev]) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut text = String::new();
    let end_paragraph = |text: &mut String, out: &mut Vec<Ev>| {
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !words.is_empty() {
            out.push(Event::Start(Tag::Paragraph));
            out.push(Event::Text(CowStr::from(words)));
            out.push(Event::End(TagEnd::Paragraph));
        }
        text.clear();
    };
    for event in events {
        match event {
            Event::Text(t) | Event::Code(t) => text.push_str(t),
            Event::HardBreak | Event::SoftBreak => text.push(' '),
            Event::End(end) if !is_span(end) && *end != TagEnd::Image => {
                end_paragraph(&mut text, &mut out)
            }
            Event::Start(tag) if !is_span(&tag.to_end()) && !matches!(tag, Tag::Image { .. }) => {
                end_paragraph(&mut text, &mut out)
            }
            _ => {}
        }
    }
    end_paragraph(&mut text, &mut out);
    out
}

/// What an open HTML element stands for.
#[derive(Clone, Copy)]
enum Shape {
    /// It opened a Markdown tag; the Markdown stack was this long before it.
    Tagged(usize),
    /// A block with no Markdown form (`div`): it ends the paragraph before and after it.
    Section,
    /// No Markdown form (`span`, `u`): its content only.
    Transparent,
    /// The table being read, or a cell of it.
    Table,
    Cell,
}

struct Element {
    name: Vec<u8>,
    shape: Shape,
}

/// Where the tokens go.
#[derive(Default)]
enum Mode {
    #[default]
    Flow,
    /// Inside an element whose content is not shown (`script`, `style`), to its end.
    Hidden { name: Vec<u8>, nested: usize },
    /// Inline code: its text.
    Code(String),
    /// A preformatted block: its text and the language its `code` element names.
    Pre {
        text: String,
        language: String,
        /// Whether any token came after `<pre>` yet.
        started: bool,
    },
}

#[derive(Default)]
struct Walker {
    out: Vec<Ev>,
    html: Vec<Element>,
    md: Vec<TagEnd>,
    mode: Mode,
    /// Text not yet written as an event.
    text: String,
    /// A space is owed before the next inline content (HTML collapses white space).
    space: bool,
    /// A line break is owed before the next inline content; one at a block's end is none.
    line_break: bool,
    /// No inline content yet since the current block opened.
    fresh: bool,
    table: Option<Table>,
    /// Tables inside the table's cells: their rows and cells become spaces.
    inner_tables: usize,
    /// Elements opened past [`MAX_OPEN`]: their words only, their end tags skipped.
    too_deep: usize,
}

/// How many elements may be open at once; deeper ones keep their words, not their
/// shape. HTML people write nests far less, and the bound keeps each step's work small
/// whatever the input (the walk looks through the open elements at each block's edge).
/// It is the Jira connector's too (`adf::MAX_DEPTH`), whose documents take this text.
const MAX_OPEN: usize = 32;

impl Walker {
    fn token(&mut self, token: Token) {
        match std::mem::take(&mut self.mode) {
            Mode::Flow => self.flow(token),
            Mode::Hidden { name, nested } => self.hidden(token, name, nested),
            Mode::Code(text) => self.code(token, text),
            Mode::Pre {
                text,
                language,
                started,
            } => self.pre(token, text, language, started),
        }
    }

    fn flow(&mut self, token: Token) {
        match token {
            Token::StartTag(tag) => {
                self.start(&tag);
                // `<div/>` opens and closes at once (a `<p/>` or `<b/>` written as XHTML).
                if tag.self_closing && !is_void(&tag.name) && matches!(self.mode, Mode::Flow) {
                    self.end(&tag.name);
                }
            }
            Token::EndTag(tag) => self.end(&tag.name),
            Token::String(s) => self.words(&String::from_utf8_lossy(&s)),
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }

    fn hidden(&mut self, token: Token, name: Vec<u8>, nested: usize) {
        self.mode = match token {
            Token::StartTag(t) if *t.name == *name && !t.self_closing => Mode::Hidden {
                name,
                nested: nested + 1,
            },
            Token::EndTag(t) if *t.name == *name => match nested.checked_sub(1) {
                Some(nested) => Mode::Hidden { name, nested },
                None => Mode::Flow,
            },
            _ => Mode::Hidden { name, nested },
        };
    }

    fn code(&mut self, token: Token, mut text: String) {
        match token {
            Token::String(s) => text.push_str(&String::from_utf8_lossy(&s)),
            Token::EndTag(t) if *t.name == *b"code" => {
                self.inline_code(&text);
                return;
            }
            _ => {}
        }
        self.mode = Mode::Code(text);
    }

    fn inline_code(&mut self, text: &str) {
        // White space at the code's edges separates it from the words around it.
        if text.starts_with(|c: char| c.is_ascii_whitespace()) && !self.fresh {
            self.space = true;
        }
        let code = text.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
        if !code.is_empty() {
            self.before_inline();
            self.push(Event::Code(CowStr::from(code)));
            self.fresh = false;
        }
        if text.ends_with(|c: char| c.is_ascii_whitespace()) && !self.fresh {
            self.space = true;
        }
    }

    fn pre(&mut self, token: Token, mut text: String, mut language: String, started: bool) {
        match token {
            Token::String(s) => {
                let s = String::from_utf8_lossy(&s);
                // A newline right after `<pre>` is not content, as a browser reads it.
                let s = if started {
                    &s
                } else {
                    s.strip_prefix('\n').unwrap_or(&s)
                };
                text.push_str(s);
            }
            Token::StartTag(t) if *t.name == *b"br" => text.push('\n'),
            Token::StartTag(t) if *t.name == *b"code" => {
                let class = attribute(&t, "class");
                if let Some(l) = class
                    .split_whitespace()
                    .find_map(|c| c.strip_prefix("language-"))
                {
                    language = l.to_string();
                }
            }
            Token::EndTag(t) if *t.name == *b"pre" => {
                self.code_block(text, language);
                return;
            }
            _ => {}
        }
        self.mode = Mode::Pre {
            text,
            language,
            started: true,
        };
    }

    fn code_block(&mut self, text: String, language: String) {
        let mut code = text;
        if !code.ends_with('\n') {
            code.push('\n');
        }
        if self.table.is_some() {
            self.words(&code);
            return;
        }
        self.end_leaf();
        let kind = CodeBlockKind::Fenced(CowStr::from(language));
        self.push(Event::Start(Tag::CodeBlock(kind)));
        self.push(Event::Text(CowStr::from(code)));
        self.push(Event::End(TagEnd::CodeBlock));
        self.fresh = true;
    }

    fn start(&mut self, tag: &StartTag<()>) {
        let name: &[u8] = &tag.name;
        if self.html.len() >= MAX_OPEN && !is_void(name) && !is_hidden(name) {
            self.too_deep += 1;
            self.space = self.space || !self.fresh;
            return;
        }
        if is_hidden(name) {
            self.mode = Mode::Hidden {
                name: name.to_vec(),
                nested: 0,
            };
            return;
        }
        if self.table.is_some() && self.table_start(name) {
            return;
        }
        match name {
            b"br" => self.br(),
            b"hr" => {
                self.end_leaf();
                self.push(Event::Rule);
                self.fresh = true;
            }
            b"img" => self.image(tag),
            b"code" => self.mode = Mode::Code(String::new()),
            b"pre" => {
                self.mode = Mode::Pre {
                    text: String::new(),
                    language: String::new(),
                    started: false,
                }
            }
            b"table" => self.open_table(),
            b"p" => self.block(name, Tag::Paragraph),
            b"blockquote" => self.block(name, Tag::BlockQuote(None)),
            b"ul" | b"ol" => self.list(tag),
            b"li" => self.item(),
            b"b" | b"strong" => self.span(name, Tag::Strong, TagEnd::Strong),
            b"i" | b"em" => self.span(name, Tag::Emphasis, TagEnd::Emphasis),
            b"s" | b"strike" | b"del" => self.span(name, Tag::Strikethrough, TagEnd::Strikethrough),
            b"a" => self.link(tag),
            _ if is_void(name) => {}
            _ => match heading(name) {
                Some(level) => self.block(
                    name,
                    Tag::Heading {
                        level,
                        id: None,
                        classes: Vec::new(),
                        attrs: Vec::new(),
                    },
                ),
                None if is_section(name) => {
                    self.end_leaf();
                    self.element(name, Shape::Section);
                }
                None => self.element(name, Shape::Transparent),
            },
        }
    }

    /// A start tag inside the table; false when it is not about the table.
    fn table_start(&mut self, name: &[u8]) -> bool {
        match name {
            b"table" => self.inner_tables += 1,
            b"tr" | b"td" | b"th" if self.inner_tables > 0 => self.space = true,
            b"tr" => {
                self.close_cell();
                if let Some(t) = self.table.as_mut() {
                    t.start_row();
                }
            }
            b"td" | b"th" => {
                self.close_cell();
                self.open_cell();
                self.element(name, Shape::Cell);
            }
            // Blocks inside a cell are its words: a Markdown cell holds one line.
            _ if matches!(
                name,
                b"br" | b"hr" | b"p" | b"ul" | b"ol" | b"li" | b"blockquote"
            ) || heading(name).is_some()
                || is_section(name) =>
            {
                self.space = true;
                self.element(name, Shape::Transparent);
            }
            _ => return false,
        }
        true
    }

    fn element(&mut self, name: &[u8], shape: Shape) {
        if !is_void(name) {
            self.html.push(Element {
                name: name.to_vec(),
                shape,
            });
        }
    }

    fn end(&mut self, name: &[u8]) {
        if self.too_deep > 0 {
            self.too_deep -= 1;
            return;
        }
        if self.table.is_some() && self.inner_tables > 0 && name == b"table" {
            self.inner_tables -= 1;
            return;
        }
        let Some(at) = self.html.iter().rposition(|e| e.name == name) else {
            return;
        };
        // The end of a span does not end a block opened inside it (`<b><ol>…</b>`), as
        // a browser ignores it there.
        if !is_block(name) && self.html[at + 1..].iter().any(|e| is_block(&e.name)) {
            return;
        }
        for element in self.html.split_off(at).into_iter().rev() {
            match element.shape {
                Shape::Tagged(depth) => self.close_to(depth),
                Shape::Section => {
                    self.end_leaf();
                }
                Shape::Transparent => {}
                Shape::Cell => self.close_cell(),
                Shape::Table => self.close_table(),
            }
        }
    }

    fn finish(mut self) -> Vec<Ev> {
        match std::mem::take(&mut self.mode) {
            Mode::Code(text) => self.inline_code(&text),
            Mode::Pre { text, language, .. } => self.code_block(text, language),
            Mode::Flow | Mode::Hidden { .. } => {}
        }
        self.close_table();
        self.close_to(0);
        self.out
    }
}
