//! Encoded queries (`sysparm_query`): the poll window on `sys_updated_on`, values that
//! are safe to put in a condition, ServiceNow's date-time format, and the `Link` header
//! the Table API pages with.

use crate::mapping::Choices;
use twinsync_core::Filter;
use twinsync_core::trigger::Op;
use twinsync_ports::{PortError, PortResult};

/// ServiceNow's date-time values as the API gives them with
/// `sysparm_display_value=false`: UTC, one-second resolution (`2026-11-23 10:14:01`).
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// A date-time value as ms since the epoch (0 when unreadable).
pub fn millis(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s.trim(), TIME_FORMAT)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or(0)
}

/// ms since the epoch as a ServiceNow date-time value (the second it falls in).
pub fn timestamp(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.format(TIME_FORMAT).to_string())
        .unwrap_or_default()
}

/// A value for a condition: `^` separates conditions and cannot be escaped, so a value
/// holding one (or a line break) is refused rather than read as more conditions.
pub fn value(v: &str) -> PortResult<&str> {
    if v.contains(['^', '\n', '\r']) {
        return Err(PortError::Rejected(format!(
            "{v:?} cannot be used in a ServiceNow encoded query"
        )));
    }
    Ok(v)
}

/// The encoded query of a poll: the trigger's conditions (or every record), changed at or
/// after the second of `since_ms`, oldest first. `>=` on the cursor's second reads an
/// edit made later in that same second; the scheduler's cursor remembers which record
/// versions (`sys_mod_count`) it has sent at that second, so none is sent twice.
pub fn poll(conditions: &[String], since_ms: i64) -> String {
    let mut parts: Vec<String> = conditions.to_vec();
    if since_ms > 0 {
        parts.push(format!("sys_updated_on>={}", timestamp(since_ms)));
    }
    parts.push("ORDERBYsys_updated_on".into());
    parts.push("ORDERBYsys_id".into());
    parts.join("^")
}

/// The choice lists a trigger's names turn into codes with.
pub struct Codes<'a> {
    pub states: &'a Choices,
    pub priorities: &'a Choices,
}

/// The encoded query conditions of a trigger (twinsync's filter language, which the node
/// also matches items with): the AND-ed conditions ServiceNow can evaluate, in its field
/// names and codes. What it cannot (labels, ORs, NOTs) is left to the filter on the items
/// read, so the encoded query only narrows what is read.
pub fn encode(filter: &Filter, codes: &Codes<'_>) -> Vec<String> {
    let mut out = Vec::new();
    conditions(filter, codes, &mut out);
    out
}

fn conditions(filter: &Filter, codes: &Codes<'_>, out: &mut Vec<String>) {
    match filter {
        Filter::And(a, b) => {
            conditions(a, codes, out);
            conditions(b, codes, out);
        }
        Filter::Cond { field, op, value } => {
            let Some(column) = column(field) else { return };
            let encoded = match value {
                None => match op {
                    Op::Eq | Op::NotContains => Some(format!("{column}ISEMPTY")),
                    Op::Ne | Op::Contains => Some(format!("{column}ISNOTEMPTY")),
                },
                // Like the filter, ServiceNow compares text without case.
                Some(v) => code(field, v, codes).map(|v| {
                    let op = match op {
                        Op::Eq => "=",
                        Op::Ne => "!=",
                        Op::Contains => "LIKE",
                        Op::NotContains => "NOT LIKE",
                    };
                    format!("{column}{op}{v}")
                }),
            };
            out.extend(encoded);
        }
        Filter::In {
            field,
            values,
            negated,
        } => {
            let Some(column) = column(field) else { return };
            let coded: Option<Vec<String>> = values.iter().map(|v| code(field, v, codes)).collect();
            if let Some(list) = coded.filter(|_| matches!(field.as_str(), "status" | "priority")) {
                let op = if *negated { "NOT IN" } else { "IN" };
                out.push(format!("{column}{op}{}", list.join(",")));
            }
        }
        Filter::Or(..) | Filter::Not(_) => {}
    }
}

/// The column a filter field reads.
fn column(field: &str) -> Option<String> {
    Some(match field {
        "key" => "number".into(),
        "summary" => "short_description".into(),
        "description" => "description".into(),
        "status" => "state".into(),
        "priority" => "priority".into(),
        "assignee" => "assigned_to.email".into(),
        "reporter" => "caller_id.email".into(),
        "project" | "labels" => return None,
        custom => {
            let name = custom.strip_prefix("cf.").unwrap_or(custom);
            if name == "assignment_group" {
                "assignment_group.name".into()
            } else {
                name.to_string()
            }
        }
    })
}

/// A filter value as the column holds it: states and priorities as their codes.
fn code(field: &str, value: &str, codes: &Codes<'_>) -> Option<String> {
    let v = match field {
        "status" => codes.states.code(value)?.to_string(),
        "priority" => codes.priorities.code(value)?.to_string(),
        _ => value.to_string(),
    };
    (!v.contains(['^', '\n', '\r', ','])).then_some(v)
}

/// The `rel="next"` URL of a `Link` header, if any.
pub fn next_link(link: Option<&str>) -> Option<String> {
    link?.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

/// The `sysparm_offset` of a page URL.
pub fn offset_of(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        kv.strip_prefix("sysparm_offset=")
            .filter(|v| v.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_string)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_query_reads_the_cursor_second_again_oldest_first() {
        assert_eq!(poll(&[], 0), "ORDERBYsys_updated_on^ORDERBYsys_id");
        assert_eq!(
            poll(&["active=true".to_string()], 1_795_428_841_999),
            "active=true^sys_updated_on>=2026-11-23 10:14:01^ORDERBYsys_updated_on^ORDERBYsys_id"
        );
        assert_eq!(millis("2026-11-23 10:14:01"), 1_795_428_841_000);
        assert_eq!(timestamp(1_795_428_841_000), "2026-11-23 10:14:01");
        assert_eq!(millis("yesterday"), 0);
    }

    #[test]
    fn values_that_would_add_conditions_are_refused() {
        assert!(value("twinsync:c:INC001").is_ok());
        assert!(value("a^active=false").is_err());
        assert!(value("a\nb").is_err());
    }

    #[test]
    fn triggers_become_encoded_conditions_where_servicenow_can_evaluate_them() {
        let states = Choices(vec![
            ("1".into(), "New".into()),
            ("2".into(), "In Progress".into()),
        ]);
        let priorities = Choices(vec![("1".into(), "1 - Critical".into())]);
        let codes = Codes {
            states: &states,
            priorities: &priorities,
        };
        let cases = [
            ("cf.category = software", vec!["category=software"]),
            (
                "status = \"In Progress\" AND priority = Critical",
                vec!["state=2", "priority=1"],
            ),
            (
                "summary ~ email AND labels = sync",
                vec!["short_descriptionLIKEemail"],
            ),
            ("status IN (New, \"In Progress\")", vec!["stateIN1,2"]),
            ("assignee = EMPTY", vec!["assigned_to.emailISEMPTY"]),
            ("status = New OR status = Closed", vec![]),
            ("status = Unknown", vec![]),
            (
                "project = incident AND cf.assignment_group ~ desk",
                vec!["assignment_group.nameLIKEdesk"],
            ),
        ];
        for (trigger, want) in cases {
            let filter = Filter::parse(trigger).unwrap_or_else(|e| panic!("{trigger}: {e}"));
            assert_eq!(encode(&filter, &codes), want, "{trigger}");
        }
    }

    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        let link = "<https://x/api/now/table/incident?sysparm_limit=2&sysparm_offset=0>;rel=\"first\",<https://x/api/now/table/incident?sysparm_limit=2&sysparm_offset=2>;rel=\"next\",<https://x/api/now/table/incident?sysparm_limit=2&sysparm_offset=4>;rel=\"last\"";
        let next = next_link(Some(link));
        assert_eq!(next.as_deref().and_then(offset_of).as_deref(), Some("2"));
        assert_eq!(next_link(Some("<https://x?a=1>;rel=\"last\"")), None);
        assert_eq!(next_link(None), None);
    }
}
