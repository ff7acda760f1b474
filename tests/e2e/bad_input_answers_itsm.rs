//! Odd item answers from ServiceNow and Salesforce, against their connectors' clients, as
//! `bad_input_answers.rs` does for the other vendors (and with its helpers). Both read an
//! item with a query, so the documented answer is a listing of one record: ServiceNow's
//! Table API `{"result": [record]}` by `number`, Salesforce's SOQL `{"records": [case]}`
//! by `Id`. A listing without the record is the item gone; an answer that is no listing,
//! or lists another record, is refused, never read as gone or under the key asked for.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::bad_input_answers::{Want, check, common, edited, stand_in};
use axum::Router;
use axum::extract::Query;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use twinsync_ports::Tracker;
use twinsync_tests::fixture;

pub(crate) fn json_file(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

#[tokio::test]
async fn odd_servicenow_answers_are_rejected_or_read_never_misread() {
    let good = json_file("servicenow/incident.json");
    let answer = Arc::new(Mutex::new(Vec::new()));
    let url = stand_in(
        "/api/now/table/incident",
        answer.clone(),
        vec![
            (
                "/sys_journal_field",
                json_file("servicenow/sys_journal_field.json"),
            ),
            ("/attachment", json_file("servicenow/attachment.json")),
            // One answer for both choice lists would give priorities the states' labels:
            // none, so codes show.
            ("/sys_choice", json!({"result": []})),
            ("/sys_user", json!({"result": []})),
        ],
    )
    .await;
    let config = twinsync_servicenow::ServiceNowConfig::basic(&url, "bot", "pw");
    let tracker = twinsync_servicenow::ServiceNowTracker::new("snow", config).unwrap();
    let title = "Unable to connect to email";
    let record = |edit: fn(&mut Value)| edited(&good, |v| edit(&mut v["result"][0]));
    let mut cases = vec![
        (
            "documented",
            serde_json::to_vec(&good).unwrap(),
            Want::Item(title),
        ),
        (
            "another record",
            record(|r| {
                r["number"] = json!("INC0000061");
                r["sys_id"] = json!("9d385017c611228701d22104cc95c371");
            }),
            Want::Rejected("item INC0000061 for INC0000060"),
        ),
        (
            "number a number",
            record(|r| r["number"] = json!(60)),
            Want::Rejected("item 60 for INC0000060"),
        ),
        (
            "no number",
            record(|r| {
                r.as_object_mut().unwrap().remove("number");
            }),
            Want::Rejected("no item id for INC0000060"),
        ),
        // The number is the key: the record numbered so is the one asked for.
        (
            "another sys_id",
            record(|r| r["sys_id"] = json!("9d385017c611228701d22104cc95c371")),
            Want::Item(title),
        ),
        // Its journal and files are found by sys_id: without one they would read as none.
        (
            "no sys_id",
            record(|r| {
                r.as_object_mut().unwrap().remove("sys_id");
            }),
            Want::Rejected("without a sys_id"),
        ),
        (
            "sys_id a number",
            record(|r| r["sys_id"] = json!(7)),
            Want::Rejected("without a sys_id"),
        ),
        (
            "no result member",
            edited(&good, |v| {
                v.as_object_mut().unwrap().remove("result");
            }),
            Want::Rejected("no result list"),
        ),
        (
            "result one record, not a list",
            edited(&good, |v| v["result"] = v["result"][0].clone()),
            Want::Rejected("no result list"),
        ),
        (
            "short_description null",
            record(|r| r["short_description"] = Value::Null),
            Want::Item(""),
        ),
        // Every value is a string with `sysparm_display_value=false`: a number reads as one.
        (
            "short_description a number",
            record(|r| r["short_description"] = json!(7)),
            Want::Item("7"),
        ),
        (
            "state unknown",
            record(|r| r["state"] = json!("99")),
            Want::Item(title),
        ),
        (
            "state a list",
            record(|r| r["state"] = json!(["7"])),
            Want::Item(title),
        ),
        (
            "sys_updated_on not a time",
            record(|r| r["sys_updated_on"] = json!("yesterday")),
            Want::Item(title),
        ),
        (
            "sys_mod_count not a number",
            record(|r| r["sys_mod_count"] = json!("many")),
            Want::Item(title),
        ),
        (
            "assigned_to a list",
            record(|r| r["assigned_to"] = json!([1, 2])),
            Want::Item(title),
        ),
    ];
    cases.extend(common(&good, title));
    let wrong = check(&tracker, "INC0000060", &answer, cases).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // No record numbered so: the item is gone, which is no error.
    *answer.lock().unwrap() = br#"{"result": []}"#.to_vec();
    let got = tracker.get_item("INC0000060").await;
    assert!(matches!(got, Ok(None)), "{got:?}");
}

/// A Salesforce stand-in. Salesforce reads a Case, its comments and its files all with
/// SOQL on one path (`/query?q=`), so the Case's query gets the answer of the moment and
/// the others none; the token answer names the stand-in as the instance, and describe is
/// the documented excerpt, which has the setup's fields.
/// Which requests of a Salesforce client get the answer of the moment: by path and SOQL.
pub(crate) type Varies = fn(&str, &str) -> bool;

/// A Salesforce org answering the requests `varies` picks with the answer of the moment,
/// reads of one Case by Id with `case` (a listing of it), other queries with an empty
/// listing.
pub(crate) async fn salesforce_stand_in(
    answer: Arc<Mutex<Vec<u8>>>,
    varies: Varies,
    case: Value,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let token =
        json!({"access_token": "00D!stand-in", "instance_url": url, "token_type": "Bearer"});
    let describe = json_file("salesforce/describe-excerpt.json");
    let not_found = json_file("salesforce/error-not-found.json");
    let app = Router::new().fallback(
        move |uri: axum::http::Uri, Query(params): Query<HashMap<String, String>>| {
            let (answer, token, describe, not_found, case) = (
                answer.clone(),
                token.clone(),
                describe.clone(),
                not_found.clone(),
                case.clone(),
            );
            async move {
                let path = uri.path();
                let soql = params.get("q").map(String::as_str).unwrap_or("");
                let (status, body) = if path.ends_with("/services/oauth2/token") {
                    (200, token.to_string().into_bytes())
                } else if path.ends_with("/sobjects/Case/describe") {
                    (200, describe.to_string().into_bytes())
                } else if varies(path, soql) {
                    (200, answer.lock().unwrap().clone())
                } else if path.ends_with("/query") && soql.contains(" FROM Case WHERE Id = ") {
                    (200, case.to_string().into_bytes())
                } else if path.contains("/sobjects/Case/") && !case["records"][0].is_null() {
                    (200, case["records"][0].to_string().into_bytes())
                } else if path.ends_with("/query") {
                    let none = json!({"totalSize": 0, "done": true, "records": []});
                    (200, none.to_string().into_bytes())
                } else {
                    (404, not_found.to_string().into_bytes())
                };
                let status = axum::http::StatusCode::from_u16(status).unwrap();
                let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
                (status, json, body)
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn odd_salesforce_answers_are_rejected_or_read_never_misread() {
    // The Case as its SOQL read answers it: with the comments subquery, null for none.
    let mut case = json_file("salesforce/case.json");
    case["CaseComments"] = Value::Null;
    let good = json!({"totalSize": 1, "done": true, "records": [case]});
    let answer = Arc::new(Mutex::new(Vec::new()));
    let by_id: Varies =
        |path, soql| path.ends_with("/query") && soql.contains(" FROM Case WHERE Id = ");
    let url = salesforce_stand_in(answer.clone(), by_id, Value::Null).await;
    let key_pem = std::fs::read_to_string(fixture("salesforce/connected-app-key.pem")).unwrap();
    let config =
        twinsync_salesforce::SalesforceConfig::jwt(&url, "3MVG9app", "bot@acme.example", &key_pem);
    let tracker = twinsync_salesforce::SalesforceTracker::new("sf", config).unwrap();
    let title = "Printer on floor 3 jams";
    let record = |edit: fn(&mut Value)| edited(&good, |v| edit(&mut v["records"][0]));
    let mut cases = vec![
        (
            "documented",
            serde_json::to_vec(&good).unwrap(),
            Want::Item(title),
        ),
        (
            "another Case",
            record(|r| r["Id"] = json!("500D000000IRFmbIAH")),
            Want::Rejected("item 500D000000IRFmbIAH for 500D000000IRFmaIAH"),
        ),
        (
            "Id a number",
            record(|r| r["Id"] = json!(500)),
            Want::Rejected("item 500 for"),
        ),
        (
            "no Id",
            record(|r| {
                r.as_object_mut().unwrap().remove("Id");
            }),
            Want::Rejected("no item id for 500D000000IRFmaIAH"),
        ),
        (
            "no records member",
            edited(&good, |v| {
                v.as_object_mut().unwrap().remove("records");
            }),
            Want::Rejected("no records list"),
        ),
        (
            "the record alone, not a query answer",
            serde_json::to_vec(&case).unwrap(),
            Want::Rejected("no records list"),
        ),
        (
            "Subject null",
            record(|r| r["Subject"] = Value::Null),
            Want::Item(""),
        ),
        (
            "Subject a number",
            record(|r| r["Subject"] = json!(7)),
            Want::Item("7"),
        ),
        (
            "Status unknown",
            record(|r| r["Status"] = json!("Exploded")),
            Want::Item(title),
        ),
        (
            "Status an object",
            record(|r| r["Status"] = json!({"value": "New"})),
            Want::Item(title),
        ),
        (
            "SystemModstamp not a time",
            record(|r| r["SystemModstamp"] = json!("yesterday")),
            Want::Item(title),
        ),
        (
            "LastModifiedDate a number",
            record(|r| r["LastModifiedDate"] = json!(1_795_428_841)),
            Want::Item(title),
        ),
        (
            "CaseComments not a subquery answer",
            record(|r| r["CaseComments"] = json!("two")),
            Want::Item(title),
        ),
        (
            "Owner null",
            record(|r| r["Owner"] = Value::Null),
            Want::Item(title),
        ),
    ];
    cases.extend(common(&good, title));
    let wrong = check(&tracker, "500D000000IRFmaIAH", &answer, cases).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The 15-character form of the Id reads the Case, which answers with its 18.
    *answer.lock().unwrap() = serde_json::to_vec(&good).unwrap();
    let got = tracker.get_item("500D000000IRFma").await;
    assert!(
        matches!(&got, Ok(Some(item)) if item.key == "500D000000IRFmaIAH"),
        "{got:?}"
    );
    // No Case with the Id: it is gone, which is no error.
    *answer.lock().unwrap() = br#"{"totalSize": 0, "done": true, "records": []}"#.to_vec();
    let got = tracker.get_item("500D000000IRFmaIAH").await;
    assert!(matches!(got, Ok(None)), "{got:?}");
}
