//! The fake Salesforce's state: the objects (Case, CaseComment, ContentVersion, User,
//! RecordType, Group for queues) as JSON records, their fields (the schema a query and a
//! write are checked against, case-insensitively as Salesforce names fields), Ids in
//! Salesforce's shape, the Case picklists, sessions and query cursors.

use super::{FakeOptions, Fault};
use crate::plumbing::{Traffic, now_ms};
use crate::server::Shared;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

pub type Record = Map<String, Value>;

/// Standard Case fields the fake has; the setup's fields and the options' custom ones are
/// added to them.
const CASE_FIELDS: [&str; 17] = [
    "Id",
    "CaseNumber",
    "Subject",
    "Description",
    "Status",
    "Priority",
    "Origin",
    "Type",
    "OwnerId",
    "SuppliedEmail",
    "SuppliedName",
    "RecordTypeId",
    "IsClosed",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "SystemModstamp",
];

/// The one-time setup's fields on Case (README), and the labels multi-select picklist.
pub const SETUP_FIELDS: [&str; 4] = [
    "Twinsync_Origin__c",
    "Twinsync_Link__c",
    "Twinsync_Status__c",
    "Twinsync_Labels__c",
];

/// Fields a write cannot set.
pub(super) const READ_ONLY: [&str; 9] = [
    "Id",
    "CaseNumber",
    "IsClosed",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "SystemModstamp",
    "ContentSize",
    "IsLatest",
];

/// The Case picklists: (field, values), as a new org has them.
pub(super) const PICKLISTS: [(&str, &[&str]); 4] = [
    ("Status", &["New", "Working", "Escalated", "Closed"]),
    ("Priority", &["High", "Medium", "Low"]),
    ("Origin", &["Phone", "Email", "Web"]),
    (
        "Type",
        &[
            "Mechanical",
            "Electrical",
            "Electronic",
            "Structural",
            "Other",
            "Problem",
        ],
    ),
];

/// Relationship names: (object, relationship, the Id field, the object it points to).
pub(super) const RELATIONSHIPS: [(&str, &str, &str); 4] = [
    ("Owner", "OwnerId", "User"),
    ("RecordType", "RecordTypeId", "RecordType"),
    ("CreatedBy", "CreatedById", "User"),
    ("Parent", "ParentId", "Case"),
];

/// The fields of `object` with the options' extras; None for an object the fake lacks.
pub(super) fn fields(options: &FakeOptions, object: &str) -> Option<Vec<String>> {
    let list: Vec<&str> = match object {
        "Case" => CASE_FIELDS
            .iter()
            .chain(SETUP_FIELDS.iter())
            .copied()
            .collect(),
        "CaseComment" => vec![
            "Id",
            "ParentId",
            "CommentBody",
            "IsPublished",
            "CreatedDate",
            "CreatedById",
            "LastModifiedDate",
            "SystemModstamp",
        ],
        "ContentVersion" => vec![
            "Id",
            "ContentDocumentId",
            "Title",
            "PathOnClient",
            "VersionData",
            "ContentSize",
            "FirstPublishLocationId",
            "IsLatest",
            "CreatedDate",
            "CreatedById",
            "SystemModstamp",
        ],
        "User" => vec!["Id", "Username", "Email", "Name", "IsActive"],
        "RecordType" => vec!["Id", "DeveloperName", "Name", "SobjectType", "IsActive"],
        "Group" => vec!["Id", "Name", "Email", "Type"],
        _ => return None,
    };
    let mut out: Vec<String> = list.into_iter().map(str::to_string).collect();
    if object == "Case" {
        out.extend(options.custom_fields.iter().cloned());
    }
    Some(out)
}

/// The Id prefix of each object (Salesforce's key prefixes).
fn prefix(object: &str) -> &'static str {
    match object {
        "Case" => "500",
        "CaseComment" => "00a",
        "ContentVersion" => "068",
        "ContentDocument" => "069",
        "User" => "005",
        "RecordType" => "012",
        "Group" => "00G",
        _ => "001",
    }
}

/// Salesforce's date-time format in JSON: UTC, to the second, with `.000+0000`.
pub(super) fn stamp(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms - ms.rem_euclid(1_000))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S.000+0000").to_string())
        .unwrap_or_default()
}

pub(super) struct Session {
    pub(super) user_id: String,
    pub(super) expires_ms: i64,
}

#[derive(Default)]
pub struct Data {
    pub(super) objects: HashMap<String, Vec<Record>>,
    pub(super) next_id: u64,
    pub(super) case_numbers: u64,
    pub(super) sessions: HashMap<String, Session>,
    /// Query locators → the query's total size and the records not sent yet.
    pub(super) cursors: HashMap<String, (usize, Vec<Value>)>,
    /// Calls counted against the daily allocation.
    pub(super) api_usage: u64,
    /// Where Outbound Messages go (the endpoint set up in the org), if anywhere.
    pub(super) outbound_url: Option<String>,
    /// Outbound Message notifications sent, for their Ids.
    pub(super) notifications: u64,
    /// An agent's save that lands just before the next API update of a Case:
    /// (Case Id, field, value).
    pub(super) edit_before_patch: Option<(String, String, String)>,
    /// The bytes of each ContentVersion.
    pub(super) files: HashMap<String, Vec<u8>>,
}

impl Data {
    pub(super) fn id(&mut self, object: &str) -> String {
        self.next_id += 1;
        format!("{}FK{:010}AAA", prefix(object), self.next_id)
    }

    pub(super) fn all(&self, object: &str) -> &[Record] {
        self.objects
            .get(object)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub(super) fn find(&self, object: &str, id: &str) -> Option<&Record> {
        self.all(object).iter().find(|r| r["Id"] == json!(id))
    }

    pub(super) fn find_mut(&mut self, object: &str, id: &str) -> Option<&mut Record> {
        self.objects
            .get_mut(object)?
            .iter_mut()
            .find(|r| r["Id"] == json!(id))
    }

    pub(super) fn insert(&mut self, object: &str, record: Record) {
        self.objects
            .entry(object.to_string())
            .or_default()
            .push(record);
    }

    /// The value of `field` on `record` of `object`, relationships followed
    /// (`Owner.Email`); `None` when the field does not exist.
    pub(super) fn value(
        &self,
        options: &FakeOptions,
        object: &str,
        record: &Record,
        field: &str,
    ) -> Option<Value> {
        match field.split_once('.') {
            None => {
                let name = canonical(options, object, field)?;
                Some(record.get(&name).cloned().unwrap_or(Value::Null))
            }
            Some((rel, rest)) => {
                let (_, id_field, target) = RELATIONSHIPS
                    .iter()
                    .find(|(r, _, _)| r.eq_ignore_ascii_case(rel))?;
                canonical(options, object, id_field)?;
                let id = record.get(*id_field).and_then(Value::as_str).unwrap_or("");
                // An owner may be a queue (a Group).
                let target = if *target == "User" && id.starts_with("00G") {
                    "Group"
                } else {
                    target
                };
                if target == "Group"
                    && !rest.eq_ignore_ascii_case("Email")
                    && !rest.eq_ignore_ascii_case("Name")
                {
                    return Some(Value::Null);
                }
                match self.find(target, id) {
                    Some(r) => self.value(options, target, r, rest),
                    None => fields(options, target)
                        .filter(|f| f.iter().any(|f| f.eq_ignore_ascii_case(rest)))
                        .map(|_| Value::Null),
                }
            }
        }
    }

    /// A record as the REST API answers it: `attributes`, then the fields asked for,
    /// relationships as nested objects.
    pub(super) fn render(
        &self,
        options: &FakeOptions,
        version: &str,
        object: &str,
        record: &Record,
        wanted: &[String],
    ) -> Value {
        let id = record.get("Id").and_then(Value::as_str).unwrap_or("");
        let mut out = Map::new();
        out.insert("attributes".into(), attributes(version, object, id));
        for field in wanted {
            let value = self
                .value(options, object, record, field)
                .unwrap_or(Value::Null);
            match field.split_once('.') {
                None => {
                    let name = canonical(options, object, field).unwrap_or_else(|| field.clone());
                    out.insert(name, value);
                }
                Some((rel, rest)) => {
                    let (rel_name, id_field, target) = RELATIONSHIPS
                        .iter()
                        .find(|(r, _, _)| r.eq_ignore_ascii_case(rel))
                        .copied()
                        .unwrap_or(("Owner", "OwnerId", "User"));
                    let related = record.get(id_field).and_then(Value::as_str).unwrap_or("");
                    if related.is_empty() {
                        out.insert(rel_name.into(), Value::Null);
                        continue;
                    }
                    let target = if target == "User" && related.starts_with("00G") {
                        "Name"
                    } else {
                        target
                    };
                    let entry = out.entry(rel_name.to_string()).or_insert_with(
                        || json!({ "attributes": attributes(version, target, related) }),
                    );
                    if let Some(o) = entry.as_object_mut() {
                        o.insert(canonical_or(options, target, rest), value);
                    }
                }
            }
        }
        Value::Object(out)
    }
}

fn canonical_or(options: &FakeOptions, object: &str, field: &str) -> String {
    let object = if object == "Name" { "Group" } else { object };
    canonical(options, object, field).unwrap_or_else(|| field.to_string())
}

pub(super) fn attributes(version: &str, object: &str, id: &str) -> Value {
    json!({ "type": object, "url": format!("/services/data/v{version}/sobjects/{object}/{id}") })
}

/// The field's name as the object spells it, for a name in any case.
pub(super) fn canonical(options: &FakeOptions, object: &str, field: &str) -> Option<String> {
    fields(options, object)?
        .into_iter()
        .find(|f| f.eq_ignore_ascii_case(field))
}

pub(super) type Fake = Shared<FakeOptions, Data, Fault>;

/// The state of a fake at `base`: its users, queue and record types.
pub(super) fn fake(base: String, options: FakeOptions) -> Fake {
    let mut data = Data::default();
    for u in &options.users {
        let id = data.id("User");
        data.insert("User", record(json!({"Id": id, "Username": u.username, "Email": u.email, "Name": u.name, "IsActive": true})));
    }
    let queue = data.id("Group");
    data.insert("Group", record(json!({"Id": queue, "Name": "Support Queue", "Email": "support@fake.example", "Type": "Queue"})));
    for name in &options.record_types {
        let id = data.id("RecordType");
        data.insert("RecordType", record(json!({"Id": id, "DeveloperName": name, "Name": name, "SobjectType": "Case", "IsActive": true})));
    }
    data.outbound_url = options.outbound_url.clone();
    let traffic = Traffic::start("Salesforce", 64 << 20, 64 << 20);
    Shared::new(base, options, data, traffic)
}

pub(super) fn record(v: Value) -> Record {
    match v {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

/// Now, as Salesforce stamps records.
pub(super) fn now_stamp() -> String {
    stamp(now_ms())
}

/// `/sobjects/Case/describe`, the part clients read: each field's name, type, External ID
/// flag and picklist values.
pub(super) fn describe(options: &FakeOptions) -> Value {
    let mut list = Vec::new();
    for name in fields(options, "Case").unwrap_or_default() {
        let picklist = PICKLISTS
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, v)| v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let labels = (name == "Twinsync_Labels__c").then(|| options.labels.clone());
        let kind = match name.as_str() {
            "Id" | "OwnerId" | "RecordTypeId" | "CreatedById" => "reference",
            "Description" => "textarea",
            "IsClosed" => "boolean",
            "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => "datetime",
            "Twinsync_Link__c" => "url",
            "SuppliedEmail" => "email",
            "Twinsync_Labels__c" => "multipicklist",
            _ if picklist.is_some() => "picklist",
            _ => "string",
        };
        let values: Vec<Value> = picklist
            .or(labels)
            .unwrap_or_default()
            .iter()
            .map(|v| json!({"active": true, "defaultValue": false, "label": v, "validFor": null, "value": v}))
            .collect();
        list.push(json!({
            "name": name,
            "type": kind,
            "externalId": name == "Twinsync_Origin__c",
            "unique": name == "Twinsync_Origin__c",
            "picklistValues": values,
        }));
    }
    json!({ "name": "Case", "label": "Case", "fields": list })
}
