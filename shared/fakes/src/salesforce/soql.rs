//! The fake Salesforce's SOQL: the part of the language twinsync and jsforce use, parsed
//! strictly (an unknown field or an unparsable query is Salesforce's 400
//! `INVALID_FIELD` / `MALFORMED_QUERY`), and evaluated over the fake's records.
//! `SELECT fields FROM object [WHERE cond AND cond …] [ORDER BY f [ASC|DESC], …] [LIMIT n]`
//! with `=`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`, `NOT f LIKE`, `IN`, `NOT IN`, `INCLUDES`,
//! `EXCLUDES`; string, number, boolean, null and date-time literals.

use serde_json::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Lit {
    Text(String),
    Num(f64),
    Bool(bool),
    Null,
    Time(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cond {
    pub field: String,
    pub op: String,
    pub values: Vec<Lit>,
    pub negated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Query {
    pub fields: Vec<String>,
    /// Child relationships asked for with `(SELECT Id, SystemModstamp FROM
    /// CaseComments)`: the relationship and its fields.
    pub children: Vec<(String, Vec<String>)>,
    pub object: String,
    pub conds: Vec<Cond>,
    pub order: Vec<(String, bool)>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Sym(String),
}

fn tokens(q: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err("unterminated string literal".into()),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('r') => s.push('\r'),
                        Some('t') => s.push('\t'),
                        Some(e @ ('\\' | '\'' | '"' | '%' | '_')) => {
                            // `\%` and `\_` stay escaped for LIKE.
                            if e == '%' || e == '_' {
                                s.push('\\');
                            }
                            s.push(e);
                        }
                        other => return Err(format!("invalid escape sequence \\{other:?}")),
                    },
                    Some(c) => s.push(c),
                }
            }
            out.push(Tok::Str(s));
        } else if "(),".contains(c) {
            chars.next();
            out.push(Tok::Sym(c.to_string()));
        } else if "=!<>".contains(c) {
            chars.next();
            let mut op = c.to_string();
            if chars.peek() == Some(&'=') {
                chars.next();
                op.push('=');
            }
            if op == "!" {
                return Err("unexpected '!'".into());
            }
            out.push(Tok::Sym(op));
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || "(),=!<>'".contains(c) {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(Tok::Word(w));
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<Tok>,
    at: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn keyword(&mut self, k: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k)) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn expect_keyword(&mut self, k: &str) -> Result<(), String> {
        if self.keyword(k) {
            Ok(())
        } else {
            Err(format!("expecting '{k}', found {:?}", self.peek()))
        }
    }
    fn sym(&mut self, s: &str) -> bool {
        if self.peek() == Some(&Tok::Sym(s.into())) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn word(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            other => Err(format!("expecting a name, found {other:?}")),
        }
    }
    fn literal(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Text(s)),
            Some(Tok::Word(w)) => {
                let lower = w.to_ascii_lowercase();
                if lower == "null" {
                    Ok(Lit::Null)
                } else if lower == "true" || lower == "false" {
                    Ok(Lit::Bool(lower == "true"))
                } else if let Ok(n) = w.parse::<f64>() {
                    Ok(Lit::Num(n))
                } else if let Some(ms) = time(&w) {
                    Ok(Lit::Time(ms))
                } else {
                    Err(format!("unexpected token: {w}"))
                }
            }
            other => Err(format!("expecting a value, found {other:?}")),
        }
    }
    fn list(&mut self) -> Result<Vec<Lit>, String> {
        if !self.sym("(") {
            return Err("expecting '('".into());
        }
        let mut values = vec![self.literal()?];
        while self.sym(",") {
            values.push(self.literal()?);
        }
        if !self.sym(")") {
            return Err("expecting ')'".into());
        }
        Ok(values)
    }
    fn cond(&mut self) -> Result<Cond, String> {
        if self.sym("(") {
            self.expect_keyword("NOT")?;
            let field = self.word()?;
            self.expect_keyword("LIKE")?;
            let v = self.literal()?;
            if !self.sym(")") {
                return Err("expecting ')'".into());
            }
            return Ok(Cond {
                field,
                op: "LIKE".into(),
                values: vec![v],
                negated: true,
            });
        }
        let field = self.word()?;
        if self.keyword("NOT") {
            self.expect_keyword("IN")?;
            return Ok(Cond {
                field,
                op: "IN".into(),
                values: self.list()?,
                negated: true,
            });
        }
        for k in ["IN", "INCLUDES", "EXCLUDES"] {
            if self.keyword(k) {
                return Ok(Cond {
                    field,
                    op: k.into(),
                    values: self.list()?,
                    negated: false,
                });
            }
        }
        if self.keyword("LIKE") {
            return Ok(Cond {
                field,
                op: "LIKE".into(),
                values: vec![self.literal()?],
                negated: false,
            });
        }
        match self.next() {
            Some(Tok::Sym(op)) if ["=", "!=", "<", "<=", ">", ">="].contains(&op.as_str()) => {
                Ok(Cond {
                    field,
                    op,
                    values: vec![self.literal()?],
                    negated: false,
                })
            }
            other => Err(format!("unexpected token: {other:?}")),
        }
    }
}

/// A SOQL date-time literal (`2026-11-23T10:14:01Z`, `…+01:00`, `….000+0000`) in ms.
pub(super) fn time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z"))
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Parses a query; the error is the `MALFORMED_QUERY` message.
pub(super) fn parse(q: &str) -> Result<Query, String> {
    let mut p = P {
        toks: tokens(q)?,
        at: 0,
    };
    p.expect_keyword("SELECT")?;
    let (mut fields, mut children) = (Vec::new(), Vec::new());
    loop {
        // A parent-to-child subquery: `(SELECT <fields> FROM <relationship>)`.
        if p.sym("(") {
            p.expect_keyword("SELECT")?;
            let mut wanted = vec![p.word()?];
            while p.sym(",") {
                wanted.push(p.word()?);
            }
            p.expect_keyword("FROM")?;
            children.push((p.word()?, wanted));
            if !p.sym(")") {
                return Err("expecting ')'".into());
            }
        } else {
            fields.push(p.word()?);
        }
        if !p.sym(",") {
            break;
        }
    }
    p.expect_keyword("FROM")?;
    let object = p.word()?;
    let mut conds = Vec::new();
    if p.keyword("WHERE") {
        conds.push(p.cond()?);
        while p.keyword("AND") {
            conds.push(p.cond()?);
        }
    }
    let mut order = Vec::new();
    if p.keyword("ORDER") {
        p.expect_keyword("BY")?;
        loop {
            let f = p.word()?;
            let desc = p.keyword("DESC");
            if !desc {
                p.keyword("ASC");
            }
            order.push((f, desc));
            if !p.sym(",") {
                break;
            }
        }
    }
    let limit = if p.keyword("LIMIT") {
        Some(
            p.word()?
                .parse()
                .map_err(|_| "LIMIT must be a number".to_string())?,
        )
    } else {
        None
    };
    if let Some(t) = p.peek() {
        return Err(format!("unexpected token: {t:?}"));
    }
    Ok(Query {
        fields,
        children,
        object,
        conds,
        order,
        limit,
    })
}

/// A value compared with a literal: text without case, date-times and numbers by value.
fn compare(v: &Value, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (Value::Null, Lit::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Lit::Null) => None,
        (Value::String(s), Lit::Time(ms)) => time(s).map(|t| t.cmp(ms)),
        (Value::String(s), Lit::Text(t)) => Some(s.to_lowercase().cmp(&t.to_lowercase())),
        (Value::Number(n), Lit::Num(m)) => n.as_f64().and_then(|n| n.partial_cmp(m)),
        (Value::Bool(b), Lit::Bool(c)) => Some(b.cmp(c)),
        _ => None,
    }
}

fn like(v: &Value, pattern: &str) -> bool {
    let Value::String(s) = v else { return false };
    // `%` any run, `_` one character, `\%` `\_` themselves; without case.
    fn go(s: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('\\', rest)) if !rest.is_empty() => {
                s.first().is_some_and(|c| *c == rest[0]) && go(&s[1..], &rest[1..])
            }
            Some(('%', rest)) => (0..=s.len()).any(|i| go(&s[i..], rest)),
            Some(('_', rest)) => !s.is_empty() && go(&s[1..], rest),
            Some((c, rest)) => s.first().is_some_and(|x| x == c) && go(&s[1..], rest),
        }
    }
    let s: Vec<char> = s.to_lowercase().chars().collect();
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    go(&s, &p)
}

/// Whether a condition holds for `v`, the value of its field.
pub(super) fn holds(cond: &Cond, v: &Value) -> bool {
    let first = cond.values.first().unwrap_or(&Lit::Null);
    let text = |l: &Lit| match l {
        Lit::Text(t) => t.to_lowercase(),
        _ => String::new(),
    };
    let result = match cond.op.as_str() {
        "=" => compare(v, first) == Some(Ordering::Equal),
        "!=" => compare(v, first) != Some(Ordering::Equal),
        "<" => compare(v, first) == Some(Ordering::Less),
        "<=" => matches!(compare(v, first), Some(Ordering::Less | Ordering::Equal)),
        ">" => compare(v, first) == Some(Ordering::Greater),
        ">=" => matches!(compare(v, first), Some(Ordering::Greater | Ordering::Equal)),
        "LIKE" => like(v, &text(first)),
        "IN" => cond
            .values
            .iter()
            .any(|l| compare(v, l) == Some(Ordering::Equal)),
        "INCLUDES" | "EXCLUDES" => {
            let have: Vec<String> = v
                .as_str()
                .unwrap_or("")
                .split(';')
                .map(|s| s.trim().to_lowercase())
                .collect();
            let any = cond.values.iter().any(|l| have.contains(&text(l)));
            if cond.op == "INCLUDES" { any } else { !any }
        }
        _ => false,
    };
    result != cond.negated
}

/// Orders values as ORDER BY does: nulls first ascending, text without case.
pub(super) fn order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::String(x), Value::String(y)) => match (time(x), time(y)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x.to_lowercase().cmp(&y.to_lowercase()),
        },
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_connector_queries_parse_and_evaluate() {
        let sub =
            parse("SELECT Id, (SELECT Id, SystemModstamp FROM CaseComments) FROM Case").unwrap();
        assert_eq!(sub.fields.len(), 1);
        assert_eq!(
            sub.children,
            [(
                "CaseComments".to_string(),
                vec!["Id".to_string(), "SystemModstamp".to_string()]
            )]
        );
        let q = parse("SELECT Id, Owner.Email FROM Case WHERE Status != 'Closed' AND Twinsync_Labels__c INCLUDES ('sync') AND SystemModstamp >= 2026-11-23T10:14:01Z AND (NOT Subject LIKE '%50\\%%') ORDER BY SystemModstamp ASC, Id ASC LIMIT 5").unwrap();
        assert_eq!(q.fields, ["Id", "Owner.Email"]);
        assert_eq!(q.conds.len(), 4);
        assert_eq!(q.limit, Some(5));
        assert!(holds(&q.conds[0], &json!("New")));
        assert!(!holds(&q.conds[0], &json!("closed")));
        assert!(holds(&q.conds[1], &json!("hardware;sync")));
        assert!(holds(&q.conds[2], &json!("2026-11-23T10:14:01.000+0000")));
        assert!(!holds(&q.conds[2], &json!("2026-11-23T10:14:00.000+0000")));
        assert!(holds(&q.conds[3], &json!("5 % off")));
        assert!(!holds(&q.conds[3], &json!("50% off")));
        let o =
            parse("SELECT Id FROM Case WHERE Subject = 'O\\'Brien' AND Id IN ('a', 'b')").unwrap();
        assert!(holds(&o.conds[0], &json!("o'brien")));
        assert!(holds(&o.conds[1], &json!("b")));
        for bad in [
            "SELECT FROM Case",
            "SELECT Id FROM Case WHERE Subject = 'x",
            "SELECT Id FROM Case WHERE Status = Closed",
            "SELECT Id FROM Case OR",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
