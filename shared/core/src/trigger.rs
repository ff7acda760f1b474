//! Triggers and their small filter language.
//!
//! ```text
//! expr  := and ("OR" and)*
//! and   := unary ("AND" unary)*
//! unary := "NOT" unary | "(" expr ")" | cond
//! cond  := field ("=" | "!=" | "~" | "!~") value
//!        | field ["NOT"] "IN" "(" value ("," value)* ")"
//! field := project | key | summary | description | status | priority | labels
//!        | assignee | reporter | cf.NAME
//! value := "quoted string" | bare-word | EMPTY
//! ```
//! Keywords and values compare case-insensitively; `~` means "contains".
//! For `labels`, `=` means "has the label" and `!=` "has not".
//! Parentheses and NOTs nest at most [`MAX_NESTING`] deep and a filter has at most
//! [`MAX_CONDITIONS`] conditions: parsing, matching and dropping a filter recurse over
//! its tree, so a deeper one would overflow the stack instead of being refused.

use crate::CoreError;
use crate::item::Item;
use serde::{Deserialize, Serialize};

/// A trigger brings items matching its query under sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub id: String,
    pub query: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl Trigger {
    pub fn filter(&self) -> Result<Filter, CoreError> {
        Filter::parse(&self.query)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Contains,
    NotContains,
}

/// A parsed filter, ready to match items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Cond {
        field: String,
        op: Op,
        value: Option<String>,
    },
    In {
        field: String,
        values: Vec<String>,
        negated: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Op(Op),
    LParen,
    RParen,
    Comma,
}

fn lex(input: &str) -> Result<Vec<(usize, Tok)>, CoreError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |column: usize, message: &str| CoreError::Filter {
        column,
        message: message.to_string(),
    };
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((col, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((col, Tok::RParen));
                i += 1;
            }
            ',' => {
                out.push((col, Tok::Comma));
                i += 1;
            }
            '=' => {
                out.push((col, Tok::Op(Op::Eq)));
                i += 1;
            }
            '~' => {
                out.push((col, Tok::Op(Op::Contains)));
                i += 1;
            }
            '!' => match chars.get(i + 1) {
                Some('=') => {
                    out.push((col, Tok::Op(Op::Ne)));
                    i += 2;
                }
                Some('~') => {
                    out.push((col, Tok::Op(Op::NotContains)));
                    i += 2;
                }
                _ => return Err(err(col, "expected != or !~")),
            },
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(col, "unterminated string")),
                        Some('\\') if chars.get(i + 1).is_some() => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&ch) if ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((col, Tok::Quoted(s)));
            }
            c if c.is_alphanumeric() || "_-.:@/#".contains(c) => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || "_-.:@/#".contains(chars[i]))
                {
                    i += 1;
                }
                out.push((col, Tok::Word(chars[start..i].iter().collect())));
            }
            other => return Err(err(col, &format!("unexpected character {other:?}"))),
        }
    }
    Ok(out)
}

/// How deep parentheses and NOTs may nest; real filters use a handful.
pub const MAX_NESTING: usize = 32;

/// How many conditions a filter may have; each AND and OR deepens the tree by one.
pub const MAX_CONDITIONS: usize = 256;

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    /// Parentheses and NOTs open at the current token.
    depth: usize,
    conditions: usize,
}

const FIELDS: &[&str] = &[
    "project",
    "key",
    "summary",
    "description",
    "status",
    "priority",
    "labels",
    "assignee",
    "reporter",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn column(&self) -> usize {
        self.toks.get(self.pos).map(|(c, _)| *c).unwrap_or(self.end)
    }
    fn err(&self, message: impl Into<String>) -> CoreError {
        CoreError::Filter {
            column: self.column(),
            message: message.into(),
        }
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn expr(&mut self) -> Result<Filter, CoreError> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Filter, CoreError> {
        let mut left = self.unary()?;
        while self.keyword("AND") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Filter, CoreError> {
        if self.keyword("NOT") {
            let inner = self.nested(Self::unary)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Tok::LParen) {
            let inner = self.nested(Self::expr)?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(self.err("expected )"));
            }
            self.pos += 1;
            return Ok(inner);
        }
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(self.err(format!("too many conditions (at most {MAX_CONDITIONS})")));
        }
        self.cond()
    }

    /// Parses what follows the current `(` or NOT one level deeper, refusing a filter
    /// nested beyond [`MAX_NESTING`] (at that token) before the recursion could exhaust
    /// the stack.
    fn nested(
        &mut self,
        parse: fn(&mut Self) -> Result<Filter, CoreError>,
    ) -> Result<Filter, CoreError> {
        if self.depth >= MAX_NESTING {
            return Err(self.err(format!(
                "parentheses and NOTs nest too deep (at most {MAX_NESTING} levels)"
            )));
        }
        self.pos += 1;
        self.depth += 1;
        let inner = parse(self);
        self.depth -= 1;
        inner
    }
    fn value(&mut self) -> Result<Option<String>, CoreError> {
        let v = match self.peek() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("EMPTY") => None,
            Some(Tok::Word(w)) | Some(Tok::Quoted(w)) => Some(w.clone()),
            _ => return Err(self.err("expected a value")),
        };
        self.pos += 1;
        Ok(v)
    }
    fn cond(&mut self) -> Result<Filter, CoreError> {
        let field = match self.peek() {
            Some(Tok::Word(w)) => w.to_ascii_lowercase(),
            _ => return Err(self.err("expected a field name")),
        };
        let known =
            FIELDS.contains(&field.as_str()) || (field.starts_with("cf.") && field.len() > 3);
        if !known {
            return Err(self.err(format!(
                "unknown field {field:?} (known: {}, cf.NAME)",
                FIELDS.join(", ")
            )));
        }
        self.pos += 1;
        let negated = self.keyword("NOT");
        if negated {
            self.pos += 1;
        }
        if self.keyword("IN") {
            self.pos += 1;
            if self.peek() != Some(&Tok::LParen) {
                return Err(self.err("expected ( after IN"));
            }
            self.pos += 1;
            let mut values = Vec::new();
            loop {
                values.push(self.value()?.unwrap_or_default());
                match self.peek() {
                    Some(Tok::Comma) => self.pos += 1,
                    Some(Tok::RParen) => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected , or )")),
                }
            }
            return Ok(Filter::In {
                field,
                values,
                negated,
            });
        }
        if negated {
            return Err(self.err("expected IN after NOT"));
        }
        let op = match self.peek() {
            Some(Tok::Op(op)) => *op,
            _ => return Err(self.err("expected =, !=, ~, !~ or IN")),
        };
        self.pos += 1;
        let value = self.value()?;
        Ok(Filter::Cond { field, op, value })
    }
}

/// The values a field has on an item; several for labels.
pub(crate) fn field_values(item: &Item, field: &str) -> Vec<String> {
    let one = |s: &str| {
        if s.is_empty() {
            vec![]
        } else {
            vec![s.to_string()]
        }
    };
    match field {
        "project" => one(&item.project),
        "key" => one(&item.key),
        "summary" => one(&item.summary),
        "description" => one(&item.description),
        "status" => one(item.status_name().unwrap_or_default()),
        "priority" => one(item.priority_name().unwrap_or_default()),
        "labels" => item.labels.clone(),
        "assignee" => item
            .assignee
            .as_ref()
            .map(|u| vec![u.email.clone(), u.display_name.clone()])
            .unwrap_or_default(),
        "reporter" => item
            .reporter
            .as_ref()
            .map(|u| vec![u.email.clone(), u.display_name.clone()])
            .unwrap_or_default(),
        custom => {
            let name = custom.trim_start_matches("cf.");
            match item
                .custom_fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
            {
                None | Some(serde_json::Value::Null) => vec![],
                Some(serde_json::Value::String(s)) => one(s),
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect(),
                Some(other) => vec![other.to_string()],
            }
        }
    }
}

impl Filter {
    pub fn parse(input: &str) -> Result<Filter, CoreError> {
        let toks = lex(input)?;
        if toks.is_empty() {
            return Err(CoreError::Filter {
                column: 1,
                message: "empty filter".into(),
            });
        }
        let mut p = Parser {
            toks,
            pos: 0,
            end: input.chars().count() + 1,
            depth: 0,
            conditions: 0,
        };
        let f = p.expr()?;
        if p.pos != p.toks.len() {
            return Err(p.err("expected AND, OR or the end of the filter"));
        }
        Ok(f)
    }

    /// Whether the filter looks at `field` anywhere.
    pub fn names(&self, field: &str) -> bool {
        match self {
            Filter::And(a, b) | Filter::Or(a, b) => a.names(field) || b.names(field),
            Filter::Not(a) => a.names(field),
            Filter::In { field: f, .. } | Filter::Cond { field: f, .. } => {
                f.eq_ignore_ascii_case(field)
            }
        }
    }

    pub fn matches(&self, item: &Item) -> bool {
        match self {
            Filter::And(a, b) => a.matches(item) && b.matches(item),
            Filter::Or(a, b) => a.matches(item) || b.matches(item),
            Filter::Not(a) => !a.matches(item),
            Filter::In {
                field,
                values,
                negated,
            } => {
                let have = field_values(item, field);
                let hit = have
                    .iter()
                    .any(|h| values.iter().any(|v| h.eq_ignore_ascii_case(v)));
                hit != *negated
            }
            Filter::Cond { field, op, value } => {
                let have = field_values(item, field);
                let Some(value) = value else {
                    // EMPTY: "= EMPTY" holds when the field has no value.
                    return match op {
                        Op::Eq | Op::NotContains => have.is_empty(),
                        Op::Ne | Op::Contains => !have.is_empty(),
                    };
                };
                let lower = value.to_lowercase();
                match op {
                    Op::Eq => have.iter().any(|h| h.eq_ignore_ascii_case(value)),
                    Op::Ne => !have.iter().any(|h| h.eq_ignore_ascii_case(value)),
                    Op::Contains => have.iter().any(|h| h.to_lowercase().contains(&lower)),
                    Op::NotContains => !have.iter().any(|h| h.to_lowercase().contains(&lower)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_filter_says_which_fields_it_names() {
        let table = [
            ("summary ~ \"[sync]\"", "summary", true),
            ("summary ~ \"[sync]\"", "description", false),
            (
                "labels = sync AND NOT (description ~ x OR status = Done)",
                "description",
                true,
            ),
            ("labels IN (a, b)", "labels", true),
            ("status NOT IN (Done)", "status", true),
            ("status NOT IN (Done)", "summary", false),
        ];
        for (query, field, want) in table {
            let f = super::Filter::parse(query).unwrap();
            assert_eq!(f.names(field), want, "{query} {field}");
        }
    }

    use super::*;
    use crate::item::{Named, User};

    fn item() -> Item {
        Item {
            key: "DEMO-7".into(),
            project: "DEMO".into(),
            summary: "Login page crashes".into(),
            status: Some(Named::new("Open")),
            priority: Some(Named::new("High")),
            labels: vec!["sync".into(), "ui".into()],
            assignee: Some(User {
                email: "ana@example.com".into(),
                display_name: "Ana".into(),
            }),
            custom_fields: [("Team".to_string(), serde_json::json!("Red"))].into(),
            ..Item::default()
        }
    }

    #[test]
    fn matching_table() {
        let at_the_limits = format!(
            "{}labels = sync{} AND {}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING),
            vec!["NOT labels = x"; MAX_CONDITIONS - 1].join(" AND ")
        );
        let table = [
            (at_the_limits.as_str(), true),
            ("project = DEMO AND labels = sync", true),
            ("project = demo and labels = SYNC", true),
            ("project = DEMO AND labels = other", false),
            ("labels != other", true),
            ("labels != sync", false),
            ("status IN (Open, \"In Progress\")", true),
            ("status NOT IN (Open)", false),
            ("summary ~ crash", true),
            ("summary !~ crash", false),
            ("NOT priority = Low", true),
            ("priority = Low OR (labels = ui AND status = Open)", true),
            ("assignee = ana@example.com", true),
            ("reporter = EMPTY", true),
            ("assignee != EMPTY", true),
            ("cf.team = red", true),
            ("cf.missing = EMPTY", true),
            ("key = DEMO-7", true),
        ];
        let it = item();
        for (q, want) in table {
            let f = Filter::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(f.matches(&it), want, "{q}");
        }
    }

    #[test]
    fn errors_name_the_column() {
        let deep = format!(
            "{}labels = sync{}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let not_deep = format!("{}labels = sync", "NOT ".repeat(100_000));
        let too_long = vec!["labels = sync"; 300].join(" OR ");
        let table: [(&str, usize, &str); 11] = [
            ("", 1, "empty filter"),
            ("project =", 10, "expected a value"),
            ("colour = red", 1, "unknown field"),
            ("project = DEMO AND", 19, "expected a field name"),
            ("(project = DEMO", 16, "expected )"),
            ("project = \"DEMO", 11, "unterminated string"),
            ("project = DEMO labels = x", 16, "expected AND, OR"),
            ("status ! Open", 8, "expected != or !~"),
            // Nesting past the limit is refused at the first token too deep.
            (&deep, 33, "nest too deep (at most 32 levels)"),
            (&not_deep, 129, "nest too deep (at most 32 levels)"),
            (&too_long, 4_353, "too many conditions (at most 256)"),
        ];
        for (q, column, msg) in table {
            match Filter::parse(q) {
                Err(CoreError::Filter { column: c, message }) => {
                    assert_eq!(c, column, "{q}: {message}");
                    assert!(message.contains(msg), "{q}: {message}");
                }
                other => panic!("{q}: expected an error, got {other:?}"),
            }
        }
    }
}
