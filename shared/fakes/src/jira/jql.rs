//! The fake Jira's JQL: the clauses twinsync writes (`updated >= ...` and
//! `issue.property[k].path = v`) are read here; the rest goes to twinsync's trigger
//! language, checked on the mapped item.

use super::state::{Data, Fake, IssueData};
use twinsync_core::Filter;
use twinsync_jira::mapping::to_item;

/// Whether `issue` matches the where-part of `jql`; the error is Jira's 400 message.
pub(super) fn matches(
    fake: &Fake,
    data: &Data,
    jql: &str,
    issue: &IssueData,
    now: i64,
) -> Result<bool, String> {
    let mut rest = Vec::new();
    for clause in split_and(jql) {
        let lower = clause.to_ascii_lowercase();
        if lower.starts_with("updated") {
            if issue.updated_ms < updated_since(&clause, now)? {
                return Ok(false);
            }
        } else if let Some(p) = lower.strip_prefix("issue.property[") {
            if !property_matches(&clause, p, issue)? {
                return Ok(false);
            }
        } else {
            rest.push(clause);
        }
    }
    if rest.is_empty() {
        return Ok(true);
    }
    let filter =
        Filter::parse(&rest.join(" AND ")).map_err(|e| format!("Error in the JQL Query: {e}"))?;
    let item = to_item(&fake.base, &fake.issue(data, issue, Some("*all"), &[]), &[]);
    Ok(filter.matches(&item))
}

/// The time an `updated >= v` clause means: `-Nm` before `now`, or a date.
fn updated_since(clause: &str, now: i64) -> Result<i64, String> {
    let value = clause
        .split_once(">=")
        .map(|(_, v)| unquote(v))
        .ok_or_else(|| {
            format!("Error in the JQL Query: only updated >= is supported here, not '{clause}'.")
        })?;
    if let Some(m) = value.strip_prefix('-').and_then(|v| v.strip_suffix('m')) {
        let minutes: i64 = m
            .parse()
            .map_err(|_| format!("Date value '{value}' for field 'updated' is invalid."))?;
        return Ok(now - minutes * 60_000);
    }
    let normalized = value.replace('/', "-");
    chrono::NaiveDateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M")
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|_| format!("Date value '{value}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."))
}

/// Whether `issue` has the property value an `issue.property[k].path = v` clause asks
/// for; `lower_rest` is the lower-cased clause after `issue.property[`.
fn property_matches(clause: &str, lower_rest: &str, issue: &IssueData) -> Result<bool, String> {
    let (key, after) = lower_rest
        .split_once(']')
        .ok_or("Error in the JQL Query: bad property clause.")?;
    let start = clause.len() - after.len();
    let (path, value) = clause[start..]
        .split_once('=')
        .ok_or("Error in the JQL Query: only = is supported on properties here.")?;
    let path = path.trim().trim_start_matches('.');
    let found = issue
        .properties
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.pointer(&format!("/{}", path.replace('.', "/"))).cloned());
    Ok(found.flatten().and_then(|v| v.as_str().map(str::to_string)) == Some(unquote(value)))
}

/// Splits `s` at top-level occurrences of ` AND ` (outside quotes and parentheses).
fn split_and(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0usize);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if !quoted
                && depth == 0
                && s[i..].len() >= 5
                && s[i..i + 5].eq_ignore_ascii_case(" and ") =>
            {
                parts.push(s[start..i].trim().to_string());
                start = i + 5;
                i += 5;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(s[start..].trim().to_string());
    parts
}

/// A JQL value without its quotes and escapes.
fn unquote(s: &str) -> String {
    let t = s.trim();
    t.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .map(|x| x.replace("\\\"", "\"").replace("\\\\", "\\"))
        .unwrap_or_else(|| t.to_string())
}
