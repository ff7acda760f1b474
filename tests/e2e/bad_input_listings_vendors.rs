//! The tables of `bad_input_listings.rs`, one test per vendor: each call gets its own
//! stand-in, answering the call's path with the case of the moment and the lookups the
//! connector makes around it (groups, users, choice lists) with fixed answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::bad_input_answers::stand_in;
use crate::bad_input_answers_itsm::{Varies, json_file, salesforce_stand_in};
use crate::bad_input_listings::{
    Call, Case, Want, check, created, listings, not_a_listing, without_an_id,
};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

type Answer = Arc<Mutex<Vec<u8>>>;

/// A stand-in answering `path` with the case of the moment, and `others`.
async fn serve(path: &'static str, others: &[(&'static str, Value)]) -> (String, Answer) {
    let answer = Answer::default();
    let url = stand_in(path, answer.clone(), others.to_vec()).await;
    (url, answer)
}

/// A listing's tables: the documented ones, those that are no listing, and those whose
/// first entry has no usable id; for a search for an origin only the first two.
fn listing_cases(
    call: Call,
    good: &Value,
    member: &'static str,
    id: &'static str,
    keys: &'static [&'static str],
) -> Vec<Case> {
    let mut cases = not_a_listing(good, member);
    match call {
        Call::Find => cases.extend(
            listings(good, member, keys)
                .into_iter()
                .filter(|(name, _, _)| name == "no entries"),
        ),
        _ => {
            cases.extend(listings(good, member, keys));
            cases.extend(without_an_id(good, member, id));
        }
    }
    cases
}

#[tokio::test]
async fn odd_github_listings_and_creates_are_refused_never_misread() {
    let mut wrong = Vec::new();
    let issue = json_file("bad-input/tracker/github/good.json");
    let listing = json!([issue]);
    let github = |url: String| {
        let config: twinsync_github::GithubConfig = serde_json::from_value(json!({
            "api_url": url, "repo": "o/r", "token": "t", "webhook_secret": "s"
        }))
        .unwrap();
        twinsync_github::GithubTracker::new("gh", config).unwrap()
    };
    for call in [Call::Search, Call::Find, Call::Create] {
        let (url, answer) = serve("/repos/o/r/issues", &[]).await;
        let cases = match call {
            Call::Create => created(&issue, "", "number", &["o/r#5"]),
            _ => listing_cases(call, &listing, "", "number", &["o/r#5"]),
        };
        wrong.extend(check(&github(url), call, &answer, cases).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn odd_jira_listings_and_creates_are_refused_never_misread() {
    let mut wrong = Vec::new();
    let search = json_file("jira/contract/search-jql.response.json");
    let create = json_file("jira/contract/create-issue.response.json");
    let others = [
        ("/field", json_file("jira/contract/fields.response.json")),
        (
            "/issue/ED-24",
            json_file("jira/contract/get-issue.response.json"),
        ),
    ];
    let jira = |url: String| {
        let config: twinsync_jira::JiraConfig = serde_json::from_value(json!({
            "base_url": url, "project": "ED", "email": "bot@example.com", "api_token": "t",
            "webhook_secret": "s3cret-s3cret-s3cret"
        }))
        .unwrap();
        twinsync_jira::JiraTracker::new("jira", config).unwrap()
    };
    for call in [Call::Search, Call::Find, Call::Create] {
        let path = match call {
            Call::Create => "/rest/api/3/issue",
            _ => "/rest/api/3/search/jql",
        };
        let (url, answer) = serve(path, &others).await;
        let cases = match call {
            Call::Create => created(&create, "", "key", &["ED-24"]),
            Call::Find => {
                // One page: Jira names its next page as the same one here, which the
                // search refuses rather than ask for it again and again.
                let mut last = search.clone();
                last["isLast"] = json!(true);
                let mut cases = listing_cases(call, &last, "issues", "key", &[]);
                cases.push((
                    "the next page is this one".into(),
                    serde_json::to_vec(&search).unwrap(),
                    Want::Rejected("names itself"),
                ));
                cases
            }
            Call::Search => listing_cases(call, &search, "issues", "key", &["ED-1"]),
        };
        wrong.extend(check(&jira(url), call, &answer, cases).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn odd_redmine_listings_and_creates_are_refused_never_misread() {
    let mut wrong = Vec::new();
    let issue = json_file("redmine/issue.json");
    let listing = json!({"issues": [issue["issue"]], "total_count": 1, "offset": 0, "limit": 100});
    let others = [
        ("/issues/5.json", issue.clone()),
        ("/issue_statuses.json", json!({"issue_statuses": []})),
        ("/issue_priorities.json", json!({"issue_priorities": []})),
        (
            "/trackers.json",
            json!({"trackers": [{"id": 1, "name": "Bug"}]}),
        ),
        (
            "/users.json",
            json!({"users": [], "total_count": 0, "offset": 0, "limit": 100}),
        ),
    ];
    for call in [Call::Search, Call::Find, Call::Create] {
        let (url, answer) = serve("/issues.json", &others).await;
        let config: twinsync_redmine::RedmineConfig = serde_json::from_value(json!({
            "base_url": url, "api_key": "k", "origin_field_id": 1
        }))
        .unwrap();
        let tracker = twinsync_redmine::RedmineTracker::new("redmine", config).unwrap();
        let cases = match call {
            Call::Create => created(&issue, "issue", "id", &["5"]),
            _ => listing_cases(call, &listing, "issues", "id", &["5"]),
        };
        wrong.extend(check(&tracker, call, &answer, cases).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn odd_azure_devops_listings_and_creates_are_refused_never_misread() {
    let mut wrong = Vec::new();
    let doc = json_file("ado/get-work-item.json");
    let work_item = doc["responses"]["200"]["body"].clone();
    let wiql = json!({"queryType": "flat", "workItems": [{"id": 12, "url": "x"}]});
    let batch = json!({"count": 1, "value": [work_item]});
    let me = ("connectionData", json!({"authenticatedUser": {"id": "me"}}));
    let ado = |url: String| {
        let config =
            twinsync_ado::AdoConfig::with_pat(&format!("{url}/fabrikam"), "MyAgilePrj2", "p");
        twinsync_ado::AdoTracker::new("ado", config).unwrap()
    };
    // The poll's two listings, each odd in turn with the other as documented.
    let (url, answer) = serve(
        "/_apis/wit/wiql",
        &[me.clone(), ("/workitemsbatch", batch.clone())],
    )
    .await;
    let cases = listing_cases(Call::Search, &wiql, "workItems", "id", &["12"]);
    wrong.extend(check(&ado(url), Call::Search, &answer, cases).await);
    let (url, answer) = serve(
        "/_apis/wit/workitemsbatch",
        &[me.clone(), ("/wiql", wiql.clone())],
    )
    .await;
    let cases = listing_cases(Call::Search, &batch, "value", "id", &["12"]);
    wrong.extend(check(&ado(url), Call::Search, &answer, cases).await);
    let (url, answer) = serve("/_apis/wit/wiql", std::slice::from_ref(&me)).await;
    let cases = listing_cases(Call::Find, &wiql, "workItems", "id", &["12"]);
    wrong.extend(check(&ado(url), Call::Find, &answer, cases).await);
    let (url, answer) = serve("/_apis/wit/workitems/$Task", &[me]).await;
    let cases = created(&work_item, "", "id", &["12"]);
    wrong.extend(check(&ado(url), Call::Create, &answer, cases).await);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn odd_zendesk_listings_and_creates_are_refused_never_misread() {
    let mut wrong = Vec::new();
    let export = json_file("zendesk/incremental_cursor.json");
    let ticket = json_file("zendesk/ticket.json");
    let empty = |key: &str| json!({key: [], "meta": {"has_more": false}, "links": {}});
    let others = [
        ("/groups.json", empty("groups")),
        ("/ticket_fields.json", empty("ticket_fields")),
        ("/users", empty("users")),
    ];
    for call in [Call::Search, Call::Find, Call::Create] {
        let path = match call {
            Call::Search => "/api/v2/incremental/tickets/cursor.json",
            _ => "/api/v2/tickets.json",
        };
        let (url, answer) = serve(path, &others).await;
        let mut config =
            twinsync_zendesk::ZendeskConfig::api_token(&url, "", "bot@example.com", "t");
        // The export's own budget is 10 calls a minute: the table makes more.
        config.export_per_minute = 1_000;
        let tracker = twinsync_zendesk::ZendeskTracker::new("zendesk", config).unwrap();
        let cases = match call {
            Call::Create => created(&ticket, "ticket", "id", &["35436"]),
            Call::Find => listing_cases(
                call,
                &json!({"tickets": [ticket["ticket"]]}),
                "tickets",
                "id",
                &[],
            ),
            Call::Search => listing_cases(call, &export, "tickets", "id", &["466", "467"]),
        };
        wrong.extend(check(&tracker, call, &answer, cases).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn odd_servicenow_listings_and_creates_are_refused_never_misread() {
    let mut wrong = Vec::new();
    let listing = json_file("servicenow/incident.json");
    let record = json!({"result": listing["result"][0]});
    for call in [Call::Search, Call::Find, Call::Create] {
        let others = [
            (
                "/sys_journal_field",
                json_file("servicenow/sys_journal_field.json"),
            ),
            ("/attachment", json_file("servicenow/attachment.json")),
            ("/sys_choice", json!({"result": []})),
            ("/sys_user", json!({"result": []})),
        ];
        let (url, answer) = serve("/api/now/table/incident", &others).await;
        let config = twinsync_servicenow::ServiceNowConfig::basic(&url, "bot", "pw");
        let tracker = twinsync_servicenow::ServiceNowTracker::new("snow", config).unwrap();
        let cases = match call {
            Call::Create => created(&record, "result", "number", &["INC0000060"]),
            _ => listing_cases(call, &listing, "result", "number", &["INC0000060"]),
        };
        wrong.extend(check(&tracker, call, &answer, cases).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn odd_salesforce_listings_and_creates_are_refused_never_misread() {
    let mut wrong = Vec::new();
    let listing = json_file("salesforce/query.json");
    let mut case = listing["records"][0].clone();
    case["CaseComments"] = Value::Null;
    let one = json!({"totalSize": 1, "done": true, "records": [case]});
    let key_pem =
        std::fs::read_to_string(twinsync_tests::fixture("salesforce/connected-app-key.pem"))
            .unwrap();
    let tables: [(Call, Varies); 3] = [
        (Call::Search, |p, q| {
            p.ends_with("/query") && q.contains("ORDER BY SystemModstamp")
        }),
        (Call::Find, |p, q| {
            p.ends_with("/query") && q.starts_with("SELECT Id FROM Case WHERE")
        }),
        (Call::Create, |p, _| p.ends_with("/sobjects/Case")),
    ];
    for (call, varies) in tables {
        let answer = Answer::default();
        let url = salesforce_stand_in(answer.clone(), varies, one.clone()).await;
        let config = twinsync_salesforce::SalesforceConfig::jwt(
            &url,
            "3MVG9app",
            "bot@acme.example",
            &key_pem,
        );
        let tracker = twinsync_salesforce::SalesforceTracker::new("sf", config).unwrap();
        let keys: &'static [&'static str] = &["500D000000IRFmaIAH", "500D000000IRFmbIAH"];
        let cases = match call {
            Call::Create => created(
                &json!({"id": "500D000000IRFmaIAH", "success": true, "errors": []}),
                "",
                "id",
                &["500D000000IRFmaIAH"],
            ),
            _ => listing_cases(call, &listing, "records", "Id", keys),
        };
        wrong.extend(check(&tracker, call, &answer, cases).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
