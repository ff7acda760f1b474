//! Bad webhook deliveries for every connector that takes them, against each connector's
//! verifier: one table of bad inputs run on every connector. The node answers a
//! `Malformed` refusal with 400 and any other with 401 (`router/public.rs`; the sandbox's
//! table in `bad_input.rs` checks that over HTTP); a delivery that names no item is taken
//! and announces nothing, so nothing is queued either way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::bad_input::{bad, deep_arrays};
use serde_json::json;
use twinsync_ports::{ChangeSignal, WebhookError};

const SECRET: &str = "webhook-secret-0123456789";
const NOW: i64 = 1_795_428_841_000;
const AT: &str = "2026-11-23T10:14:01Z";
const ORG: &str = "00D000000000001AAA";

type Headers = Vec<(String, String)>;

/// A connector's verifier with its secret and clock fixed, how it signs a body, and its
/// own payloads: a good one and ones of the wrong shape.
struct Connector {
    name: &'static str,
    verify: fn(&Headers, &[u8]) -> Result<Vec<ChangeSignal>, WebhookError>,
    sign: fn(&str, &[u8]) -> Headers,
    good: Vec<u8>,
    /// Bodies of the right event with what they must be refused for.
    shapes: Vec<(&'static str, Vec<u8>, Want)>,
}

/// What a delivery must come to.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Refused as not authentic (401), the message containing this.
    Refused(&'static str),
    /// Refused as malformed (400), the message containing this.
    Malformed(&'static str),
    /// Taken, announcing nothing.
    Nothing,
}

fn pairs(list: &[(&str, String)]) -> Headers {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn json_body(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

fn connectors() -> Vec<Connector> {
    use Want::*;
    let github_issue = json!({"number": 7, "title": "t", "state": "open", "updated_at": AT});
    vec![
        Connector {
            name: "github",
            verify: |h, b| twinsync_github::webhook::verify(SECRET, h, b),
            sign: |secret, b| {
                pairs(&[
                    (
                        "x-hub-signature-256",
                        twinsync_github::webhook::sign(secret, b),
                    ),
                    ("x-github-event", "issues".into()),
                    ("x-github-delivery", "d-1".into()),
                ])
            },
            good: json_body(
                json!({"action": "edited", "issue": github_issue, "repository": {"full_name": "o/r"}}),
            ),
            shapes: vec![
                (
                    "no issue",
                    json_body(json!({"action": "edited", "repository": {"full_name": "o/r"}})),
                    Malformed("has no issue"),
                ),
                (
                    "issue without a number",
                    json_body(
                        json!({"action": "edited", "issue": {"title": "t"}, "repository": {"full_name": "o/r"}}),
                    ),
                    Malformed("number"),
                ),
                (
                    "number is a string",
                    json_body(json!({"action": "edited", "issue": {"number": "7"}})),
                    Malformed("invalid type"),
                ),
            ],
        },
        Connector {
            name: "jira",
            verify: |h, b| {
                twinsync_jira::webhook::verify(
                    SECRET,
                    twinsync_jira::webhook::Unsigned::Refused,
                    h,
                    b,
                )
            },
            sign: |secret, b| {
                pairs(&[("x-hub-signature", twinsync_jira::webhook::sign(secret, b))])
            },
            good: json_body(
                json!({"webhookEvent": "jira:issue_updated", "issue": {"key": "DEMO-1", "fields": {"updated": "2026-11-23T10:14:01.000+0000"}}}),
            ),
            shapes: vec![
                (
                    "no event",
                    json_body(json!({"issue": {"key": "DEMO-1"}})),
                    Malformed("no webhookevent"),
                ),
                (
                    "no issue key",
                    json_body(
                        json!({"webhookEvent": "jira:issue_updated", "issue": {"fields": {}}}),
                    ),
                    Malformed("no issue key"),
                ),
                (
                    "empty issue key",
                    json_body(json!({"webhookEvent": "jira:issue_updated", "issue": {"key": ""}})),
                    Malformed("no issue key"),
                ),
                (
                    "key is a number",
                    json_body(json!({"webhookEvent": "jira:issue_updated", "issue": {"key": 7}})),
                    Malformed("no issue key"),
                ),
                (
                    "another event",
                    json_body(json!({"webhookEvent": "sprint_started"})),
                    Nothing,
                ),
            ],
        },
        Connector {
            name: "ado",
            verify: |h, b| twinsync_ado::webhook::verify("", SECRET, h, b),
            sign: |secret, _| pairs(&[("x-twinsync-secret", secret.to_string())]),
            good: json_body(
                json!({"eventType": "workitem.updated", "resource": {"workItemId": 5, "revision": {"rev": 3, "fields": {"System.TeamProject": "P"}}}}),
            ),
            shapes: vec![
                (
                    "no event type",
                    json_body(json!({"resource": {"id": 5}})),
                    Malformed("no eventtype"),
                ),
                (
                    "no work item id",
                    json_body(json!({"eventType": "workitem.created", "resource": {"fields": {}}})),
                    Malformed("no work item id"),
                ),
                (
                    "id is a string",
                    json_body(json!({"eventType": "workitem.created", "resource": {"id": "5"}})),
                    Malformed("no work item id"),
                ),
            ],
        },
        Connector {
            name: "zendesk",
            verify: |h, b| twinsync_zendesk::webhook::verify(SECRET, h, b, NOW),
            sign: |secret, b| {
                pairs(&[
                    (
                        "x-zendesk-webhook-signature",
                        twinsync_zendesk::webhook::sign(secret, AT, b),
                    ),
                    ("x-zendesk-webhook-signature-timestamp", AT.to_string()),
                ])
            },
            good: json_body(json!({"ticket_id": "42", "group": "Support", "updated_at": AT})),
            shapes: vec![
                ("no ticket", json_body(json!({"group": "Support"})), Nothing),
                (
                    "ticket id is not a number",
                    json_body(json!({"ticket_id": "forty-two"})),
                    Nothing,
                ),
            ],
        },
        Connector {
            name: "servicenow",
            verify: |h, b| twinsync_servicenow::webhook::verify(SECRET, "incident", h, b, NOW),
            sign: |secret, b| {
                pairs(&[(
                    "x-twinsync-signature",
                    twinsync_servicenow::webhook::sign(secret, b),
                )])
            },
            good: json_body(
                json!({"table": "incident", "number": "INC0001", "sys_id": "s", "sys_mod_count": "3", "sent_at": NOW}),
            ),
            shapes: vec![
                (
                    "no sent_at",
                    json_body(json!({"table": "incident", "number": "INC0001"})),
                    Malformed("no sent_at"),
                ),
                (
                    "sent_at is a string",
                    json_body(json!({"table": "incident", "number": "INC0001", "sent_at": "now"})),
                    Malformed("no sent_at"),
                ),
                (
                    "no number",
                    json_body(json!({"table": "incident", "sent_at": NOW})),
                    Malformed("no number"),
                ),
                (
                    "another table",
                    json_body(json!({"table": "problem", "number": "PRB1", "sent_at": NOW})),
                    Nothing,
                ),
            ],
        },
        Connector {
            name: "salesforce",
            verify: |h, b| twinsync_salesforce::outbound::verify(SECRET, ORG, h, b),
            sign: |secret, _| pairs(&[(twinsync_ports::WEBHOOK_PATH_SECRET, secret.to_string())]),
            good: twinsync_salesforce::outbound::envelope(
                ORG,
                "a",
                &[("n-1".into(), "500000000000001AAA".into(), AT.into())],
            )
            .into_bytes(),
            shapes: vec![
                (
                    "another org",
                    twinsync_salesforce::outbound::envelope("00D000000000009ZZZ", "a", &[])
                        .into_bytes(),
                    Refused("does not match"),
                ),
                (
                    "not a SOAP envelope",
                    b"<html><body>hello</body></html>".to_vec(),
                    Malformed(""),
                ),
                (
                    "a Case without an id",
                    twinsync_salesforce::outbound::envelope(
                        ORG,
                        "a",
                        &[("n-1".into(), "".into(), AT.into())],
                    )
                    .into_bytes(),
                    Nothing,
                ),
            ],
        },
    ]
}

#[test]
fn bad_deliveries_are_refused_by_every_connector() {
    use Want::*;
    let mut wrong = Vec::new();
    for c in connectors() {
        // The control: the good delivery, correctly signed, announces its item.
        let signals = (c.verify)(&(c.sign)(SECRET, &c.good), &c.good);
        assert!(
            signals.as_ref().is_ok_and(|s| s.len() == 1),
            "{}: {signals:?}",
            c.name
        );
        let signed = |body: &[u8]| ((c.sign)(SECRET, body), body.to_vec());
        let mut cases: Vec<(String, (Headers, Vec<u8>), Want)> = vec![
            (
                "missing signature".into(),
                (Vec::new(), c.good.clone()),
                Refused("missing header"),
            ),
            (
                "wrong secret".into(),
                (
                    (c.sign)("another-secret-0123456789", &c.good),
                    c.good.clone(),
                ),
                Refused("does not match"),
            ),
            (
                "not JSON".into(),
                signed(&bad("webhook/not-json.txt")),
                Malformed(""),
            ),
            (
                "not UTF-8".into(),
                signed(&bad("webhook/non-utf8.bin")),
                Malformed(""),
            ),
            ("empty".into(), signed(b""), Malformed("")),
            (
                "10,000 nested arrays".into(),
                signed(&deep_arrays(10_000)),
                Malformed(""),
            ),
        ];
        if c.name != "salesforce" {
            // A payload read into `Value` meets serde_json's recursion limit; GitHub's typed
            // one skips the unknown member without recursing and finds no issue.
            let reason = if c.name == "github" {
                "has no issue"
            } else {
                "recursion limit"
            };
            cases.push((
                "10,000 nested arrays in a member".into(),
                signed(&deep_member_object(10_000)),
                Malformed(reason),
            ));
        } else {
            cases.push((
                "10,000 nested elements".into(),
                signed(&deep_xml(10_000)),
                Malformed(""),
            ));
        }
        for (name, body, want) in &c.shapes {
            cases.push((name.to_string(), signed(body), *want));
        }
        // A signature over one body does not carry another.
        if c.name != "ado" && c.name != "salesforce" {
            let (headers, _) = signed(&c.good);
            let mut tampered = c.good.clone();
            tampered.push(b' ');
            cases.push((
                "tampered".into(),
                (headers, tampered),
                Refused("does not match"),
            ));
        }
        for (name, (headers, body), want) in cases {
            let got = (c.verify)(&headers, &body);
            let ok = match (&got, want) {
                (Err(WebhookError::Malformed(m)), Malformed(s)) => m.to_lowercase().contains(s),
                (Err(WebhookError::Malformed(_)), Refused(_)) => false,
                (Err(e), Refused(s)) => e.to_string().to_lowercase().contains(s),
                (Ok(signals), Nothing) => signals.is_empty(),
                _ => false,
            };
            if !ok {
                wrong.push(format!("{} / {name}: {got:?}, expected {want:?}", c.name));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `{"x": [[[...]]]}`: the depth inside a member, where a parser into `Value` meets it.
fn deep_member_object(depth: usize) -> Vec<u8> {
    crate::bad_input::deep_member(r#""x":1"#, depth)
}

/// A SOAP envelope with `depth` nested elements in its body.
fn deep_xml(depth: usize) -> Vec<u8> {
    let mut xml = String::from(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>"#,
    );
    xml.push_str(&"<a>".repeat(depth));
    xml.push_str(&"</a>".repeat(depth));
    xml.push_str("</soapenv:Body></soapenv:Envelope>");
    xml.into_bytes()
}
