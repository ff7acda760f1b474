//! Finding an issue again by its origin marker (after a crash between a create and the
//! twin's record, or after a wiped twin store) on a Jira Cloud site with no app installed.
//!
//! The marker's truth is the issue entity property `twinsync-origin`, written in the
//! create request itself. JQL cannot search it: Jira Cloud indexes an entity property
//! only when an installed app's descriptor declares it (Connect `jiraEntityProperties`:
//! <https://developer.atlassian.com/cloud/jira/platform/modules/entity-property/>; Forge
//! `jira:entityProperty`:
//! <https://developer.atlassian.com/platform/forge/manifest-reference/modules/jira-entity-property/>), and
//! JQL naming any other property is a 400 ("Field ... does not exist or you do not have
//! permission to view it"). So candidates are searched through what Jira indexes by
//! itself, and each candidate's property is compared exactly before it is returned:
//!
//! - With `origin_field`, a Short text custom field an admin made (and put on the create
//!   screen) holds a token derived from the origin, written in the same create request,
//!   so no crash leaves an issue without it. Text fields are searched with `~`, which is
//!   fuzzy (stemming, words in any order:
//!   <https://support.atlassian.com/jira-software-cloud/docs/search-syntax-for-text-fields/>),
//!   and people can edit or copy the field; the property check makes a near-match or a
//!   copy harmless. It finds an issue of any age.
//! - Without it, the candidates are the issues this account created in the last
//!   `origin_lookback_minutes` (`creator = currentUser() AND created >= "-Nm"`; nobody can
//!   change an issue's creator: <https://support.atlassian.com/jira-software-cloud/docs/jql-fields/>),
//!   read as ids with the property, up to 5,000 a page (enhanced search:
//!   <https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-post>).
//!   That covers a create that crashed and its retries on any site; an issue older than
//!   the window (a twin store wiped long after) is not found and is created anew.

use crate::client::jql_string;
use crate::mapping::{ORIGIN_PROPERTY, origin_of};
use serde_json::Value;

/// The custom field type the origin field must have: "Short text (plain text only)", one
/// line that `~` searches word by word.
const TEXT_FIELD: &str = "com.atlassian.jira.plugin.system.customfieldtypes:textfield";

/// How find-again searches on this site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginSearch {
    /// The custom field: id (`customfield_10050`), JQL clause name (`cf[10050]`) and name.
    Field {
        id: String,
        clause: String,
        name: String,
    },
    /// Issues this account created in the last `minutes`.
    Recent { minutes: u32 },
}

impl OriginSearch {
    /// Whether the custom field `id_or_name` is the origin field (kept out of items and
    /// never written from them).
    pub fn is_origin_field(&self, id_or_name: &str) -> bool {
        matches!(self, OriginSearch::Field { id, name, .. }
            if id == id_or_name || name.eq_ignore_ascii_case(id_or_name))
    }

    /// The JQL that finds the candidates for `origin` in `project`, oldest first.
    pub fn candidates(&self, project: &str, origin: &str) -> String {
        let project = jql_string(project);
        match self {
            OriginSearch::Field { clause, .. } => format!(
                "project = {project} AND {clause} ~ {} ORDER BY created ASC",
                jql_string(&origin_token(origin))
            ),
            OriginSearch::Recent { minutes } => format!(
                "project = {project} AND creator = currentUser() AND created >= \"-{minutes}m\" ORDER BY created ASC"
            ),
        }
    }
}

/// The searchable stand-in for `origin`: a hash as one word, which Jira's text search
/// keeps whole (origins hold `:`, `/` and `#`, which it would split and reserve).
pub fn origin_token(origin: &str) -> String {
    let hex = twinsync_connector_kit::http::hmac_sha256_hex(ORIGIN_PROPERTY, &[origin.as_bytes()]);
    format!("twinsync{}", &hex[..32.min(hex.len())])
}

/// The search for `origin_field` (an id or a name) among `fields` (`GET /rest/api/3/field`),
/// or the recent creates without one; the error says what an admin has to fix.
pub fn resolve(
    fields: &Value,
    origin_field: Option<&str>,
    minutes: u32,
) -> Result<OriginSearch, String> {
    let Some(wanted) = origin_field.map(str::trim).filter(|w| !w.is_empty()) else {
        return Ok(OriginSearch::Recent { minutes });
    };
    let found = fields.as_array().and_then(|list| {
        list.iter().find(|f| {
            f["custom"].as_bool() == Some(true)
                && (f["id"].as_str() == Some(wanted)
                    || f["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(wanted)))
        })
    });
    let Some(field) = found else {
        return Err(format!(
            "origin_field {wanted:?}: no such custom field on this Jira site. An admin creates a \"Short text (plain text only)\" custom field (e.g. \"Twinsync Origin\") and adds it to the create screen of the project's issue type; or leave origin_field out to find issues again only among recent creates"
        ));
    };
    let id = field["id"].as_str().unwrap_or(wanted).to_string();
    let kind = field["schema"]["custom"].as_str().unwrap_or("unknown");
    if kind != TEXT_FIELD {
        return Err(format!(
            "origin_field {wanted:?} ({id}) is of type {kind}; it must be a \"Short text (plain text only)\" field ({TEXT_FIELD})"
        ));
    }
    if field["searchable"].as_bool() == Some(false) {
        return Err(format!(
            "origin_field {wanted:?} ({id}) is not searchable: give it a search template in Jira's custom field settings"
        ));
    }
    let clause = field["clauseNames"]
        .as_array()
        .and_then(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .find(|c| c.starts_with("cf["))
        })
        .map(str::to_string)
        .unwrap_or_else(|| format!("cf[{}]", id.trim_start_matches("customfield_")));
    Ok(OriginSearch::Field {
        name: field["name"].as_str().unwrap_or(&id).to_string(),
        id,
        clause,
    })
}

/// The keys of a search page's issues whose origin property is exactly `origin`, in order.
pub fn verified(page: &Value, origin: &str) -> Vec<String> {
    page["issues"]
        .as_array()
        .map(|issues| {
            issues
                .iter()
                .filter(|i| origin_of(&i["properties"]).as_deref() == Some(origin))
                .filter_map(|i| i["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(id: &str, name: &str, custom: &str, searchable: bool) -> Value {
        let n = id.trim_start_matches("customfield_");
        json!({"id": id, "name": name, "custom": true, "searchable": searchable,
            "clauseNames": [format!("cf[{n}]"), name],
            "schema": {"type": "string", "custom": custom}})
    }

    #[test]
    fn the_origin_field_is_checked_at_start() {
        let select = "com.atlassian.jira.plugin.system.customfieldtypes:select";
        let fields = json!([
            {"id": "summary", "name": "Summary", "custom": false},
            field("customfield_10050", "Twinsync Origin", TEXT_FIELD, true),
            field("customfield_10051", "Team", select, true),
            field("customfield_10052", "Hidden", TEXT_FIELD, false),
        ]);
        let origin = OriginSearch::Field {
            id: "customfield_10050".into(),
            clause: "cf[10050]".into(),
            name: "Twinsync Origin".into(),
        };
        let cases: [(Option<&str>, Result<OriginSearch, &str>); 6] = [
            (None, Ok(OriginSearch::Recent { minutes: 90 })),
            (Some("twinsync origin"), Ok(origin.clone())),
            (Some("customfield_10050"), Ok(origin)),
            (Some("Origin"), Err("no such custom field")),
            (Some("Team"), Err("must be a \"Short text")),
            (Some("Hidden"), Err("not searchable")),
        ];
        for (wanted, want) in cases {
            match (resolve(&fields, wanted, 90), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{wanted:?}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{wanted:?}: {got}"),
                (got, want) => panic!("{wanted:?}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn candidates_are_searched_without_entity_properties_and_verified_exactly() {
        let recent = OriginSearch::Recent { minutes: 1440 };
        assert_eq!(
            recent.candidates("DEMO", "twinsync:c:o/r#1"),
            "project = \"DEMO\" AND creator = currentUser() AND created >= \"-1440m\" ORDER BY created ASC"
        );
        let token = origin_token("twinsync:c:o/r#1");
        assert!(token.starts_with("twinsync") && token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(token.len(), 40);
        assert_ne!(token, origin_token("twinsync:c:o/r#10"));
        let field = OriginSearch::Field {
            id: "customfield_10050".into(),
            clause: "cf[10050]".into(),
            name: "Twinsync Origin".into(),
        };
        assert_eq!(
            field.candidates("DEMO", "twinsync:c:o/r#1"),
            format!("project = \"DEMO\" AND cf[10050] ~ \"{token}\" ORDER BY created ASC")
        );
        let page = json!({"issues": [
            {"key": "DEMO-1", "properties": {ORIGIN_PROPERTY: {"origin": "twinsync:c:o/r#10"}}},
            {"key": "DEMO-2", "properties": {}},
            {"key": "DEMO-3", "properties": {ORIGIN_PROPERTY: {"origin": "twinsync:c:o/r#1"}}},
        ]});
        assert_eq!(verified(&page, "twinsync:c:o/r#1"), ["DEMO-3"]);
        assert!(verified(&page, "twinsync:c:o/r#2").is_empty());
    }
}
