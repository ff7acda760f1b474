//! An HTML table as a Markdown table: rows of cells, each cell the inline events the
//! walker gave for it. Markdown tables need a header and equal rows, so the first row is
//! the header and short rows get empty cells.

use pulldown_cmark::{Alignment, Event, Tag, TagEnd};

type Ev = Event<'static>;

pub(crate) struct Table {
    rows: Vec<Vec<Vec<Ev>>>,
    /// The open cell: where its events start in the walker's output, and how deep the
    /// walker's Markdown stack was before it.
    cell: Option<(usize, usize)>,
    /// How deep the walker's Markdown stack was before the table.
    depth: usize,
}

impl Table {
    pub(crate) fn new(depth: usize) -> Self {
        Table {
            rows: Vec::new(),
            cell: None,
            depth,
        }
    }

    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    pub(crate) fn in_cell(&self) -> bool {
        self.cell.is_some()
    }

    pub(crate) fn open_cell_at(&self) -> Option<(usize, usize)> {
        self.cell
    }

    pub(crate) fn start_row(&mut self) {
        self.rows.push(Vec::new());
    }

    pub(crate) fn open_cell(&mut self, start: usize, depth: usize) {
        if self.rows.is_empty() {
            self.start_row();
        }
        self.cell = Some((start, depth));
    }

    pub(crate) fn close_cell(&mut self, events: Vec<Ev>) {
        self.cell = None;
        if let Some(row) = self.rows.last_mut() {
            row.push(events);
        }
    }

    /// The table's events; none for a table without cells.
    pub(crate) fn events(self) -> Vec<Ev> {
        let rows: Vec<_> = self.rows.into_iter().filter(|r| !r.is_empty()).collect();
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        if columns == 0 {
            return Vec::new();
        }
        let mut out = vec![Event::Start(Tag::Table(vec![Alignment::None; columns]))];
        for (i, mut row) in rows.into_iter().enumerate() {
            row.resize_with(columns, Vec::new);
            let (start, end) = match i {
                0 => (Tag::TableHead, TagEnd::TableHead),
                _ => (Tag::TableRow, TagEnd::TableRow),
            };
            out.push(Event::Start(start));
            for cell in row {
                out.push(Event::Start(Tag::TableCell));
                out.extend(cell);
                out.push(Event::End(TagEnd::TableCell));
            }
            out.push(Event::End(end));
        }
        out.push(Event::End(TagEnd::Table));
        out
    }
}
