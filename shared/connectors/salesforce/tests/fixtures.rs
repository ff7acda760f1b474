//! Salesforce's documented shapes (tests/fixtures/salesforce) read and written back.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use twinsync_core::Item;
use twinsync_salesforce::mapping::{self, Context, Describe, WriteContext};
use twinsync_salesforce::{client, outbound, soql};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../../tests/fixtures/salesforce/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

const INSTANCE: &str = "https://acme.my.salesforce.com";

fn read_case(record: &Value, custom: &[String]) -> Item {
    let cx = Context {
        instance_url: INSTANCE,
        origin_field: "Twinsync_Origin__c",
        labels_field: Some("Twinsync_Labels__c"),
        custom_fields: custom,
    };
    mapping::to_item(&cx, record, Vec::new(), Vec::new())
}

#[test]
fn a_case_reads_as_an_item_and_writes_back_the_same_values() {
    let custom = vec!["Product__c".to_string()];
    let record = json_fixture("case.json");
    let item = read_case(&record, &custom);
    assert_eq!(item.key, "500D000000IRFmaIAH");
    assert_eq!(item.project, "Support");
    assert_eq!(
        item.url,
        format!("{INSTANCE}/lightning/r/Case/500D000000IRFmaIAH/view")
    );
    assert_eq!(item.status_name(), Some("Escalated"));
    assert_eq!(item.priority_name(), Some("High"));
    assert_eq!(item.assignee_email(), Some("ana@acme.example"));
    assert_eq!(
        item.reporter.as_ref().map(|r| r.email.as_str()),
        Some("cust@client.example")
    );
    assert_eq!(item.labels, ["sync", "hardware"]);
    assert_eq!(item.origin.as_deref(), Some("twinsync:c1:DEMO-7"));
    assert_eq!(item.version, 1_795_428_841_000);
    assert_eq!(item.custom_fields["Type"], "Problem");
    assert_eq!(item.custom_fields["Product__c"], "GC1040");

    let describe = Describe::from_json(&json_fixture("describe-excerpt.json"));
    let wcx = WriteContext {
        describe: &describe,
        labels_field: Some("Twinsync_Labels__c"),
        custom_fields: &custom,
    };
    let body = mapping::write_body(&wcx, &Item::default().update_to(&item)).unwrap();
    for name in [
        "Subject",
        "Description",
        "Status",
        "Priority",
        "Origin",
        "Type",
        "Product__c",
        "Twinsync_Labels__c",
    ] {
        assert_eq!(body[name], record[name], "{name}");
    }
    // What was written reads back as the same item.
    let mut written = record.clone();
    for (k, v) in &body {
        written[k] = v.clone();
    }
    assert_eq!(read_case(&written, &custom), item);
}

#[test]
fn picklists_refuse_what_the_org_does_not_have() {
    let describe = Describe::from_json(&json_fixture("describe-excerpt.json"));
    assert_eq!(describe.value("Status", "working"), Ok("Working".into()));
    // An inactive value is not offered.
    let err = describe.value("Status", "On Hold").unwrap_err();
    assert_eq!(err, "New, Working, Escalated, Closed");
    let wcx = WriteContext {
        describe: &describe,
        labels_field: Some("Twinsync_Labels__c"),
        custom_fields: &[],
    };
    let update = twinsync_core::ItemUpdate {
        priority: Some("Critical".into()),
        ..Default::default()
    };
    let refused = mapping::write_body(&wcx, &update).unwrap_err().to_string();
    assert!(
        refused.contains("no value \"Critical\"; its values are High, Medium, Low"),
        "{refused}"
    );
    let labels = twinsync_core::ItemUpdate {
        labels: Some(vec!["sync".into(), "stray".into()]),
        ..Default::default()
    };
    assert_eq!(
        mapping::write_body(&wcx, &labels).unwrap()["Twinsync_Labels__c"],
        json!("sync")
    );
    assert_eq!(
        describe.setup_problem(
            "Twinsync_Origin__c",
            "Twinsync_Link__c",
            "Twinsync_Status__c"
        ),
        None
    );
    let missing = describe
        .setup_problem("Sync_Key__c", "Twinsync_Link__c", "Twinsync_Status__c")
        .unwrap();
    assert!(
        missing.contains("no field Sync_Key__c (Text (External ID))"),
        "{missing}"
    );
    let not_external = describe
        .setup_problem(
            "Twinsync_Status__c",
            "Twinsync_Link__c",
            "Twinsync_Status__c",
        )
        .unwrap();
    assert!(
        not_external.contains("must be marked External ID"),
        "{not_external}"
    );
}

#[test]
fn query_pages_comments_and_errors_read_as_documented() {
    let page = json_fixture("query.json");
    assert_eq!(
        soql::next_records(page["nextRecordsUrl"].as_str()).as_deref(),
        Some("/services/data/v62.0/query/01gD0000002HU6KIAW-2")
    );
    let items: Vec<Item> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| read_case(r, &[]))
        .collect();
    // A queue owns the first Case: no assignee. No record type: the project is `Case`.
    assert_eq!(items[0].assignee, None);
    assert_eq!(items[0].project, "Case");
    assert_eq!(items[1].assignee_email(), Some("ana@acme.example"));
    assert_eq!(
        items[0].version, items[1].version,
        "two edits in one second"
    );

    let comments: Vec<_> = json_fixture("case-comments.json")["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(mapping::comment)
        .collect();
    assert_eq!(comments[0].body, "We replaced the roller.");
    assert_eq!(
        comments[0].origin.as_deref(),
        Some("twinsync:c1:DEMO-7:c:42")
    );
    assert!(!comments[0].internal);
    assert!(
        comments[1].internal,
        "IsPublished false is a private comment"
    );
    assert_eq!(comments[1].origin, None);
    assert_eq!(
        mapping::with_marker(&comments[0].body, comments[0].origin.as_deref()),
        json_fixture("case-comments.json")["records"][0]["CommentBody"]
    );

    assert_eq!(
        client::explain(&fixture("error-not-found.json")),
        (
            "NOT_FOUND".to_string(),
            "The requested resource does not exist".to_string()
        )
    );
}

#[test]
fn the_documented_outbound_message_is_read() {
    let envelope = outbound::parse(fixture("outbound-message.xml").as_bytes()).unwrap();
    assert_eq!(envelope.organization_id, "00Dx0000000Ed2wEAC");
    assert_eq!(envelope.notifications.len(), 2);
    assert_eq!(envelope.notifications[1].record_id, "500D000000IRFmbIAH");
    assert_eq!(envelope.notifications[1].object, "Case");
    assert_eq!(envelope.notifications[1].modstamp_ms, 1_795_428_842_000);

    let headers = vec![(outbound::PATH_SECRET.to_string(), "k".to_string())];
    // The org's 15-character Id matches the envelope's 18-character one.
    let signals = outbound::verify(
        "k",
        "00Dx0000000Ed2w",
        &headers,
        fixture("outbound-message.xml").as_bytes(),
    )
    .unwrap();
    assert_eq!(
        signals
            .iter()
            .map(|s| s.item_key.as_str())
            .collect::<Vec<_>>(),
        ["500D000000IRFmaIAH", "500D000000IRFmbIAH"]
    );
}
