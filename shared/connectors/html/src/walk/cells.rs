//! Tables: the walker's part of them.

use super::{Shape, Walker};
use crate::table::Table;
use pulldown_cmark::TagEnd;

/// Tables: each cell's events are taken from the output as it closes, and the table is
/// written whole at its end, its first row as the header Markdown requires.
impl Walker {
    pub(super) fn open_table(&mut self) {
        self.end_leaf();
        self.table = Some(Table::new(self.md.len()));
        self.element(b"table", Shape::Table);
    }

    pub(super) fn open_cell(&mut self) {
        self.flush();
        let start = self.out.len();
        if let Some(t) = self.table.as_mut() {
            t.open_cell(start, self.md.len());
        }
        self.md.push(TagEnd::TableCell);
        self.new_block();
    }

    pub(super) fn close_cell(&mut self) {
        let Some((start, depth)) = self.table.as_ref().and_then(Table::open_cell_at) else {
            return;
        };
        self.close_to(depth + 1);
        self.md.truncate(depth);
        self.flush();
        let events = self.out.split_off(start.min(self.out.len()));
        if let Some(t) = self.table.as_mut() {
            t.close_cell(events);
        }
    }

    pub(super) fn close_table(&mut self) {
        self.close_cell();
        if let Some(table) = self.table.take() {
            self.close_to(table.depth());
            let events = table.events();
            // A table with no cells leaves the words around it as they were.
            if !events.is_empty() {
                self.out.extend(events);
                self.new_block();
            }
        }
        self.inner_tables = 0;
    }
}
