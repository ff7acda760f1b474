//! A trigger's filter (twinsync's own small language, `labels = sync AND status != Closed`)
//! as a WIQL condition, so a poll asks Azure DevOps only for what the trigger can match.
//! The translation never leaves out an item the filter matches: what has no exact WIQL
//! form widens the query (an `AND` keeps its other side, an `OR` becomes everything),
//! and the poll checks every item against the filter itself afterwards.

use crate::mapping::{PRIORITY, STATE, TAGS, TITLE};
use crate::origin::wiql_string;
use twinsync_core::Filter;
use twinsync_core::trigger::Op;

/// The WIQL field a filter field compares exactly, if there is one.
fn wiql_field(field: &str) -> Option<String> {
    Some(match field {
        "project" => "System.TeamProject".into(),
        "summary" => TITLE.into(),
        "status" => STATE.into(),
        "priority" => PRIORITY.into(),
        "labels" => TAGS.into(),
        custom => {
            let name = custom.strip_prefix("cf.")?;
            // Only reference names are WIQL fields; names of the other tracker are not.
            if !name.contains('.') {
                return None;
            }
            name.to_string()
        }
    })
}

/// One comparison, if WIQL can say exactly the same.
fn compare(field: &str, op: Op, value: &str) -> Option<String> {
    let name = wiql_field(field)?;
    let literal = if name == PRIORITY {
        // Priorities are numbers; a name that is not one matches nothing, which WIQL
        // cannot say exactly, so it widens.
        value.trim().parse::<i64>().ok()?.to_string()
    } else {
        wiql_string(value)
    };
    let labels = field == "labels";
    Some(match op {
        // A tag list CONTAINS a whole tag, which is what `labels = x` means.
        Op::Eq if labels => format!("[{name}] CONTAINS {literal}"),
        Op::Ne if labels => format!("[{name}] NOT CONTAINS {literal}"),
        Op::Eq => format!("[{name}] = {literal}"),
        Op::Ne if field == "project" || field == "status" => format!("[{name}] <> {literal}"),
        Op::Contains if !labels && name != PRIORITY => format!("[{name}] CONTAINS {literal}"),
        _ => return None,
    })
}

/// The WIQL condition of `filter`; `None` when it has no narrowing form (everything).
pub fn translate(filter: &Filter) -> Option<String> {
    match filter {
        Filter::And(a, b) => match (translate(a), translate(b)) {
            (Some(x), Some(y)) => Some(format!("({x} AND {y})")),
            (one, other) => one.or(other),
        },
        Filter::Or(a, b) => Some(format!("({} OR {})", translate(a)?, translate(b)?)),
        // A negation is exact only over an exact translation; `exact` says so.
        Filter::Not(a) => exact(a).then(|| translate(a).map(|x| format!("NOT ({x})")))?,
        Filter::Cond { field, op, value } => compare(field, *op, value.as_deref()?),
        Filter::In {
            field,
            values,
            negated,
        } => {
            let parts: Vec<String> = values
                .iter()
                .map(|v| compare(field, Op::Eq, v))
                .collect::<Option<_>>()?;
            let any = format!("({})", parts.join(" OR "));
            Some(if *negated { format!("NOT {any}") } else { any })
        }
    }
}

/// Whether `translate` says exactly what the filter says (no widening anywhere).
fn exact(filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => exact(a) && exact(b),
        Filter::Not(a) => exact(a),
        Filter::Cond { .. } | Filter::In { .. } => translate(filter).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_wiql_that_never_leaves_out_a_match() {
        let table = [
            ("labels = sync", Some("[System.Tags] CONTAINS 'sync'")),
            (
                "project = \"Fabrikam Fiber\" AND labels = sync",
                Some("([System.TeamProject] = 'Fabrikam Fiber' AND [System.Tags] CONTAINS 'sync')"),
            ),
            (
                "status IN (New, Active)",
                Some("([System.State] = 'New' OR [System.State] = 'Active')"),
            ),
            (
                "summary ~ \"it's\"",
                Some("[System.Title] CONTAINS 'it''s'"),
            ),
            // Widened: the other side of an AND stays, an OR of something untranslatable
            // is everything, and so is a NOT over a widened part.
            (
                "labels = sync AND assignee = ana@example.com",
                Some("[System.Tags] CONTAINS 'sync'"),
            ),
            ("labels = sync OR assignee = ana@example.com", None),
            ("NOT (labels = sync AND labels ~ x)", None),
            (
                "NOT labels = sync",
                Some("NOT ([System.Tags] CONTAINS 'sync')"),
            ),
            ("priority = 2", Some("[Microsoft.VSTS.Common.Priority] = 2")),
            ("priority = High", None),
            // Filter field names come lower-cased; WIQL's reference names are case-insensitive.
            ("cf.Custom.Team = Red", Some("[custom.team] = 'Red'")),
            ("cf.milestone = v1", None),
        ];
        for (filter, want) in table {
            let parsed = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
            assert_eq!(translate(&parsed).as_deref(), want, "{filter}");
        }
    }
}
