//! Whether an issue matches a checked JQL condition, as Jira's search decides it: `=` on
//! a field's id, key, name or (for people) email; `!=` and `NOT IN` never match an empty
//! field; `~` is Jira's text search (words in any order, stemmed, `*` for a prefix, a
//! quoted phrase in order), so it finds near-matches too.

use super::Cond;
use super::fields::{Field, Person, Text, When};
use super::parse::Op;
use crate::jira::state::{Data, ISSUE_TYPES, IssueData, PRIORITIES, STATUSES};
use serde_json::Value;
use twinsync_jira::adf;

/// An operand, resolved: EMPTY, values, or instants (ms) for dates.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::jira) enum Arg {
    Empty,
    Values(Vec<String>),
    Times(Vec<i64>),
}

impl Cond {
    /// Whether `issue` (of the fake holding `data`) matches.
    pub(in crate::jira) fn holds(&self, data: &Data, issue: &IssueData) -> bool {
        match self {
            Cond::And(all) => all.iter().all(|c| c.holds(data, issue)),
            Cond::Or(any) => any.iter().any(|c| c.holds(data, issue)),
            Cond::Not(c) => !c.holds(data, issue),
            Cond::Test { field, op, arg } => test(data, issue, field, *op, arg),
        }
    }
}

fn test(data: &Data, issue: &IssueData, field: &Field, op: Op, arg: &Arg) -> bool {
    if let (Op::Is | Op::IsNot, _) | (_, Arg::Empty) = (op, arg) {
        let empty = is_empty(data, issue, field);
        return empty == matches!(op, Op::Is | Op::Eq);
    }
    match (field, arg) {
        (Field::Date(when), Arg::Times(times)) => {
            let t = match when {
                When::Created => issue.created_ms,
                When::Updated => issue.updated_ms,
            };
            compare(op, times, |at| t.cmp(&at))
        }
        (Field::Key, Arg::Values(vs)) if matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge) => {
            key_order(issue, vs.first().map(String::as_str).unwrap_or(""), op)
        }
        (_, Arg::Values(vs)) if matches!(op, Op::Like | Op::NotLike) => {
            let texts = texts(issue, field);
            let hit = vs.iter().all(|v| text_match(&texts, v));
            if op == Op::Like {
                hit
            } else {
                !texts.is_empty() && !hit
            }
        }
        (_, Arg::Values(vs)) => {
            let have = values(data, issue, field);
            let hit = vs
                .iter()
                .any(|v| have.iter().flatten().any(|h| h.eq_ignore_ascii_case(v)));
            match op {
                Op::Eq | Op::In => hit,
                _ => !have.is_empty() && !hit,
            }
        }
        _ => false,
    }
}

/// `op` between the issue's instant and the instants asked for (`cmp` compares with one).
fn compare(op: Op, times: &[i64], cmp: impl Fn(i64) -> std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    times.iter().any(|&at| match op {
        Op::Eq | Op::In => cmp(at) == Equal,
        Op::Ne | Op::NotIn => cmp(at) != Equal,
        Op::Lt => cmp(at) == Less,
        Op::Le => cmp(at) != Greater,
        Op::Gt => cmp(at) == Greater,
        Op::Ge => cmp(at) != Less,
        _ => false,
    })
}

/// `key < PROJ-N` and the like: numbers compare within a project.
fn key_order(issue: &IssueData, v: &str, op: Op) -> bool {
    let number = |k: &str| {
        k.rsplit_once('-')
            .and_then(|(p, n)| Some((p.to_ascii_uppercase(), n.parse::<u64>().ok()?)))
    };
    match (number(&issue.key), number(v)) {
        (Some((p, n)), Some((q, m))) if p == q => {
            compare(op, &[m as i64], |at| (n as i64).cmp(&at))
        }
        _ => false,
    }
}

fn is_empty(data: &Data, issue: &IssueData, field: &Field) -> bool {
    match field {
        Field::Text(_) | Field::Custom { option: false, .. } => {
            texts(issue, field).iter().all(|t| t.trim().is_empty())
        }
        Field::Date(_) => false,
        _ => values(data, issue, field).is_empty(),
    }
}

/// The field's values on the issue, each with the names `=` accepts for it.
fn values(data: &Data, issue: &IssueData, field: &Field) -> Vec<Vec<String>> {
    let one = |names: &[&str]| vec![names.iter().map(|s| s.to_string()).collect()];
    match field {
        Field::Project => one(&[&issue.project]),
        Field::Key => one(&[&issue.key, &issue.id.to_string()]),
        Field::Status => {
            let (id, name, _, _) = STATUSES[issue.status.min(STATUSES.len() - 1)];
            one(&[id, name])
        }
        Field::Priority => issue
            .priority
            .map(|p| one(&[PRIORITIES[p].0, PRIORITIES[p].1]))
            .unwrap_or_default(),
        Field::IssueType => {
            let (id, name, _, _) = ISSUE_TYPES[issue.issue_type.min(ISSUE_TYPES.len() - 1)];
            one(&[id, name])
        }
        Field::Labels => issue.labels.iter().map(|l| vec![l.clone()]).collect(),
        Field::Person(p) => {
            let who = match p {
                Person::Assignee => issue.assignee.clone(),
                Person::Reporter => issue.reporter.clone(),
                Person::Creator => Some(issue.creator.clone()),
            };
            who.map(|id| vec![person(data, &id)]).unwrap_or_default()
        }
        Field::Custom { id, .. } => match issue.custom.get(id) {
            Some(v) => vec![vec![
                v["value"].as_str().map_or_else(|| plain(v), str::to_string),
            ]],
            None => Vec::new(),
        },
        Field::Property { key, path } => issue
            .properties
            .get(key)
            .and_then(|v| v.pointer(&format!("/{}", path.replace('.', "/"))))
            .map(|v| vec![vec![plain(v)]])
            .unwrap_or_default(),
        Field::Text(_) | Field::Date(_) => Vec::new(),
    }
}

/// The names a person goes by in JQL: account id, email and display name.
fn person(data: &Data, account: &str) -> Vec<String> {
    let mut names = vec![account.to_string()];
    if let Some((email, (_, name))) = data.accounts.iter().find(|(_, (id, _))| id == account) {
        names.push(email.clone());
        names.push(name.clone());
    }
    names
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// The texts a text search on `field` looks at.
fn texts(issue: &IssueData, field: &Field) -> Vec<String> {
    let description = || issue.description.as_ref().map(adf::to_markdown);
    let comments = || issue.comments.iter().map(|c| adf::to_markdown(&c.body));
    match field {
        Field::Text(Text::Summary) => vec![issue.summary.clone()],
        Field::Text(Text::Description) => description().into_iter().collect(),
        Field::Text(Text::Comment) => comments().collect(),
        Field::Text(Text::All) => {
            let mut all = vec![issue.summary.clone()];
            all.extend(description());
            all.extend(comments());
            all.extend(
                issue
                    .custom
                    .values()
                    .filter_map(|v| v.as_str().map(str::to_string)),
            );
            all
        }
        Field::Custom { id, .. } => issue.custom.get(id).map(plain).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Jira's text search of `query` in `texts`: every word (stemmed; `word*` a prefix), in
/// any order, or a `"quoted phrase"` in order.
fn text_match(texts: &[String], query: &str) -> bool {
    let have: Vec<String> = texts.iter().flat_map(|t| words(t)).collect();
    let q = query.trim();
    if let Some(phrase) = q.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        let want = words(phrase);
        return !want.is_empty() && have.windows(want.len()).any(|w| w == want.as_slice());
    }
    let terms: Vec<&str> = q.split_whitespace().collect();
    !terms.is_empty()
        && terms.iter().all(|term| match term.strip_suffix('*') {
            Some(prefix) => {
                let prefix = prefix.to_lowercase();
                have.iter().any(|w| w.starts_with(&prefix))
            }
            None => words(term).iter().all(|t| have.contains(t)),
        })
}

/// The words of `s`, lower-cased and stemmed.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| stem(&w.to_lowercase()))
        .collect()
}

/// A crude English stemmer, as fuzzy as Jira's: `fixes`, `fixed` and `fix` are one word.
fn stem(w: &str) -> String {
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(root) = w.strip_suffix(suffix)
            && root.chars().count() >= 3
        {
            return root.to_string();
        }
    }
    w.to_string()
}

/// The instant a JQL date means at `now`: `-5m`, `2h`, `-1d`, `4w` (relative) or
/// `yyyy-MM-dd[ HH:mm]` / `yyyy/MM/dd[ HH:mm]` (UTC here; Jira reads them in the user's
/// time zone).
pub(in crate::jira) fn time_of(v: &str, now: i64) -> Option<i64> {
    let v = v.trim();
    let (sign, rest) = match v.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, v.strip_prefix('+').unwrap_or(v)),
    };
    let unit = match rest.chars().last()? {
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        'w' => Some(7 * 86_400_000),
        _ => None,
    };
    if let Some(unit) = unit
        && let Ok(n) = rest[..rest.len() - 1].parse::<i64>()
    {
        return Some(now + sign * n * unit);
    }
    let normalized = v.replace('/', "-");
    chrono::NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M")
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(&normalized, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_search_is_fuzzy_like_jiras() {
        let texts = ["Checkout fails on the payment page".to_string()];
        let cases = [
            ("checkout", true),
            ("CHECKOUT failed", true),
            ("page payment", true),
            ("pay*", true),
            ("\"payment page\"", true),
            ("\"page payment\"", false),
            ("refund", false),
            ("checkout refund", false),
        ];
        for (query, want) in cases {
            assert_eq!(text_match(&texts, query), want, "{query}");
        }
    }

    #[test]
    fn dates_read_as_jira_writes_them() {
        let now = 1_000_000_000;
        let cases = [
            ("-5m", Some(now - 300_000)),
            ("-2h", Some(now - 7_200_000)),
            ("1d", Some(now + 86_400_000)),
            ("-1w", Some(now - 604_800_000)),
            ("2026/01/02 03:04", Some(1_767_323_040_000)),
            ("2026-01-02", Some(1_767_312_000_000)),
            ("yesterday", None),
        ];
        for (v, want) in cases {
            assert_eq!(time_of(v, now), want, "{v}");
        }
    }
}
