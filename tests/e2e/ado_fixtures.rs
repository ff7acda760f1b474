//! Microsoft's documented examples (`tests/fixtures/ado`, see its README) against the
//! connector's mapping and the fake: what the docs show is read as the domain item, what
//! the connector writes has the documented shape, and the fake answers in the same shape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use twinsync_ado::mapping::{self, TAGS, set_field, test_rev, to_item};
use twinsync_ado::{AdoConfig, AdoTracker, webhook};
use twinsync_cli::demo::ado::setup;
use twinsync_core::ItemUpdate;
use twinsync_fakes::ado::{FakeAdo, FakeOptions};
use twinsync_ports::Tracker;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/ado")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn response(name: &str) -> Value {
    fixture(name)["responses"]["200"]["body"].clone()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

async fn fake() -> FakeAdo {
    FakeAdo::start(
        "127.0.0.1:0",
        FakeOptions {
            projects: vec!["MyAgilePrj2".into()],
            identities: vec![
                (setup::BOT_EMAIL.into(), "twinsync bot".into()),
                ("fabrikamfiber4@hotmail.com".into(), "Jamal Hartnett".into()),
            ],
            pats: vec![(setup::BOT_PAT.into(), setup::BOT_EMAIL.into())],
            ..FakeOptions::default()
        },
    )
    .await
    .unwrap()
}

fn tracker(fake: &FakeAdo, work_item_type: &str) -> AdoTracker {
    let mut config = AdoConfig::with_pat(&fake.org_url(), "MyAgilePrj2", setup::BOT_PAT);
    config.work_item_type = work_item_type.into();
    AdoTracker::new("ado", config).unwrap()
}

/// The documented work item reads as the domain item; written back through the
/// connector into the fake and read again, it is the same item.
#[tokio::test]
async fn the_documented_work_item_round_trips() {
    let wi = response("get-work-item.json");
    let item = to_item("https://dev.azure.com/fabrikam", &wi, &[], "");
    assert_eq!(item.key, "12");
    assert_eq!(item.project, "MyAgilePrj2");
    assert_eq!(
        item.url,
        "https://dev.azure.com/fabrikam/MyAgilePrj2/_workitems/edit/12"
    );
    assert_eq!(item.summary, "Epic 2");
    assert_eq!(
        (item.status_name(), item.priority_name()),
        (Some("Active"), Some("2"))
    );
    assert_eq!(item.labels, ["client", "sample", "teamservices"]);
    assert_eq!(item.assignee_email(), Some("fabrikamfiber4@hotmail.com"));
    assert_eq!(
        item.reporter.as_ref().map(|u| u.display_name.as_str()),
        Some("Jamal Hartnett")
    );
    assert_eq!(item.version, 3);
    assert_eq!(item.updated_ms, mapping::millis("2017-10-04T23:32:02.18Z"));
    assert_eq!(
        item.custom_fields.get("System.IterationPath"),
        Some(&json!("MyAgilePrj2\\Iteration 1"))
    );
    assert_eq!(item.origin, None);

    let fake = fake().await;
    let ado = tracker(&fake, "User Story");
    let created = ado.create_item("", &item, "twinsync:c:12").await.unwrap();
    let back = ado.get_item(&created.key).await.unwrap().unwrap();
    assert_eq!(
        (
            back.summary.as_str(),
            back.status_name(),
            back.priority_name(),
            back.labels.clone(),
            back.assignee_email()
        ),
        (
            item.summary.as_str(),
            item.status_name(),
            item.priority_name(),
            item.labels.clone(),
            item.assignee_email()
        )
    );
    // The fake's work item has every documented top-level member, and identities have
    // the documented members.
    let raw = fake
        .exchanges()
        .iter()
        .rev()
        .find(|e| e.method == "GET" && e.template.ends_with("/workitems/{id}"))
        .and_then(|e| e.response.clone())
        .unwrap();
    let documented = keys(&wi);
    assert!(
        documented.is_subset(&keys(&raw)),
        "{documented:?} vs {:?}",
        keys(&raw)
    );
    assert_eq!(
        keys(&raw["fields"]["System.AssignedTo"]),
        keys(&wi["fields"]["System.AssignedTo"])
    );
    assert!(
        keys(&wi["_links"])
            .iter()
            .filter(|k| *k != "workItemHistory")
            .all(|k| raw["_links"].get(k).is_some())
    );
}

/// The documented JSON Patch with a `test` on `/rev` is what the connector writes, and
/// the fake takes it as Azure DevOps does; the documented answer reads as an item.
#[tokio::test]
async fn the_documented_rev_test_patch_is_what_the_connector_sends() {
    let doc = fixture("patch-work-item-test-rev.json");
    let ours = json!([test_rev(6), set_field(TAGS, json!("Tag1; Tag2"))]);
    assert_eq!(ours, doc["parameters"]["body"]);
    let answer = to_item(
        "https://dev.azure.com/fabrikam",
        &doc["responses"]["200"]["body"],
        &[],
        "",
    );
    assert_eq!(
        (
            answer.labels.clone(),
            answer.description.as_str(),
            answer.version
        ),
        (
            vec!["Tag0".to_string(), "Tag1".to_string(), "Tag2".to_string()],
            "Follow the code samples from MSDN",
            7
        )
    );
    assert!(
        answer.attachments.is_empty(),
        "a hyperlink is no attachment"
    );

    let fake = fake().await;
    let ado = tracker(&fake, "Task");
    let created = ado
        .create_item(
            "",
            &twinsync_core::Item {
                summary: "x".into(),
                ..Default::default()
            },
            "o",
        )
        .await
        .unwrap();
    for n in 1..6 {
        ado.update_item(
            &created.key,
            &ItemUpdate {
                summary: Some(format!("x{n}")),
                ..ItemUpdate::default()
            },
        )
        .await
        .unwrap();
    }
    let r = reqwest::Client::new()
        .patch(format!(
            "{}/_apis/wit/workitems/{}?api-version=7.1",
            fake.org_url(),
            created.key
        ))
        .basic_auth("", Some(setup::BOT_PAT))
        .header("content-type", "application/json-patch+json")
        .body(doc["parameters"]["body"].to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["rev"].clone(), body["fields"]["System.Tags"].clone()),
        (json!(7), json!("Tag1; Tag2"))
    );
}

/// The fake answers the documented WIQL query, batch read, comment list and states in
/// the documented shapes; the connector reads the documented comments.
#[tokio::test]
async fn queries_comments_and_states_answer_in_the_documented_shapes() {
    let fake = fake().await;
    let ado = tracker(&fake, "Task");
    let created = ado
        .create_item(
            "",
            &twinsync_core::Item {
                summary: "Task".into(),
                ..Default::default()
            },
            "o",
        )
        .await
        .unwrap();
    ado.add_comment(&created.key, "Hi", None, None)
        .await
        .unwrap();
    let call = |method: reqwest::Method, path: String, body: Value| {
        let url = format!("{}{path}", fake.org_url());
        async move {
            let r = reqwest::Client::new()
                .request(method, url)
                .basic_auth("", Some(setup::BOT_PAT))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{}", r.status());
            r.json::<Value>().await.unwrap()
        }
    };
    let wiql = fixture("wiql.json");
    let ours = call(
        reqwest::Method::POST,
        "/MyAgilePrj2/_apis/wit/wiql?api-version=7.1".into(),
        wiql["parameters"]["body"].clone(),
    )
    .await;
    let documented = &wiql["responses"]["200"]["body"];
    assert_eq!(
        keys(&ours),
        keys(documented)
            .union(&BTreeSet::from(["queryResultType".to_string()]))
            .cloned()
            .collect()
    );
    assert_eq!(
        keys(&ours["workItems"][0]),
        keys(&documented["workItems"][0])
    );

    let batch = fixture("workitemsbatch.json");
    let mut request = batch["parameters"]["body"].clone();
    request["ids"] = json!([created.key.parse::<i64>().unwrap()]);
    let ours = call(
        reqwest::Method::POST,
        "/MyAgilePrj2/_apis/wit/workitemsbatch?api-version=7.1".into(),
        request,
    )
    .await;
    assert_eq!(keys(&ours), keys(&batch["responses"]["200"]["body"]));

    let page = response("comments-page.json");
    let ours = call(
        reqwest::Method::GET,
        format!(
            "/MyAgilePrj2/_apis/wit/workItems/{}/comments?api-version=7.1-preview.4",
            created.key
        ),
        Value::Null,
    )
    .await;
    let doc_comment: BTreeSet<String> = keys(&page["comments"][0])
        .into_iter()
        .filter(|k| k != "commentId")
        .collect();
    assert!(
        doc_comment.is_subset(&keys(&ours["comments"][0])),
        "{doc_comment:?} vs {:?}",
        keys(&ours["comments"][0])
    );
    let read = mapping::comment(&page["comments"][0], "");
    assert_eq!(
        (read.id.as_str(), read.body.as_str()),
        ("45", "Johnnie is going to take this work over.")
    );
    assert_eq!(
        read.author.map(|u| u.email),
        Some("fabrikamfiber4@hotmail.com".to_string())
    );
    let created_comment = mapping::comment(&response("comment-create.json"), "");
    assert_eq!(created_comment.id, "50");

    let states = response("work-item-type-states.json");
    let ours = call(
        reqwest::Method::GET,
        "/MyAgilePrj2/_apis/wit/workitemtypes/Bug/states?api-version=7.1".into(),
        Value::Null,
    )
    .await;
    assert_eq!(keys(&ours), keys(&states));
    assert_eq!(keys(&ours["value"][0]), keys(&states["value"][0]));
    // The connector's category of a state name is the documented one.
    for s in states["value"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if let Some(category) = mapping::state_category(name) {
            assert_eq!(category, s["category"], "{name}");
        }
    }
}

/// The documented service hook payloads are taken with the subscription's credentials
/// and refused without them; an update's resource is a `WorkItemUpdate`.
#[test]
fn the_documented_service_hook_payloads_are_read() {
    let basic = vec![(
        "Authorization".to_string(),
        "Basic dHdpbnN5bmM6aG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==".to_string(),
    )];
    for (name, rev) in [
        ("hook-workitem-created.json", 1),
        ("hook-workitem-commented.json", 4),
    ] {
        let body = fixture(name).to_string();
        let signals = webhook::verify(
            "twinsync",
            "hook-secret-0123456789",
            &basic,
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(signals.len(), 1, "{name}");
        assert_eq!(
            (
                signals[0].item_key.as_str(),
                signals[0].version,
                signals[0].project.as_str()
            ),
            ("5", rev, "FabrikamCloud"),
            "{name}"
        );
        assert!(signals[0].delivery_id.starts_with("ado:"), "{name}");
        assert!(
            webhook::verify("twinsync", "another-secret-0123", &basic, body.as_bytes()).is_err()
        );
    }
    let update = json!({
        "id": "e2d9a1b0-0000-4000-8000-000000000001",
        "eventType": "workitem.updated",
        "publisherId": "tfs",
        "resource": response("work-item-update.json"),
    });
    let signals = webhook::verify(
        "twinsync",
        "hook-secret-0123456789",
        &basic,
        update.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!((signals[0].item_key.as_str(), signals[0].version), ("1", 1));
}
