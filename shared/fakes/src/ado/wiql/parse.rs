//! The WIQL parser of the fake: tokens, then a recursive descent over conditions. Field
//! names resolve to reference names (a few friendly names too); an unknown field is
//! Azure DevOps' TF51005.

/// A parsed query.
#[derive(Debug)]
pub(super) struct Query {
    pub(super) columns: Vec<String>,
    pub(super) filter: Option<Cond>,
    /// (field, descending)
    pub(super) order: Vec<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Literal {
    Text(String),
    Num(f64),
    Macro(String),
}

#[derive(Debug)]
pub(super) enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Compare {
        field: String,
        op: String,
        values: Vec<Literal>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(String),
    Word(String),
    Text(String),
    Num(f64),
    Macro(String),
    Op(String),
    Open,
    Close,
    Comma,
}

/// The reference names the fake knows, and the friendly names it takes for them.
const FIELDS: [(&str, &str); 16] = [
    ("System.Id", "id"),
    ("System.Rev", "rev"),
    ("System.Title", "title"),
    ("System.State", "state"),
    ("System.Tags", "tags"),
    ("System.TeamProject", "team project"),
    ("System.WorkItemType", "work item type"),
    ("System.ChangedDate", "changed date"),
    ("System.CreatedDate", "created date"),
    ("System.AssignedTo", "assigned to"),
    ("System.CreatedBy", "created by"),
    ("System.ChangedBy", "changed by"),
    ("System.AreaPath", "area path"),
    ("System.IterationPath", "iteration path"),
    ("System.Description", "description"),
    ("Microsoft.VSTS.Common.Priority", "priority"),
];

fn field(name: &str) -> Result<String, String> {
    let n = name.trim();
    if n.to_lowercase().starts_with("custom.") {
        return Ok(n.to_string());
    }
    FIELDS
        .iter()
        .find(|(r, f)| r.eq_ignore_ascii_case(n) || f.eq_ignore_ascii_case(n))
        .map(|(r, _)| r.to_string())
        .ok_or_else(|| format!("TF51005: The query references a field that does not exist. The error is caused by «{n}»."))
}

fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&x| x == ']')
                    .ok_or("TF51002: The query expects a ']'.")?;
                out.push(Tok::Field(chars[i + 1..i + end].iter().collect()));
                i += end + 1;
            }
            '\'' | '"' => {
                let quote = c;
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("TF51003: The query has an unterminated string.".into()),
                        Some(&x) if x == quote && chars.get(i + 1) == Some(&quote) => {
                            text.push(quote);
                            i += 2;
                        }
                        Some(&x) if x == quote => {
                            i += 1;
                            break;
                        }
                        Some(&x) => {
                            text.push(x);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Text(text));
            }
            '=' => {
                out.push(Tok::Op("=".into()));
                i += 1;
            }
            '<' | '>' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if ["<>", ">=", "<="].contains(&two.as_str()) {
                    two
                } else {
                    c.to_string()
                };
                i += op.len();
                out.push(Tok::Op(op));
            }
            '@' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let mut name: String = chars[start..i].iter().collect::<String>().to_lowercase();
                // `@today - 1`
                let rest: String = chars[i..].iter().collect();
                let trimmed = rest.trim_start();
                if name == "@today" && (trimmed.starts_with('-') || trimmed.starts_with('+')) {
                    let skip = rest.len() - trimmed.len();
                    let digits: String = trimmed[1..]
                        .trim_start()
                        .chars()
                        .take_while(|d| d.is_ascii_digit())
                        .collect();
                    let gap = trimmed[1..].len() - trimmed[1..].trim_start().len();
                    name.push_str(&format!("{}{digits}", &trimmed[..1]));
                    i += skip + 1 + gap + digits.len();
                }
                out.push(Tok::Macro(name));
            }
            _ if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(Tok::Num(
                    text.parse()
                        .map_err(|_| format!("TF51004: Bad number «{text}»."))?,
                ));
            }
            _ if c.is_alphanumeric() || c == '_' || c == '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_.".contains(chars[i])) {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => {
                return Err(format!(
                    "TF51001: The query has an unexpected character «{other}»."
                ));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.at), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn word(&mut self, w: &str) -> Result<(), String> {
        if self.peek_word(w) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("TF51006: Expecting {w} at position {}.", self.at))
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn field(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Field(f)) | Some(Tok::Word(f)) => field(&f),
            other => Err(format!("TF51006: Expecting a field name, found {other:?}.")),
        }
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Tok::Text(t)) => Ok(Literal::Text(t)),
            Some(Tok::Num(n)) => Ok(Literal::Num(n)),
            Some(Tok::Macro(m)) => Ok(Literal::Macro(m)),
            other => Err(format!("TF51006: Expecting a value, found {other:?}.")),
        }
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while self.peek_word("OR") {
            self.at += 1;
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.unary()?;
        while self.peek_word("AND") {
            self.at += 1;
            left = Cond::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Cond, String> {
        if self.peek_word("NOT") {
            self.at += 1;
            return Ok(Cond::Not(Box::new(self.unary()?)));
        }
        if self.toks.get(self.at) == Some(&Tok::Open) {
            self.at += 1;
            let inner = self.or()?;
            if self.next() != Some(Tok::Close) {
                return Err("TF51002: The query expects a ')'.".into());
            }
            return Ok(inner);
        }
        let field = self.field()?;
        let negate = self.peek_word("NOT");
        if negate {
            self.at += 1;
        }
        let (op, values) = match self.next() {
            Some(Tok::Op(op)) if !negate => (op, vec![self.literal()?]),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("CONTAINS") => {
                ("CONTAINS".into(), vec![self.literal()?])
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IN") => {
                if self.next() != Some(Tok::Open) {
                    return Err("TF51002: IN expects a '('.".into());
                }
                let mut values = vec![self.literal()?];
                while self.toks.get(self.at) == Some(&Tok::Comma) {
                    self.at += 1;
                    values.push(self.literal()?);
                }
                if self.next() != Some(Tok::Close) {
                    return Err("TF51002: The query expects a ')'.".into());
                }
                ("IN".into(), values)
            }
            other => {
                return Err(format!(
                    "TF51006: Expecting a comparison operator, found {other:?}."
                ));
            }
        };
        let cond = Cond::Compare { field, op, values };
        Ok(if negate {
            Cond::Not(Box::new(cond))
        } else {
            cond
        })
    }
}

pub(super) fn parse(text: &str) -> Result<Query, String> {
    let mut p = Parser {
        toks: tokens(text)?,
        at: 0,
    };
    p.word("SELECT")?;
    let mut columns = vec![p.field()?];
    while p.toks.get(p.at) == Some(&Tok::Comma) {
        p.at += 1;
        columns.push(p.field()?);
    }
    p.word("FROM")?;
    match p.next() {
        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("WorkItems") => {}
        other => {
            return Err(format!(
                "TF51006: Only FROM WorkItems is supported here, found {other:?}."
            ));
        }
    }
    let filter = if p.peek_word("WHERE") {
        p.at += 1;
        Some(p.or()?)
    } else {
        None
    };
    let mut order = Vec::new();
    if p.peek_word("ORDER") {
        p.at += 1;
        p.word("BY")?;
        loop {
            let f = p.field()?;
            let descending = if p.peek_word("DESC") {
                p.at += 1;
                true
            } else {
                if p.peek_word("ASC") {
                    p.at += 1;
                }
                false
            };
            order.push((f, descending));
            if p.toks.get(p.at) == Some(&Tok::Comma) {
                p.at += 1;
            } else {
                break;
            }
        }
    }
    if p.at < p.toks.len() {
        return Err(format!(
            "TF51006: Unexpected text at the end of the query: {:?}.",
            &p.toks[p.at..]
        ));
    }
    Ok(Query {
        columns,
        filter,
        order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_and_bad_ones_are_refused() {
        let q = parse("SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND ([System.Tags] CONTAINS 'sync' OR [System.State] IN ('New', 'Active')) AND [System.ChangedDate] >= '2026-01-01T00:00:00.000Z' ORDER BY [System.ChangedDate] ASC, [System.Id]").unwrap();
        assert_eq!(
            q.order,
            vec![
                ("System.ChangedDate".into(), false),
                ("System.Id".into(), false)
            ]
        );
        assert!(q.filter.is_some());
        for (bad, says) in [
            (
                "SELECT [System.Id] FROM WorkItems WHERE [System.Nope] = 1",
                "TF51005",
            ),
            (
                "SELECT [System.Id] FROM WorkItems WHERE [System.Title] = 'x",
                "unterminated",
            ),
            ("SELECT [System.Id] FROM WorkItemLinks", "FROM WorkItems"),
            (
                "SELECT [System.Id] FROM WorkItems WHERE [System.Title] LIKE 'x'",
                "operator",
            ),
        ] {
            let err = parse(bad).err().unwrap_or_default();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
