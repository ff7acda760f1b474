//! Encoded queries as the Table API reads `sysparm_query`: conditions joined by `^`,
//! `^OR` for either-or, `^NQ` for a new query, `ORDERBY`/`ORDERBYDESC`, the operators
//! `=`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`, `NOT LIKE`, `STARTSWITH`, `ENDSWITH`, `IN`,
//! `NOT IN`, `ISEMPTY` and `ISNOTEMPTY`, on a record's fields or dot-walked through a
//! reference (`assigned_to.email`). Anything else is refused with a 400 rather than
//! guessed at.

use super::state::{Data, REFERENCES, Record};
use std::cmp::Ordering;

/// The operators, longest first so that `>=` is not read as `>`.
const OPERATORS: [&str; 14] = [
    "ISNOTEMPTY",
    "ISEMPTY",
    "NOT LIKE",
    "NOT IN",
    "STARTSWITH",
    "ENDSWITH",
    "LIKE",
    "IN",
    "!=",
    ">=",
    "<=",
    "=",
    ">",
    "<",
];

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    field: String,
    op: &'static str,
    value: String,
}

/// A parsed query: OR-groups of AND-ed conditions (each an OR of alternatives), and the
/// order.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Query {
    /// `^NQ` splits these; a record matches if any matches.
    queries: Vec<Vec<Vec<Condition>>>,
    order: Vec<(String, bool)>,
}

fn condition(text: &str) -> Result<Condition, String> {
    let end = text
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'))
        .unwrap_or(text.len());
    let (field, rest) = text.split_at(end);
    let op = OPERATORS
        .iter()
        .find(|op| rest.starts_with(*op))
        .ok_or_else(|| format!("unsupported condition {text:?}"))?;
    let value = &rest[op.len()..];
    if field.is_empty() || value.starts_with("javascript:") {
        return Err(format!("unsupported condition {text:?}"));
    }
    Ok(Condition {
        field: field.to_string(),
        op,
        value: value.to_string(),
    })
}

pub(super) fn parse(text: &str) -> Result<Query, String> {
    let mut q = Query::default();
    let mut current: Vec<Vec<Condition>> = Vec::new();
    for part in text.split('^').filter(|p| !p.is_empty()) {
        if let Some(rest) = part.strip_prefix("NQ") {
            q.queries.push(std::mem::take(&mut current));
            if !rest.is_empty() {
                current.push(vec![condition(rest)?]);
            }
        } else if let Some(f) = part.strip_prefix("ORDERBYDESC") {
            q.order.push((f.to_string(), true));
        } else if let Some(f) = part.strip_prefix("ORDERBY") {
            q.order.push((f.to_string(), false));
        } else if let Some(alt) = part.strip_prefix("OR") {
            let c = condition(alt)?;
            match current.last_mut() {
                Some(last) => last.push(c),
                None => current.push(vec![c]),
            }
        } else if part == "EQ" {
            continue;
        } else {
            current.push(vec![condition(part)?]);
        }
    }
    q.queries.push(current);
    Ok(q)
}

/// A field of `record`, following one reference for `a.b`.
pub(super) fn value(data: &Data, record: &Record, field: &str) -> String {
    match field.split_once('.') {
        Some((reference, rest)) => {
            let target = REFERENCES
                .iter()
                .find(|(f, _)| *f == reference)
                .map(|(_, t)| *t);
            let id = record.get(reference).cloned().unwrap_or_default();
            match target.and_then(|t| data.find(t, &id)) {
                Some(r) => value(data, r, rest),
                None => String::new(),
            }
        }
        None => record.get(field).cloned().unwrap_or_default(),
    }
}

/// Numbers compare as numbers, everything else as text (date-times sort as text).
fn compare(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.cmp(b),
    }
}

fn holds(data: &Data, record: &Record, c: &Condition) -> bool {
    let v = value(data, record, &c.field);
    let (lv, lc) = (v.to_lowercase(), c.value.to_lowercase());
    let list = || c.value.split(',').any(|x| x.eq_ignore_ascii_case(&v));
    match c.op {
        // Text compares without case, as on ServiceNow's database.
        "=" => lv == lc,
        "!=" => lv != lc,
        ">" => !v.is_empty() && compare(&v, &c.value) == Ordering::Greater,
        ">=" => !v.is_empty() && compare(&v, &c.value) != Ordering::Less,
        "<" => !v.is_empty() && compare(&v, &c.value) == Ordering::Less,
        "<=" => !v.is_empty() && compare(&v, &c.value) != Ordering::Greater,
        "LIKE" => lv.contains(&lc),
        "NOT LIKE" => !lv.contains(&lc),
        "STARTSWITH" => lv.starts_with(&lc),
        "ENDSWITH" => lv.ends_with(&lc),
        "IN" => list(),
        "NOT IN" => !list(),
        "ISEMPTY" => v.is_empty(),
        "ISNOTEMPTY" => !v.is_empty(),
        _ => false,
    }
}

impl Query {
    pub(super) fn matches(&self, data: &Data, record: &Record) -> bool {
        self.queries.iter().any(|conditions| {
            conditions
                .iter()
                .all(|alternatives| alternatives.iter().any(|c| holds(data, record, c)))
        })
    }

    /// Sorts `records` by the query's order (stable: ties keep their order).
    pub(super) fn sort(&self, data: &Data, records: &mut [&Record]) {
        records.sort_by(|a, b| {
            for (field, desc) in &self.order {
                let o = compare(&value(data, a, field), &value(data, b, field));
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(pairs: &[(&str, &str)]) -> Record {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn conditions_match_as_servicenow_reads_them() {
        let data = Data::default();
        let r = record(&[
            ("state", "2"),
            ("short_description", "Email is down"),
            ("sys_updated_on", "2026-11-23 10:14:01"),
            ("correlation_id", ""),
        ]);
        let cases = [
            ("state=2", true),
            ("state=1^ORstate=2", true),
            ("state!=2", false),
            ("state>=2^state<6", true),
            ("short_descriptionLIKEemail", true),
            ("short_descriptionSTARTSWITHmail", false),
            ("stateIN1,2,3", true),
            ("stateNOT IN1,2", false),
            ("correlation_idISEMPTY", true),
            (
                "sys_updated_on>=2026-11-23 10:14:01^ORDERBYsys_updated_on",
                true,
            ),
            ("sys_updated_on>2026-11-23 10:14:01", false),
            ("state=1^NQstate=2", true),
            ("", true),
        ];
        for (text, want) in cases {
            let q = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(q.matches(&data, &r), want, "{text}");
        }
        assert!(parse("state~2").is_err());
        assert!(parse("sys_updated_on>javascript:gs.daysAgo(1)").is_err());
    }
}
