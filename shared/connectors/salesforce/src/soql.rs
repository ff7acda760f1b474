//! SOQL: string literals escaped as the SOQL reference says, date-time literals, the poll
//! query on `SystemModstamp`, and the trigger (twinsync's filter language) translated into
//! the WHERE conditions SOQL can evaluate.

use twinsync_core::Filter;
use twinsync_core::trigger::Op;

/// Salesforce's date-time values in JSON (`2026-11-23T10:14:01.000+0000`).
pub const JSON_TIME: &str = "%Y-%m-%dT%H:%M:%S%.3f%z";

/// A date-time value as ms since the epoch (0 when unreadable). Accepts `Z` too.
pub fn millis(s: &str) -> i64 {
    let s = s.trim();
    chrono::DateTime::parse_from_str(s, JSON_TIME)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// ms since the epoch as a SOQL date-time literal, the second it falls in
/// (`2026-11-23T10:14:01Z`): Salesforce keeps date-times to the second.
pub fn literal_time(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A quoted SOQL string literal. The SOQL reference ("Quoted String Escape Sequences")
/// escapes `\` `'` `"` and line breaks with a backslash; nothing else needs it.
pub fn quote(v: &str) -> String {
    escaped(v, false, "", "")
}

/// A LIKE pattern containing `v`: `%` and `_` are wildcards and escape with a backslash.
fn like(v: &str) -> String {
    escaped(v, true, "%", "%")
}

fn escaped(v: &str, wildcards: bool, before: &str, after: &str) -> String {
    let mut out = format!("'{before}");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '%' | '_' if wildcards => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push_str(after);
    out.push('\'');
    out
}

/// The poll query: the trigger's conditions (or every Case), changed at or after the
/// second of `since_ms`, oldest first. `>=` on the cursor's second reads an edit made
/// later in that same second; the scheduler remembers which (Id, SystemModstamp) it has
/// sent, so none is sent twice, and the cursor moves past the second once it is read.
pub fn poll(fields: &str, conditions: &[String], since_ms: i64) -> String {
    let mut parts: Vec<String> = conditions.to_vec();
    if since_ms > 0 {
        parts.push(format!("SystemModstamp >= {}", literal_time(since_ms)));
    }
    let mut q = format!("SELECT {fields} FROM Case");
    if !parts.is_empty() {
        q.push_str(" WHERE ");
        q.push_str(&parts.join(" AND "));
    }
    q.push_str(" ORDER BY SystemModstamp ASC, Id ASC");
    q
}

/// The Cases whose comments changed at or after the second of `since_ms`: a comment
/// leaves its Case's stamps as they are, so the Case poll alone would not see it.
pub fn comment_poll(since_ms: i64) -> String {
    format!(
        "SELECT ParentId FROM CaseComment WHERE SystemModstamp >= {} ORDER BY SystemModstamp ASC, Id ASC",
        literal_time(since_ms)
    )
}

/// The trigger's conditions on the Cases with these Ids (already checked Ids).
pub fn cases_by_id(fields: &str, conditions: &[String], ids: &[&str]) -> String {
    let list: Vec<String> = ids.iter().map(|id| quote(id)).collect();
    let mut parts = vec![format!("Id IN ({})", list.join(", "))];
    parts.extend(conditions.iter().cloned());
    format!(
        "SELECT {fields} FROM Case WHERE {} ORDER BY SystemModstamp ASC, Id ASC",
        parts.join(" AND ")
    )
}

/// Where the filter's fields live on Case.
pub struct Columns<'a> {
    pub labels: Option<&'a str>,
}

/// The AND-ed conditions of a trigger SOQL can evaluate, in Case's field names. What it
/// cannot (ORs, NOTs, Description, a long text area SOQL cannot filter) is left to
/// `Filter::matches` on the Cases read, so the query only narrows.
pub fn encode(filter: &Filter, columns: &Columns<'_>) -> Vec<String> {
    let mut out = Vec::new();
    conditions(filter, columns, &mut out);
    out
}

fn conditions(filter: &Filter, columns: &Columns<'_>, out: &mut Vec<String>) {
    match filter {
        Filter::And(a, b) => {
            conditions(a, columns, out);
            conditions(b, columns, out);
        }
        Filter::Cond { field, op, value } => {
            if field == "labels" {
                let (Some(column), Some(v)) = (columns.labels, value) else {
                    return;
                };
                let op = match op {
                    Op::Eq | Op::Contains => "INCLUDES",
                    Op::Ne | Op::NotContains => "EXCLUDES",
                };
                out.push(format!("{column} {op} ({})", quote(v)));
                return;
            }
            let Some(column) = column(field) else { return };
            out.push(match (value, op) {
                (None, Op::Eq | Op::NotContains) => format!("{column} = null"),
                (None, Op::Ne | Op::Contains) => format!("{column} != null"),
                // SOQL compares text without case, like the filter.
                (Some(v), Op::Eq) => format!("{column} = {}", quote(v)),
                (Some(v), Op::Ne) => format!("{column} != {}", quote(v)),
                (Some(v), Op::Contains) => format!("{column} LIKE {}", like(v)),
                (Some(v), Op::NotContains) => format!("(NOT {column} LIKE {})", like(v)),
            });
        }
        Filter::In {
            field,
            values,
            negated,
        } => {
            let Some(column) = column(field) else { return };
            let list: Vec<String> = values.iter().map(|v| quote(v)).collect();
            let op = if *negated { "NOT IN" } else { "IN" };
            out.push(format!("{column} {op} ({})", list.join(", ")));
        }
        Filter::Or(..) | Filter::Not(_) => {}
    }
}

/// The Case field a filter field reads; None where SOQL cannot filter it.
fn column(field: &str) -> Option<String> {
    Some(match field {
        "key" => "Id".into(),
        "summary" => "Subject".into(),
        "status" => "Status".into(),
        "priority" => "Priority".into(),
        "assignee" => "Owner.Email".into(),
        "reporter" => "SuppliedEmail".into(),
        "description" | "project" | "labels" => return None,
        custom => {
            let name = custom.strip_prefix("cf.").unwrap_or(custom);
            if !crate::config::is_api_name(name) {
                return None;
            }
            name.to_string()
        }
    })
}

/// A `nextRecordsUrl` is a path on the instance; anything else is refused so a token
/// never follows a page link elsewhere.
pub fn next_records(url: Option<&str>) -> Option<String> {
    url.filter(|u| u.starts_with("/services/data/") && !u.contains("..") && !u.contains("//"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_poll_reads_the_cursor_second_again_oldest_first() {
        assert_eq!(
            poll("Id", &[], 0),
            "SELECT Id FROM Case ORDER BY SystemModstamp ASC, Id ASC"
        );
        assert_eq!(
            poll(
                "Id, Subject",
                &["Status != 'Closed'".into()],
                1_795_428_841_999
            ),
            "SELECT Id, Subject FROM Case WHERE Status != 'Closed' AND SystemModstamp >= 2026-11-23T10:14:01Z ORDER BY SystemModstamp ASC, Id ASC"
        );
        assert_eq!(millis("2026-11-23T10:14:01.000+0000"), 1_795_428_841_000);
        assert_eq!(millis("2026-11-23T10:14:01Z"), 1_795_428_841_000);
        assert_eq!(millis("yesterday"), 0);
    }

    #[test]
    fn string_literals_cannot_end_early() {
        assert_eq!(quote("O'Brien"), r"'O\'Brien'");
        assert_eq!(quote(r"a\' OR Id != null"), r"'a\\\' OR Id != null'");
        assert_eq!(quote("two\nlines"), r"'two\nlines'");
        assert_eq!(like("50%_off"), r"'%50\%\_off%'");
    }

    #[test]
    fn triggers_become_where_conditions_soql_can_evaluate() {
        let columns = Columns {
            labels: Some("Twinsync_Labels__c"),
        };
        let cases: [(&str, Vec<&str>); 8] = [
            (
                "labels = sync",
                vec!["Twinsync_Labels__c INCLUDES ('sync')"],
            ),
            ("status != Closed", vec!["Status != 'Closed'"]),
            (
                "status = \"Escalated\" AND priority = High",
                vec!["Status = 'Escalated'", "Priority = 'High'"],
            ),
            (
                "summary ~ printer AND description ~ x",
                vec!["Subject LIKE '%printer%'"],
            ),
            (
                "status IN (New, Working)",
                vec!["Status IN ('New', 'Working')"],
            ),
            ("assignee = EMPTY", vec!["Owner.Email = null"]),
            ("status = New OR status = Closed", vec![]),
            // SOQL field names are case-insensitive; the filter keeps them lower-case.
            ("cf.Product__c = \"GC1040\"", vec!["product__c = 'GC1040'"]),
        ];
        for (trigger, want) in cases {
            let filter = Filter::parse(trigger).unwrap_or_else(|e| panic!("{trigger}: {e}"));
            assert_eq!(encode(&filter, &columns), want, "{trigger}");
        }
        let none = Columns { labels: None };
        assert!(encode(&Filter::parse("labels = sync").unwrap(), &none).is_empty());
    }

    #[test]
    fn page_links_stay_on_the_instance() {
        let next = "/services/data/v62.0/query/01gD0000002HU6KIAW-2000";
        assert_eq!(next_records(Some(next)).as_deref(), Some(next));
        assert_eq!(next_records(Some("https://evil.example/x")), None);
        assert_eq!(next_records(Some("//evil.example/services/data/")), None);
        assert_eq!(next_records(None), None);
    }
}
