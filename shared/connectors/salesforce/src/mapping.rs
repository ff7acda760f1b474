//! Salesforce's JSON to the domain `Item`, and the domain's names to picklist values.
//!
//! A Case's Description and CaseComment bodies are plain text: Markdown from the other side
//! is kept as its source text, which reads as plain text and comes back unchanged.
//! Picklists (`Status`, `Priority`, `Origin`, `Type`) hold the values of
//! `/sobjects/Case/describe`; a name outside them is refused, not written.
//!
//! Origin marker: an External ID text field on Case (`Twinsync_Origin__c` by default,
//! created once, see README). Salesforce: "External ID: a custom field that has the
//! External ID attribute, meaning that it contains unique record identifiers from a system
//! outside of Salesforce … it is indexed" and can be queried by value
//! (<https://help.salesforce.com/s/articleView?id=sf.custom_field_attributes.htm>,
//! <https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_conditionexpression.htm>).
//! A twin is found again with `SELECT Id FROM Case WHERE Twinsync_Origin__c = '<marker>'`.
//! CaseComment has no custom fields: a comment's marker is the last line of its body.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use twinsync_core::{Attachment, Comment, Item, ItemUpdate, Named, User};
use twinsync_ports::PortError;
use twinsync_ports::SyncMark;

/// Standard Case fields every read asks for.
pub const FIELDS: [&str; 16] = [
    "Id",
    "CaseNumber",
    "Subject",
    "Description",
    "Status",
    "Priority",
    "Origin",
    "Type",
    "OwnerId",
    "Owner.Email",
    "Owner.Name",
    "SuppliedEmail",
    "SuppliedName",
    "RecordType.DeveloperName",
    "SystemModstamp",
    "LastModifiedDate",
];

/// The standard picklists an item shows as custom fields.
pub const PICKLIST_FIELDS: [&str; 2] = ["Origin", "Type"];

/// The project of a Case without a record type.
pub const NO_RECORD_TYPE: &str = "Case";

/// What the org's setup and the connector's options name.
pub struct Context<'a> {
    pub instance_url: &'a str,
    pub origin_field: &'a str,
    pub labels_field: Option<&'a str>,
    pub custom_fields: &'a [String],
}

/// A field's value as text; empty when absent or null. Dotted names read relationships.
pub fn field(record: &Value, name: &str) -> String {
    let mut v = record;
    for part in name.split('.') {
        v = &v[part];
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// The Case's web address in Lightning Experience.
pub fn case_url(instance_url: &str, id: &str) -> String {
    format!("{instance_url}/lightning/r/Case/{id}/view")
}

/// A Case record read as an item.
pub fn to_item(
    cx: &Context<'_>,
    record: &Value,
    comments: Vec<Comment>,
    attachments: Vec<Attachment>,
) -> Item {
    let text = |name: &str| field(record, name);
    let named = |name: &str| Some(text(name)).filter(|s| !s.is_empty()).map(Named::new);
    let person = |email: String, name: String| {
        (!email.is_empty()).then_some(User {
            email,
            display_name: name,
        })
    };
    // OwnerId is a user (005…) or a queue (00G…); only a user is an assignee.
    let assignee = text("OwnerId")
        .starts_with("005")
        .then(|| person(text("Owner.Email"), text("Owner.Name")))
        .flatten();
    let mut custom_fields = BTreeMap::new();
    for name in PICKLIST_FIELDS
        .iter()
        .copied()
        .chain(cx.custom_fields.iter().map(String::as_str))
    {
        if let Some(v) = record.get(name).filter(|v| !v.is_null()) {
            custom_fields.insert(name.to_string(), v.clone());
        }
    }
    let labels = cx
        .labels_field
        .map(|f| {
            text(f)
                .split(';')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    // A comment moves its own stamps, not its Case's: the item changed at the latest.
    let stamp = record["CaseComments"]["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| crate::soql::millis(c["SystemModstamp"].as_str().unwrap_or("")))
        .fold(crate::soql::millis(&text("SystemModstamp")), i64::max);
    let project = match text("RecordType.DeveloperName") {
        t if t.is_empty() => NO_RECORD_TYPE.to_string(),
        t => t,
    };
    Item {
        key: text("Id"),
        url: case_url(cx.instance_url, &text("Id")),
        project,
        summary: text("Subject"),
        description: text("Description"),
        status: named("Status"),
        priority: named("Priority"),
        labels,
        assignee,
        reporter: person(text("SuppliedEmail"), text("SuppliedName")),
        comments,
        attachments,
        custom_fields,
        version: u64::try_from(stamp).unwrap_or(0),
        updated_ms: stamp,
        origin: Some(text(cx.origin_field)).filter(|o| !o.is_empty()),
    }
}

const MARK_OPEN: &str = "[twinsync-origin: ";
const MARK_CLOSE: &str = "]";

/// A comment body with its origin marker on a last line of its own.
pub fn with_marker(body: &str, origin: Option<&str>) -> String {
    match origin {
        Some(o) if !o.is_empty() => format!("{body}\n\n{MARK_OPEN}{o}{MARK_CLOSE}"),
        _ => body.to_string(),
    }
}

/// A comment's text and its origin marker, if its last line is one.
pub fn split_marker(text: &str) -> (String, Option<String>) {
    let trimmed = text.trim_end();
    if let Some((body, last)) = trimmed.rsplit_once('\n')
        && let Some(origin) = last
            .trim()
            .strip_prefix(MARK_OPEN)
            .and_then(|r| r.strip_suffix(MARK_CLOSE))
        && !origin.is_empty()
    {
        return (body.trim_end().to_string(), Some(origin.to_string()));
    }
    (text.to_string(), None)
}

/// A CaseComment: `IsPublished` false is a private comment, an internal one here.
pub fn comment(row: &Value) -> Comment {
    let (body, origin) = split_marker(&field(row, "CommentBody"));
    let email = field(row, "CreatedBy.Email");
    Comment {
        id: field(row, "Id"),
        author: (!email.is_empty()).then(|| User {
            email,
            display_name: field(row, "CreatedBy.Name"),
        }),
        body,
        created_ms: crate::soql::millis(&field(row, "CreatedDate")),
        origin,
        remote_id: None,
        internal: row["IsPublished"] == Value::Bool(false),
    }
}

/// A ContentVersion as an attachment; its content is at `.../VersionData`.
pub fn attachment(row: &Value, instance_url: &str, data_path: &str) -> Attachment {
    let id = field(row, "Id");
    let filename = match field(row, "PathOnClient") {
        p if p.is_empty() => field(row, "Title"),
        p => p,
    };
    Attachment {
        url: format!("{instance_url}{data_path}/sobjects/ContentVersion/{id}/VersionData"),
        id,
        filename,
        mime_type: String::new(),
        size: row["ContentSize"].as_u64().unwrap_or(0),
        remote_id: None,
    }
}

/// Case's fields as `/sobjects/Case/describe` lists them: picklist values (active ones)
/// and which fields exist, with their type and External ID flag.
#[derive(Debug, Clone, Default)]
pub struct Describe {
    pub picklists: BTreeMap<String, Vec<String>>,
    pub fields: BTreeMap<String, (String, bool)>,
}

impl Describe {
    pub fn from_json(v: &Value) -> Describe {
        let mut d = Describe::default();
        for f in v["fields"].as_array().into_iter().flatten() {
            let name = field(f, "name");
            let kind = field(f, "type");
            if kind == "picklist" || kind == "multipicklist" {
                let values = f["picklistValues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["active"] != Value::Bool(false))
                    .map(|p| field(p, "value"))
                    .collect();
                d.picklists.insert(name.clone(), values);
            }
            d.fields
                .insert(name, (kind, f["externalId"] == Value::Bool(true)));
        }
        d
    }

    /// The picklist value `name` stands for (same text, any case), or the values there are.
    pub fn value(&self, field: &str, name: &str) -> Result<String, String> {
        let values = self
            .picklists
            .get(field)
            .map(Vec::as_slice)
            .unwrap_or_default();
        values
            .iter()
            .find(|v| v.eq_ignore_ascii_case(name.trim()))
            .cloned()
            .ok_or_else(|| values.join(", "))
    }

    /// What is wrong with the org's one-time setup, if anything.
    pub fn setup_problem(&self, origin: &str, link: &str, status: &str) -> Option<String> {
        let need = [
            (origin, "Text (External ID)"),
            (link, "URL"),
            (status, "Text"),
        ];
        let missing: Vec<String> = need
            .iter()
            .filter(|(name, _)| !self.fields.contains_key(*name))
            .map(|(name, kind)| format!("{name} ({kind})"))
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "the Case object has no field {}: create it once in Setup > Object Manager > Case > Fields (see the README's Salesforce section)",
                missing.join(", ")
            ));
        }
        match self.fields.get(origin) {
            Some((_, true)) => None,
            _ => Some(format!(
                "{origin} must be marked External ID, so a twin is found again by an indexed query"
            )),
        }
    }
}

/// What the status field says (a Text(255) field, one line).
pub fn status_text(mark: &SyncMark) -> String {
    mark.line(255)
}

/// What a write needs besides the update: the picklists and the configured fields.
pub struct WriteContext<'a> {
    pub describe: &'a Describe,
    pub labels_field: Option<&'a str>,
    pub custom_fields: &'a [String],
}

/// The picklist value of `field` for `name`, or a refusal that lists the values.
fn picklist(d: &Describe, field: &str, name: &str) -> Result<String, PortError> {
    d.value(field, name).map_err(|values| {
        PortError::Rejected(format!(
            "the Case {field} picklist has no value {name:?}; its values are {values}"
        ))
    })
}

/// The JSON body of a Case create or update for `update`, owner aside (it needs a query).
pub fn write_body(
    cx: &WriteContext<'_>,
    update: &ItemUpdate,
) -> Result<Map<String, Value>, PortError> {
    let mut body = Map::new();
    if let Some(s) = &update.summary {
        // Subject holds 255 characters.
        body.insert(
            "Subject".into(),
            json!(s.chars().take(255).collect::<String>()),
        );
    }
    if let Some(d) = &update.description {
        body.insert("Description".into(), json!(d));
    }
    if let Some(status) = update.status.as_deref().filter(|s| !s.is_empty()) {
        body.insert(
            "Status".into(),
            json!(picklist(cx.describe, "Status", status)?),
        );
    }
    if let Some(priority) = update.priority.as_deref().filter(|p| !p.is_empty()) {
        body.insert(
            "Priority".into(),
            json!(picklist(cx.describe, "Priority", priority)?),
        );
    }
    for (name, value) in update.custom_fields.iter().flatten() {
        if PICKLIST_FIELDS.contains(&name.as_str()) {
            let v = match value.as_str() {
                Some(s) if !s.is_empty() => json!(picklist(cx.describe, name, s)?),
                _ => Value::Null,
            };
            body.insert(name.clone(), v);
        } else if cx.custom_fields.contains(name) {
            body.insert(name.clone(), value.clone());
        }
    }
    if let (Some(labels), Some(field)) = (&update.labels, cx.labels_field) {
        // Labels outside the multi-select picklist are left out rather than refused: one
        // stray label should not stop the sync of a Case.
        let known: Vec<String> = labels
            .iter()
            .filter_map(|l| cx.describe.value(field, l).ok())
            .collect();
        body.insert(field.to_string(), json!(known.join(";")));
    }
    Ok(body)
}
