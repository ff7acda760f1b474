//! JQL's syntax as Jira reads it: clauses (`field operator operand`) joined by AND, OR,
//! NOT and parentheses, whose operands are values, lists, EMPTY and functions. Errors
//! carry Jira's wording and position, as the examples of Atlassian's "Parse JQL query"
//! reference show them
//! (<https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-jql/#api-rest-api-3-jql-parse-post>).

/// A parsed where-part.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::jira) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Clause(Clause),
}

/// `field operator operand`; the field as written, without quotes.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::jira) struct Clause {
    pub(in crate::jira) field: String,
    pub(in crate::jira) op: Op,
    pub(in crate::jira) operand: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::jira) enum Op {
    Eq,
    Ne,
    Like,
    NotLike,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Is,
    IsNot,
}

impl Op {
    /// The operator as Jira's messages name it.
    pub(in crate::jira) fn shown(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Like => "~",
            Op::NotLike => "!~",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Is => "is",
            Op::IsNot => "is not",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(in crate::jira) enum Operand {
    Value(String),
    List(Vec<String>),
    Empty,
    /// A function call, by name (its arguments are not needed here).
    Function(String),
}

const OPERATORS: &str = "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'.";

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Sym(&'static str),
    Open,
    Close,
    Comma,
}

/// A token, the column it starts at (from 1) and its text as written.
struct Lexed {
    tok: Tok,
    at: usize,
    text: String,
}

fn syntax(message: String) -> String {
    format!("Error in the JQL Query: {message}")
}

/// Parses a where-part (no `ORDER BY`); the error is Jira's 400 message.
pub(in crate::jira) fn parse(jql: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(jql)?,
        pos: 0,
    };
    if p.toks.is_empty() {
        return Ok(Expr::And(Vec::new()));
    }
    let e = p.or()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(syntax(format!(
            "Expecting either 'OR' or 'AND' but got '{}'. (line 1, character {})",
            t.text, t.at
        ))),
    }
}

fn lex(s: &str) -> Result<Vec<Lexed>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let at = i + 1;
        let (tok, next) = match chars[i] {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => (Tok::Open, i + 1),
            ')' => (Tok::Close, i + 1),
            ',' => (Tok::Comma, i + 1),
            '"' | '\'' => quoted(&chars, i)?,
            '=' => (Tok::Sym("="), i + 1),
            '~' => (Tok::Sym("~"), i + 1),
            '!' => match chars.get(i + 1) {
                Some('=') => (Tok::Sym("!="), i + 2),
                Some('~') => (Tok::Sym("!~"), i + 2),
                _ => {
                    return Err(syntax(format!(
                        "The character '!' is a reserved JQL character. You must enclose it in a string or use the escape '\\u0021' instead. (line 1, character {at})"
                    )));
                }
            },
            '<' | '>' => symbol(&chars, i),
            _ => word(&chars, i),
        };
        let text: String = chars[i..next].iter().collect();
        out.push(Lexed { tok, at, text });
        i = next;
    }
    Ok(out)
}

/// `<`, `<=`, `>` or `>=` at `i`.
fn symbol(chars: &[char], i: usize) -> (Tok, usize) {
    let eq = chars.get(i + 1) == Some(&'=');
    let sym = match (chars[i], eq) {
        ('<', true) => "<=",
        ('<', false) => "<",
        (_, true) => ">=",
        _ => ">",
    };
    (Tok::Sym(sym), i + if eq { 2 } else { 1 })
}

/// A quoted string at `i`, unescaped; Jira's error when it does not end.
fn quoted(chars: &[char], i: usize) -> Result<(Tok, usize), String> {
    let quote = chars[i];
    let mut s = String::new();
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' if j + 1 < chars.len() => {
                let next = chars[j + 1];
                if !matches!(next, '"' | '\'' | '\\') {
                    s.push('\\');
                }
                s.push(next);
                j += 2;
            }
            c if c == quote => return Ok((Tok::Str(s), j + 1)),
            c => {
                s.push(c);
                j += 1;
            }
        }
    }
    Err(syntax(format!(
        "The quoted string '{s}' has not been completed. (line 1, character {})",
        i + 1
    )))
}

/// A bare word at `i`: up to a space or a reserved character, brackets (and what is
/// quoted in them, as in `issue.property["a b"].c`) included.
fn word(chars: &[char], i: usize) -> (Tok, usize) {
    let mut j = i;
    let mut s = String::new();
    while j < chars.len() {
        let c = chars[j];
        if c.is_whitespace() || "()=,!~<>\"'".contains(c) {
            break;
        }
        if c == '[' {
            while j < chars.len() && chars[j] != ']' {
                if chars[j] != '"' {
                    s.push(chars[j]);
                }
                j += 1;
            }
            continue;
        }
        s.push(c);
        j += 1;
    }
    (Tok::Word(s), j)
}

struct Parser {
    toks: Vec<Lexed>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Lexed> {
        self.toks.get(self.pos)
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek().map(|t| &t.tok), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while self.keyword("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(one_or(parts, Expr::Or))
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.unary()?];
        while self.keyword("and") {
            self.pos += 1;
            parts.push(self.unary()?);
        }
        Ok(one_or(parts, Expr::And))
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek().map(|t| &t.tok) == Some(&Tok::Open) {
            self.pos += 1;
            let inner = self.or()?;
            return match self.peek() {
                Some(t) if t.tok == Tok::Close => {
                    self.pos += 1;
                    Ok(inner)
                }
                Some(t) => Err(syntax(format!(
                    "Expecting ')' but got '{}'. (line 1, character {})",
                    t.text, t.at
                ))),
                None => Err(syntax("Expecting ')' before the end of the query.".into())),
            };
        }
        self.clause()
    }

    fn clause(&mut self) -> Result<Expr, String> {
        let field = match self.peek() {
            Some(Lexed {
                tok: Tok::Word(w) | Tok::Str(w),
                ..
            }) => w.clone(),
            Some(t) => {
                return Err(syntax(format!(
                    "Expecting a field name but got '{}'. (line 1, character {})",
                    t.text, t.at
                )));
            }
            None => {
                return Err(syntax(
                    "Expecting a field name at the end of the query.".into(),
                ));
            }
        };
        self.pos += 1;
        let op = self.operator()?;
        let operand = self.operand()?;
        Ok(Expr::Clause(Clause { field, op, operand }))
    }

    fn operator(&mut self) -> Result<Op, String> {
        let Some(t) = self.peek() else {
            return Err(syntax(format!(
                "Expecting operator before the end of the query. {OPERATORS}"
            )));
        };
        let op = match &t.tok {
            Tok::Sym(s) => match *s {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "~" => Op::Like,
                "!~" => Op::NotLike,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Tok::Word(w) if w.eq_ignore_ascii_case("in") => Op::In,
            Tok::Word(w) if w.eq_ignore_ascii_case("is") => {
                self.pos += 1;
                return Ok(if self.skip("not") { Op::IsNot } else { Op::Is });
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.pos += 1;
                if self.skip("in") {
                    return Ok(Op::NotIn);
                }
                return Err(self.expecting_operator());
            }
            _ => return Err(self.expecting_operator()),
        };
        self.pos += 1;
        Ok(op)
    }

    fn skip(&mut self, kw: &str) -> bool {
        let here = self.keyword(kw);
        if here {
            self.pos += 1;
        }
        here
    }

    fn expecting_operator(&self) -> String {
        match self.peek() {
            Some(t) => syntax(format!(
                "Expecting operator but got '{}'. {OPERATORS} (line 1, character {})",
                t.text, t.at
            )),
            None => syntax(format!(
                "Expecting operator before the end of the query. {OPERATORS}"
            )),
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let Some(t) = self.peek() else {
            return Err(syntax(
                "Expecting either a value, list or function before the end of the query.".into(),
            ));
        };
        let operand = match &t.tok {
            Tok::Word(w) if w.eq_ignore_ascii_case("empty") || w.eq_ignore_ascii_case("null") => {
                Operand::Empty
            }
            Tok::Word(w) if self.toks.get(self.pos + 1).map(|n| &n.tok) == Some(&Tok::Open) => {
                let name = w.clone();
                self.pos += 1;
                self.list()?;
                return Ok(Operand::Function(name));
            }
            Tok::Word(w) | Tok::Str(w) => Operand::Value(w.clone()),
            Tok::Open => return self.list().map(Operand::List),
            _ => {
                return Err(syntax(format!(
                    "Expecting either a value, list or function but got '{0}'. You must surround '{0}' in quotation marks to use it as a value. (line 1, character {1})",
                    t.text, t.at
                )));
            }
        };
        self.pos += 1;
        Ok(operand)
    }

    /// `( value, ... )`: the values of a list or a function's arguments.
    fn list(&mut self) -> Result<Vec<String>, String> {
        self.pos += 1;
        let mut values = Vec::new();
        loop {
            let Some(t) = self.peek() else {
                return Err(syntax("Expecting ')' before the end of the query.".into()));
            };
            match &t.tok {
                Tok::Close => {
                    self.pos += 1;
                    return Ok(values);
                }
                Tok::Comma => self.pos += 1,
                Tok::Word(w) | Tok::Str(w) => {
                    values.push(w.clone());
                    self.pos += 1;
                }
                _ => {
                    return Err(syntax(format!(
                        "Expecting either a value or ')' but got '{}'. (line 1, character {})",
                        t.text, t.at
                    )));
                }
            }
        }
    }
}

fn one_or(mut parts: Vec<Expr>, many: fn(Vec<Expr>) -> Expr) -> Expr {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        many(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(field: &str, op: Op, operand: Operand) -> Expr {
        Expr::Clause(Clause {
            field: field.into(),
            op,
            operand,
        })
    }

    #[test]
    fn queries_parse_as_jira_reads_them() {
        let v = |s: &str| Operand::Value(s.into());
        let cases = [
            ("project = DEMO", clause("project", Op::Eq, v("DEMO"))),
            (
                "project = \"DEMO\" AND labels IN (a, \"b c\")",
                Expr::And(vec![
                    clause("project", Op::Eq, v("DEMO")),
                    clause(
                        "labels",
                        Op::In,
                        Operand::List(vec!["a".into(), "b c".into()]),
                    ),
                ]),
            ),
            (
                "issue.property[\"twinsync-origin\"].origin = \"x\"",
                clause("issue.property[twinsync-origin].origin", Op::Eq, v("x")),
            ),
            (
                "cf[10050] ~ \"tok\" OR NOT creator = currentUser()",
                Expr::Or(vec![
                    clause("cf[10050]", Op::Like, v("tok")),
                    Expr::Not(Box::new(clause(
                        "creator",
                        Op::Eq,
                        Operand::Function("currentUser".into()),
                    ))),
                ]),
            ),
            (
                "\"Twinsync Origin\" is not EMPTY",
                clause("Twinsync Origin", Op::IsNot, Operand::Empty),
            ),
            (
                "updated >= \"-5m\" and key not in (A-1)",
                Expr::And(vec![
                    clause("updated", Op::Ge, v("-5m")),
                    clause("key", Op::NotIn, Operand::List(vec!["A-1".into()])),
                ]),
            ),
        ];
        for (jql, want) in cases {
            assert_eq!(parse(jql), Ok(want), "{jql}");
        }
    }

    #[test]
    fn syntax_errors_are_jiras() {
        let cases = [
            (
                "invalid query",
                "Error in the JQL Query: Expecting operator but got 'query'. The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'. (line 1, character 9)",
            ),
            (
                "summary ~ \"abc",
                "Error in the JQL Query: The quoted string 'abc' has not been completed. (line 1, character 11)",
            ),
            (
                "project = DEMO AND",
                "Error in the JQL Query: Expecting a field name at the end of the query.",
            ),
            (
                "project = DEMO AND (",
                "Error in the JQL Query: Expecting a field name at the end of the query.",
            ),
            (
                "project = DEMO labels = x",
                "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'labels'. (line 1, character 16)",
            ),
        ];
        for (jql, want) in cases {
            assert_eq!(parse(jql), Err(want.to_string()), "{jql}");
        }
    }
}
