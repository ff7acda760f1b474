//! Blocks, spans and words: the Markdown stack kept nested whatever the HTML does.

use super::names::{attribute, is_inline, is_span, takes_inline};
use super::{Ev, Shape, Walker};
use crate::table::Table;
use html5gum::StartTag;
use pulldown_cmark::{CowStr, Event, LinkType, Tag, TagEnd};

/// Blocks, spans and text.
impl Walker {
    /// Writes the text gathered so far as one event.
    pub(super) fn flush(&mut self) {
        if !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            self.out.push(Event::Text(CowStr::from(text)));
        }
    }

    pub(super) fn push(&mut self, event: Ev) {
        self.flush();
        self.out.push(event);
    }

    /// Opens a Markdown tag; returns the stack's length before it.
    pub(super) fn open(&mut self, tag: Tag<'static>) -> usize {
        let depth = self.md.len();
        let end = tag.to_end();
        self.push(Event::Start(tag));
        self.md.push(end);
        self.new_block();
        depth
    }

    /// A block begins: nothing inline in it yet, and no space or break owed.
    pub(super) fn new_block(&mut self) {
        self.fresh = true;
        self.space = false;
        self.line_break = false;
    }

    pub(super) fn close_to(&mut self, depth: usize) {
        // An element whose tag this closes (an item an item ended, a span a block
        // ended) is its content only from now on: its end tag must not close what
        // opens later at the same depth.
        for element in &mut self.html {
            if matches!(element.shape, Shape::Tagged(d) if d >= depth) {
                element.shape = Shape::Transparent;
            }
        }
        while self.md.len() > depth {
            // A cell's events are the table's to write; closing it truncates the stack
            // to where the cell began.
            if self.md.last() == Some(&TagEnd::TableCell)
                && self.table.as_ref().is_some_and(Table::in_cell)
            {
                self.close_cell();
                continue;
            }
            match self.md.pop() {
                Some(TagEnd::TableCell) | None => {}
                Some(end) => self.close_one(end),
            }
        }
    }

    pub(super) fn close_one(&mut self, end: TagEnd) {
        self.flush();
        // An element with nothing in it (`<b></b>`, `<ul></ul>`) is left out rather than
        // written as `****` or an empty list.
        let empty = matches!(self.out.last(), Some(Event::Start(tag)) if tag.to_end() == end);
        if empty {
            self.out.pop();
            if is_span(&end) {
                self.owe_trailing_space();
            } else if self.out.last().is_some_and(is_inline) {
                // An empty block after an item's words still ends their line.
                self.line_break = true;
                self.fresh = false;
            }
            return;
        }
        self.out.push(Event::End(end));
        if is_span(&end) {
            self.fresh = false;
        }
    }

    /// The space written before a span that turned out empty is owed again, so a
    /// block's end drops it as it drops any other.
    pub(super) fn owe_trailing_space(&mut self) {
        if let Some(Event::Text(t)) = self.out.last()
            && let Some(kept) = t.strip_suffix(' ')
        {
            let kept = kept.to_string();
            self.out.pop();
            if !kept.is_empty() {
                self.out.push(Event::Text(CowStr::from(kept)));
            }
            self.space = true;
        }
        self.fresh = !self.out.last().is_some_and(is_inline);
    }

    /// Ends the paragraph or heading open (and the spans in it), before a block or at a
    /// section's edge. In an item that holds its words directly (`<li>a<div>b</div>`),
    /// the words go on after a line break; true then.
    pub(super) fn end_leaf(&mut self) -> bool {
        let keep = self
            .md
            .iter()
            .rposition(|e| !(is_span(e) || matches!(e, TagEnd::Paragraph | TagEnd::Heading(_))))
            .map_or(0, |at| at + 1);
        self.close_to(keep);
        self.flush();
        let words_in_item =
            matches!(self.md.last(), Some(TagEnd::Item)) && self.out.last().is_some_and(is_inline);
        self.space = false;
        self.line_break = words_in_item;
        self.fresh = !words_in_item;
        words_in_item
    }

    pub(super) fn block(&mut self, name: &[u8], tag: Tag<'static>) {
        // A paragraph after an item's own words cannot be told apart from them in
        // Markdown; it is a new line of the item.
        if self.end_leaf() && tag == Tag::Paragraph {
            self.element(name, Shape::Section);
            return;
        }
        let depth = self.open(tag);
        self.element(name, Shape::Tagged(depth));
    }

    pub(super) fn list(&mut self, tag: &StartTag<()>) {
        self.end_leaf();
        // A list right inside a list belongs to an item.
        if matches!(self.md.last(), Some(TagEnd::List(_))) {
            self.open(Tag::Item);
        }
        let start = match tag.name.as_slice() {
            b"ol" => Some(attribute(tag, "start").trim().parse().unwrap_or(1)),
            _ => None,
        };
        let depth = self.open(Tag::List(start));
        self.element(&tag.name, Shape::Tagged(depth));
    }

    /// An item ends the item open in the same list (HTML lets `</li>` be left out).
    pub(super) fn item(&mut self) {
        self.end_leaf();
        match self.md.iter().rposition(|e| matches!(e, TagEnd::List(_))) {
            Some(list) => self.close_to(list + 1),
            None => {
                self.open(Tag::List(None));
            }
        }
        let depth = self.open(Tag::Item);
        self.element(b"li", Shape::Tagged(depth));
    }

    pub(super) fn span(&mut self, name: &[u8], tag: Tag<'static>, end: TagEnd) {
        // Markdown has no bold inside bold: the inner one is its text.
        if self.md.contains(&end) {
            self.element(name, Shape::Transparent);
            return;
        }
        self.before_inline();
        let depth = self.open(tag);
        self.element(name, Shape::Tagged(depth));
    }

    pub(super) fn link(&mut self, tag: &StartTag<()>) {
        let href = attribute(tag, "href");
        if href.trim().is_empty() {
            self.element(b"a", Shape::Transparent);
            return;
        }
        let link = Tag::Link {
            link_type: LinkType::Inline,
            dest_url: CowStr::from(href.trim().to_string()),
            title: CowStr::from(attribute(tag, "title")),
            id: CowStr::from(""),
        };
        self.span(b"a", link, TagEnd::Link);
    }

    pub(super) fn image(&mut self, tag: &StartTag<()>) {
        let src = attribute(tag, "src");
        if src.trim().is_empty() {
            return;
        }
        self.before_inline();
        self.push(Event::Start(Tag::Image {
            link_type: LinkType::Inline,
            dest_url: CowStr::from(src.trim().to_string()),
            title: CowStr::from(attribute(tag, "title")),
            id: CowStr::from(""),
        }));
        let alt = attribute(tag, "alt");
        if !alt.is_empty() {
            self.push(Event::Text(CowStr::from(alt)));
        }
        self.push(Event::End(TagEnd::Image));
        self.fresh = false;
    }

    pub(super) fn br(&mut self) {
        if self.fresh {
            return;
        }
        // Two breaks in a row are the end of a paragraph, as an editor's empty line is.
        if self.line_break && matches!(self.md.last(), Some(TagEnd::Paragraph)) {
            self.end_leaf();
            return;
        }
        self.line_break = true;
        self.space = false;
    }

    /// Makes inline content possible here: a paragraph, an item or a cell is opened when
    /// none is, and the owed break or space comes first.
    pub(super) fn before_inline(&mut self) {
        if self.table.as_ref().is_some_and(|t| !t.in_cell()) {
            self.open_cell();
        }
        match self.md.last() {
            Some(end) if takes_inline(end) => {}
            Some(TagEnd::List(_)) => {
                self.open(Tag::Item);
            }
            _ => {
                self.open(Tag::Paragraph);
            }
        }
        if self.line_break && !self.fresh {
            self.push(Event::HardBreak);
            self.space = false;
        } else if self.space && !self.fresh {
            self.text.push(' ');
        }
        self.line_break = false;
        self.space = false;
    }

    /// Text as a browser shows it: runs of white space are one space, none at the start
    /// or end of a block.
    pub(super) fn words(&mut self, text: &str) {
        let mut rest = text;
        while !rest.is_empty() {
            let word_at = rest
                .find(|c: char| !c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            if word_at > 0 {
                if self.fresh {
                    self.space_before_spans();
                } else {
                    self.space = true;
                }
            }
            rest = &rest[word_at..];
            let word_end = rest
                .find(|c: char| c.is_ascii_whitespace())
                .unwrap_or(rest.len());
            if word_end > 0 {
                self.before_inline();
                self.text.push_str(&rest[..word_end]);
                self.fresh = false;
            }
            rest = &rest[word_end..];
        }
    }
}

impl Walker {
    /// A space at the start of a span (`a<b> b</b>`) belongs before it, where Markdown
    /// lets the span start: `a **b**`, not `a** b**`.
    pub(super) fn space_before_spans(&mut self) {
        let mut at = self.out.len();
        while at > 0 && matches!(&self.out[at - 1], Event::Start(t) if is_span(&t.to_end())) {
            at -= 1;
        }
        let content_before = at > 0
            && match &self.out[at - 1] {
                Event::Text(t) => !t.ends_with(' '),
                Event::HardBreak => false,
                other => is_inline(other),
            };
        if at < self.out.len() && content_before {
            self.out.insert(at, Event::Text(CowStr::from(" ")));
        }
    }
}
