//! Origin markers and the poll window, in what Azure DevOps supports.
//!
//! The origin marker is a tag, `twinsync-origin:<origin>`, written with the create, so no
//! crash leaves a work item unmarked. WIQL finds it again at any age with
//! `[System.Tags] CONTAINS '<tag>'` (tags compare as whole tags), through
//! `POST {org}/{project}/_apis/wit/wiql` — see
//! <https://learn.microsoft.com/en-us/azure/devops/boards/queries/wiql-syntax?view=azure-devops>
//! ("Query for tags") and
//! <https://learn.microsoft.com/en-us/rest/api/azure/devops/wit/wiql/query-by-wiql?view=azure-devops-rest-7.1>.
//! Tags cannot hold `;` or `,`, so those are replaced in the marker.

use crate::mapping::timestamp;

const TAG_PREFIX: &str = "twinsync-origin:";

/// The tag that marks a work item created from `origin`.
pub fn tag(origin: &str) -> String {
    format!("{TAG_PREFIX}{}", origin.replace([';', ','], "_"))
}

/// The origin a tag marks, if it is an origin tag.
pub fn from_tag(tag: &str) -> Option<String> {
    tag.strip_prefix(TAG_PREFIX)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
}

/// Whether a tag is the connector's own, not a label people set.
pub fn is_own_tag(tag: &str) -> bool {
    tag.starts_with(TAG_PREFIX)
}

/// A WIQL string literal.
pub fn wiql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The WIQL that finds the work item marked with `origin` in `project`.
pub fn find_query(project: &str, origin: &str) -> String {
    format!(
        "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = {} AND [System.Tags] CONTAINS {}",
        wiql_string(project),
        wiql_string(&tag(origin))
    )
}

/// The lower bound of a poll since `since_ms`. WIQL compares dates by day unless the
/// request says `timePrecision=true`, and then to the second: the window starts at the
/// cursor's second, and [`after_cursor`] drops what is older than the cursor, so an edit
/// later in the same second is read and one already sent is not sent again.
pub fn changed_since(since_ms: i64) -> Option<String> {
    if since_ms <= 0 {
        return None;
    }
    let second = since_ms - since_ms.rem_euclid(1_000);
    Some(format!(
        "[System.ChangedDate] >= {}",
        wiql_string(&timestamp(second))
    ))
}

/// Whether an item changed at `updated_ms` belongs to a poll since `since_ms`: the window
/// reaches back to the start of the second, this keeps it from re-sending.
pub fn after_cursor(updated_ms: i64, since_ms: i64) -> bool {
    updated_ms >= since_ms
}

/// The poll query: the trigger's WIQL condition (or the whole project) since the cursor,
/// oldest first.
pub fn poll_query(project: &str, condition: &str, since_ms: i64) -> String {
    let mut clauses = vec![format!("[System.TeamProject] = {}", wiql_string(project))];
    if !condition.trim().is_empty() {
        clauses.push(format!("({})", condition.trim()));
    }
    clauses.extend(changed_since(since_ms));
    format!(
        "SELECT [System.Id] FROM WorkItems WHERE {} ORDER BY [System.ChangedDate] ASC, [System.Id] ASC",
        clauses.join(" AND ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_queries_quote() {
        let t = tag("twinsync:c1:PROJ-1;x");
        assert_eq!(t, "twinsync-origin:twinsync:c1:PROJ-1_x");
        assert_eq!(from_tag(&t).as_deref(), Some("twinsync:c1:PROJ-1_x"));
        assert_eq!(from_tag("sync"), None);
        assert!(is_own_tag(&t) && !is_own_tag("sync"));
        assert_eq!(wiql_string("it's"), "'it''s'");
        assert!(find_query("My Proj", "o").contains("[System.Tags] CONTAINS 'twinsync-origin:o'"));
    }

    #[test]
    fn the_poll_window_starts_at_the_cursor_second() {
        assert_eq!(changed_since(0), None);
        assert_eq!(
            changed_since(1_700_000_000_123).as_deref(),
            Some("[System.ChangedDate] >= '2023-11-14T22:13:20.000Z'")
        );
        assert!(after_cursor(1_700_000_000_123, 1_700_000_000_123));
        assert!(!after_cursor(1_700_000_000_100, 1_700_000_000_123));
        let q = poll_query("Demo", "[System.Tags] CONTAINS 'sync'", 0);
        assert_eq!(
            q,
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = 'Demo' AND ([System.Tags] CONTAINS 'sync') ORDER BY [System.ChangedDate] ASC, [System.Id] ASC"
        );
    }
}
