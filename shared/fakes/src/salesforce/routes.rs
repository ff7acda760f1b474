//! The REST resources: `/query` (and `/query/{locator}` for the next page),
//! `/sobjects/{object}` to create, `/sobjects/{object}/{id}` to read (Case's `describe`
//! too), update and delete, and `/sobjects/ContentVersion/{id}/VersionData`. Writes are
//! checked as Salesforce checks them and answered with its error codes.

use super::guard::{caller_id, error, not_found};
use super::soql;
use super::state::{self, Data, Fake, PICKLISTS, READ_ONLY, Record, canonical, fields, now_stamp};
use crate::plumbing::Refusal;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type Params = HashMap<String, String>;

fn version(v: &str) -> String {
    v.trim_start_matches('v').to_string()
}

fn refuse(code: &str, message: &str) -> Refusal {
    Box::new(bad(code, message))
}

fn bad(code: &str, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, code, message)
}

/// The writable object named in a path, as Salesforce spells it.
fn writable(object: &str) -> Option<&'static str> {
    ["Case", "CaseComment", "ContentVersion"]
        .into_iter()
        .find(|o| o.eq_ignore_ascii_case(object))
}

/// Checks a write's fields and gives them in their canonical names, or the error.
fn check_fields(
    fake: &Fake,
    data: &Data,
    object: &str,
    id: Option<&str>,
    body: &Value,
) -> Result<Record, Refusal> {
    let Some(map) = body.as_object() else {
        return Err(refuse(
            "JSON_PARSER_ERROR",
            "The request body must be a JSON object",
        ));
    };
    let options = &fake.options;
    let mut out = Record::new();
    for (k, v) in map {
        let Some(name) = canonical(options, object, k) else {
            return Err(refuse(
                "INVALID_FIELD",
                &format!("No such column '{k}' on sobject of type {object}"),
            ));
        };
        if READ_ONLY.contains(&name.as_str()) || (id.is_some() && name == "ParentId") {
            return Err(refuse(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                &format!(
                    "Unable to create/update fields: {name}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."
                ),
            ));
        }
        let text = v.as_str().unwrap_or("");
        if let Some((_, values)) = PICKLISTS.iter().find(|(f, _)| *f == name)
            && !v.is_null()
            && !values.contains(&text)
        {
            return Err(refuse(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                &format!("{name}: bad value for restricted picklist field: {text}"),
            ));
        }
        if name == "Twinsync_Labels__c"
            && let Some(l) = text
                .split(';')
                .find(|l| !l.is_empty() && !options.labels.iter().any(|x| x == l))
        {
            return Err(refuse(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                &format!("{name}: bad value for restricted picklist field: {l}"),
            ));
        }
        let reference = |target: &[&str]| target.iter().any(|t| data.find(t, text).is_some());
        let bad_ref = match name.as_str() {
            "OwnerId" => !reference(&["User", "Group"]),
            "RecordTypeId" => !reference(&["RecordType"]),
            "ParentId" | "FirstPublishLocationId" => !reference(&["Case"]),
            _ => false,
        };
        if bad_ref {
            return Err(refuse(
                "INVALID_CROSS_REFERENCE_KEY",
                &format!("invalid cross reference id: {name}"),
            ));
        }
        if name == "Twinsync_Origin__c"
            && !text.is_empty()
            && let Some(other) = data
                .all("Case")
                .iter()
                .find(|c| c[&name] == json!(text) && Some(c["Id"].as_str().unwrap_or("")) != id)
        {
            return Err(refuse(
                "DUPLICATE_VALUE",
                &format!(
                    "duplicate value found: {name} duplicates value on record with id: {}",
                    other["Id"].as_str().unwrap_or("")
                ),
            ));
        }
        if name == "CommentBody" && text.chars().count() > 4_000 {
            return Err(refuse("STRING_TOO_LONG", "Body: data value too large"));
        }
        if name == "Subject" && text.chars().count() > 255 {
            return Err(refuse("STRING_TOO_LONG", "Subject: data value too large"));
        }
        out.insert(name, v.clone());
    }
    Ok(out)
}

/// Moves a Case's stamps to now and sends its Outbound Message.
fn touch(fake: &Fake, data: &mut Data, case_id: &str) {
    let now = now_stamp();
    if let Some(case) = data.find_mut("Case", case_id) {
        case.insert("LastModifiedDate".into(), json!(now));
        case.insert("SystemModstamp".into(), json!(now));
        let closed = case.get("Status") == Some(&json!("Closed"));
        case.insert("IsClosed".into(), json!(closed));
        let case = case.clone();
        fake.outbound(data, &case);
    }
}

pub(super) async fn create(
    State(fake): State<Arc<Fake>>,
    Path((v, object)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let Some(object) = writable(&object) else {
        return bad("NOT_FOUND", "The requested resource does not exist");
    };
    let mut data = fake.lock();
    let mut record = match check_fields(&fake, &data, object, None, &body) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let id = data.id(object);
    let now = now_stamp();
    let caller = caller_id(&headers);
    for (k, v) in [
        ("Id", json!(id)),
        ("CreatedDate", json!(now)),
        ("CreatedById", json!(caller)),
        ("SystemModstamp", json!(now)),
    ] {
        record.insert(k.into(), v);
    }
    match object {
        "Case" => {
            data.case_numbers += 1;
            record.insert(
                "CaseNumber".into(),
                json!(format!("{:08}", 1_000 + data.case_numbers)),
            );
            record.entry("Status").or_insert(json!("New"));
            record.entry("Priority").or_insert(json!("Medium"));
            record.entry("OwnerId").or_insert(json!(caller));
            record.insert("LastModifiedDate".into(), json!(now));
            data.insert("Case", record);
            touch(&fake, &mut data, &id);
        }
        "CaseComment" => {
            let Some(parent) = record.get("ParentId").and_then(Value::as_str) else {
                return bad(
                    "REQUIRED_FIELD_MISSING",
                    "Required fields are missing: [ParentId]",
                );
            };
            if data.find("Case", parent).is_none() {
                return bad("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id");
            }
            record.entry("IsPublished").or_insert(json!(false));
            record.insert("LastModifiedDate".into(), json!(now));
            data.insert("CaseComment", record);
            // A comment is a record of its own: its Case's stamps stay as they are and no
            // Case Outbound Message goes out, so a connector must find comments itself.
        }
        _ => {
            let bytes = match record
                .get("VersionData")
                .and_then(Value::as_str)
                .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
            {
                Some(Ok(b)) => b,
                _ => {
                    return bad(
                        "REQUIRED_FIELD_MISSING",
                        "Required fields are missing: [VersionData]",
                    );
                }
            };
            if record
                .get("PathOnClient")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return bad(
                    "REQUIRED_FIELD_MISSING",
                    "Required fields are missing: [PathOnClient]",
                );
            }
            let document = data.id("ContentDocument");
            record.insert(
                "VersionData".into(),
                json!(format!(
                    "/services/data/v{}/sobjects/ContentVersion/{id}/VersionData",
                    version(&v)
                )),
            );
            record.insert("ContentSize".into(), json!(bytes.len()));
            record.insert("ContentDocumentId".into(), json!(document));
            record.insert("IsLatest".into(), json!(true));
            record.entry("Title").or_insert(json!(""));
            data.files.insert(id.clone(), bytes);
            // Like a comment, a file leaves its Case's stamps as they are.
            data.insert("ContentVersion", record);
        }
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({ "id": id, "success": true, "errors": [] })),
    )
        .into_response()
}

pub(super) async fn get_record(
    State(fake): State<Arc<Fake>>,
    Path((v, object, id)): Path<(String, String, String)>,
    Query(params): Query<Params>,
) -> Response {
    let options = &fake.options;
    if id == "describe" && object == "Case" {
        return axum::Json(state::describe(options)).into_response();
    }
    let Some(object) = ["Case", "CaseComment", "ContentVersion", "User"]
        .into_iter()
        .find(|o| *o == object)
    else {
        return not_found();
    };
    let data = fake.lock();
    let Some(record) = data.find(object, &id) else {
        return not_found();
    };
    let wanted: Vec<String> = match params.get("fields") {
        Some(f) => f.split(',').map(|s| s.trim().to_string()).collect(),
        None => fields(options, object).unwrap_or_default(),
    };
    for f in &wanted {
        if data.value(options, object, record, f).is_none() {
            return bad(
                "INVALID_FIELD",
                &format!("No such column '{f}' on entity '{object}'"),
            );
        }
    }
    axum::Json(data.render(options, &version(&v), object, record, &wanted)).into_response()
}

pub(super) async fn update(
    State(fake): State<Arc<Fake>>,
    Path((_v, object, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let Some(object) = writable(&object).filter(|o| *o != "ContentVersion") else {
        return not_found();
    };
    let mut data = fake.lock();
    if object == "Case"
        && let Some((case, field, value)) = data.edit_before_patch.take_if(|(c, _, _)| *c == id)
    {
        let now = now_stamp();
        if let Some(record) = data.find_mut("Case", &case) {
            record.insert(field, json!(value));
            record.insert("LastModifiedDate".into(), json!(now));
            record.insert("SystemModstamp".into(), json!(now));
        }
        touch(&fake, &mut data, &case);
    }
    let Some(current) = data.find(object, &id) else {
        return not_found();
    };
    // If-Unmodified-Since: Salesforce answers 412 when the record changed after it.
    if let Some(since) = headers
        .get("if-unmodified-since")
        .and_then(|h| h.to_str().ok())
    {
        let Ok(since) = httpdate::parse_http_date(since) else {
            return bad(
                "INVALID_HEADER_TYPE",
                "If-Unmodified-Since is not an HTTP date",
            );
        };
        let since_ms = since
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let modified = soql::time(
            current
                .get("LastModifiedDate")
                .and_then(Value::as_str)
                .unwrap_or(""),
        )
        .unwrap_or(0);
        if modified > since_ms {
            return error(
                StatusCode::PRECONDITION_FAILED,
                "PRECONDITION_FAILED",
                "The requested entity has been modified since the time specified in If-Unmodified-Since header",
            );
        }
    }
    let changes = match check_fields(&fake, &data, object, Some(&id), &body) {
        Ok(r) => r,
        Err(e) => return *e,
    };
    if let Some(record) = data.find_mut(object, &id) {
        record.extend(changes);
        let now = now_stamp();
        record.insert("LastModifiedDate".into(), json!(now));
        record.insert("SystemModstamp".into(), json!(now));
    }
    // An edited comment moves its own stamps only.
    if object == "Case" {
        touch(&fake, &mut data, &id);
    }
    StatusCode::NO_CONTENT.into_response()
}

pub(super) async fn delete(
    State(fake): State<Arc<Fake>>,
    Path((_v, object, id)): Path<(String, String, String)>,
) -> Response {
    let Some(object) = writable(&object) else {
        return not_found();
    };
    let mut data = fake.lock();
    let Some(list) = data.objects.get_mut(object) else {
        return not_found();
    };
    let before = list.len();
    list.retain(|r| r["Id"] != json!(id));
    if list.len() == before {
        return not_found();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `/sobjects/ContentVersion/{id}/VersionData`: the file's bytes.
pub(super) async fn blob(
    State(fake): State<Arc<Fake>>,
    Path((_v, object, id, field)): Path<(String, String, String, String)>,
) -> Response {
    if object != "ContentVersion" || field != "VersionData" {
        return not_found();
    }
    match fake.lock().files.get(&id) {
        Some(bytes) => (
            [("content-type", "application/octet-stream")],
            bytes.clone(),
        )
            .into_response(),
        None => not_found(),
    }
}
