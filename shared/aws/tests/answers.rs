//! Error paths the emulator cannot produce (throttling, a lost conditional write inside a
//! transaction, a batch send that partly fails, a 5xx), from a server that answers each
//! operation (`x-amz-target`) as the real service does: each must become the port error
//! that makes the handler retry or stop, never a silent success.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use twinsync_aws::json::{JsonClient, JsonService};
use twinsync_aws::signed::{Settings, SignedClient};
use twinsync_aws::{DynamoTwinStore, OperationCounter, SqsQueue};
use twinsync_core::Twin;
use twinsync_ports::{NewMessage, PortError, Queue, TwinStore};

/// One canned answer: status, `x-amzn-query-error` (SQS), body.
#[derive(Clone)]
struct Canned(u16, Option<&'static str>, String);

fn ok(body: &str) -> Canned {
    Canned(200, None, body.to_string())
}

fn error(status: u16, kind: &str, message: &str) -> Canned {
    let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
    Canned(status, None, body)
}

/// The bodies of each operation's calls so far.
type Calls = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// A service that answers each operation with its canned answer and keeps the calls.
struct Service {
    url: String,
    calls: Calls,
}

impl Service {
    async fn start(answers: &[(&str, Canned)]) -> Self {
        let answers: Arc<HashMap<String, Canned>> = Arc::new(
            answers
                .iter()
                .map(|(op, c)| (op.to_string(), c.clone()))
                .collect(),
        );
        let calls: Calls = Arc::new(Mutex::new(HashMap::new()));
        let kept = calls.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let answers = answers.clone();
                let calls = kept.clone();
                async move { answer(&headers, body, &answers, &calls) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, calls }
    }

    fn client(&self, service: JsonService, counter: Option<OperationCounter>) -> JsonClient {
        let settings = Settings::with_keys("us-east-1", "test", "test", Some(&self.url));
        JsonClient::new(
            SignedClient::new(settings, reqwest::Client::new()),
            service,
            counter,
        )
    }

    fn bodies(&self, operation: &str) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .get(operation)
            .cloned()
            .unwrap_or_default()
    }

    fn calls(&self, operation: &str) -> usize {
        self.bodies(operation).len()
    }
}

fn answer(
    headers: &HeaderMap,
    body: String,
    answers: &HashMap<String, Canned>,
    calls: &Mutex<HashMap<String, Vec<String>>>,
) -> Response {
    // Unsigned requests are refused, as AWS refuses them.
    if !headers.contains_key("authorization") {
        return (StatusCode::FORBIDDEN, "missing signature").into_response();
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target.rsplit('.').next().unwrap_or_default().to_string();
    calls
        .lock()
        .unwrap()
        .entry(operation.clone())
        .or_default()
        .push(body);
    let Some(Canned(status, query_error, body)) = answers.get(&operation).cloned() else {
        return (StatusCode::BAD_REQUEST, format!("unexpected {target}")).into_response();
    };
    let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
    response.headers_mut().insert(
        "content-type",
        "application/x-amz-json-1.0".parse().unwrap(),
    );
    if let Some(q) = query_error {
        response
            .headers_mut()
            .insert("x-amzn-query-error", q.parse().unwrap());
    }
    response
}

fn message() -> NewMessage {
    NewMessage {
        group_id: "c1:K-1".into(),
        dedup_id: "d1".into(),
        body: "{}".into(),
    }
}

const QUEUE_URL: &str = r#"{"QueueUrl":"https://sqs.example/1/s-outgoing.fifo"}"#;

#[tokio::test]
async fn sqs_errors_become_port_errors() {
    type Expect = fn(&PortError) -> bool;
    // (the answer to SendMessage, what the handler must see, retryable, attempts made)
    let cases: [(Canned, Expect, bool, usize); 5] = [
        (
            error(400, "com.amazonaws.sqs#ThrottlingException", "slow down"),
            |e| matches!(e, PortError::RateLimited { .. }),
            true,
            3,
        ),
        (
            Canned(
                400,
                Some("AWS.SimpleQueueService.RequestThrottled;Sender"),
                r#"{"__type":"com.amazonaws.sqs#RequestThrottled"}"#.into(),
            ),
            |e| matches!(e, PortError::RateLimited { .. }),
            true,
            3,
        ),
        (
            error(500, "com.amazonaws.sqs#InternalError", "oops"),
            |e| matches!(e, PortError::Unavailable(_)),
            true,
            3,
        ),
        (
            error(400, "com.amazonaws.sqs#InvalidParameterValue", "bad"),
            |e| matches!(e, PortError::Rejected(_)),
            false,
            1,
        ),
        // A 503 with no service code is the service being unavailable.
        (
            Canned(503, None, "unavailable".into()),
            |e| matches!(e, PortError::Unavailable(_)),
            true,
            3,
        ),
    ];
    for (i, (send, expected, retryable, attempts)) in cases.into_iter().enumerate() {
        let service =
            Service::start(&[("GetQueueUrl", ok(QUEUE_URL)), ("SendMessage", send)]).await;
        let queue = SqsQueue::new(service.client(JsonService::Sqs, None), "s-", None);
        let err = queue.send("outgoing", message()).await.unwrap_err();
        assert!(expected(&err), "case {i}: {err:?}");
        assert_eq!(err.is_retryable(), retryable, "case {i}: {err:?}");
        // What may pass is tried again twice, with backoff; what cannot, once.
        assert_eq!(service.calls("SendMessage"), attempts, "case {i}");
    }
}

#[tokio::test]
async fn a_missing_queue_is_created_on_demand_only_for_held_queues() {
    let missing = Canned(
        400,
        Some("AWS.SimpleQueueService.NonExistentQueue;Sender"),
        r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#
            .into(),
    );
    let service = Service::start(&[
        ("GetQueueUrl", missing),
        (
            "CreateQueue",
            ok(r#"{"QueueUrl":"https://sqs.example/1/s-held-c1.fifo"}"#),
        ),
        (
            "SendMessage",
            ok(r#"{"MessageId":"m","MD5OfMessageBody":"x"}"#),
        ),
    ])
    .await;
    let queue = SqsQueue::new(service.client(JsonService::Sqs, None), "s-", None);
    queue.send("held-c1", message()).await.unwrap();
    assert_eq!(service.calls("CreateQueue"), 1);
    let err = queue.send("outgoing", message()).await.unwrap_err();
    assert!(matches!(err, PortError::Rejected(_)), "{err:?}");
    assert_eq!(
        service.calls("CreateQueue"),
        1,
        "a handled queue is never created"
    );
}

#[tokio::test]
async fn a_partly_failed_batch_send_is_an_error() {
    // (the failed entry is the sender's fault, retryable)
    for (sender_fault, retryable) in [(false, true), (true, false)] {
        let code = if sender_fault {
            "InvalidParameterValue"
        } else {
            "InternalError"
        };
        let batch = serde_json::json!({
            "Successful": [{ "Id": "m0", "MessageId": "x", "MD5OfMessageBody": "x" }],
            "Failed": [{ "Id": "m1", "SenderFault": sender_fault, "Code": code, "Message": "entry failed" }],
        });
        let service = Service::start(&[
            ("GetQueueUrl", ok(QUEUE_URL)),
            ("SendMessageBatch", ok(&batch.to_string())),
        ])
        .await;
        let err = SqsQueue::new(service.client(JsonService::Sqs, None), "s-", None)
            .send_batch("outgoing", vec![message(), message()])
            .await
            .unwrap_err();
        assert_eq!(err.is_retryable(), retryable, "{err:?}");
        assert!(err.to_string().contains("1 of 2 failed"), "{err}");
    }
}

/// A batch delete answers each receipt: a failed entry fails alone, by its code.
#[tokio::test]
async fn a_batch_delete_answers_each_receipt() {
    let batch = serde_json::json!({
        "Successful": [{ "Id": "m0" }, { "Id": "m2" }],
        "Failed": [{ "Id": "m1", "SenderFault": true, "Code": "ReceiptHandleIsInvalid", "Message": "stale" }],
    });
    let service = Service::start(&[
        ("GetQueueUrl", ok(QUEUE_URL)),
        ("DeleteMessageBatch", ok(&batch.to_string())),
    ])
    .await;
    let receipts: Vec<String> = ["r0", "r1", "r2"].map(String::from).to_vec();
    let results = SqsQueue::new(service.client(JsonService::Sqs, None), "s-", None)
        .delete_batch("outgoing", &receipts)
        .await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let refused = results[1].as_ref().unwrap_err();
    assert!(!refused.is_retryable(), "{refused:?}");
    assert!(refused.to_string().contains("stale"), "{refused}");
}

const CANCELLED: &str = "com.amazonaws.dynamodb.v20120810#TransactionCanceledException";

fn cancelled(reasons: &[&str]) -> Canned {
    let reasons: Vec<_> = reasons
        .iter()
        .map(|r| serde_json::json!({ "Code": r }))
        .collect();
    let body = serde_json::json!({
        "__type": CANCELLED,
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    });
    Canned(400, None, body.to_string())
}

#[tokio::test]
async fn dynamodb_lost_races_and_throttling() {
    let mut twin = Twin::new("t1".into(), "c1".into(), 0);
    twin.local_key = Some("L-1".into());

    // An update whose revision is stale: the single put's condition fails, then the
    // transaction is cancelled by the same condition. The handler must see a conflict.
    let service = Service::start(&[
        (
            "PutItem",
            error(
                400,
                "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                "The conditional request failed",
            ),
        ),
        (
            "TransactWriteItems",
            cancelled(&["ConditionalCheckFailed", "None"]),
        ),
    ])
    .await;
    let twins = DynamoTwinStore::new(service.client(JsonService::DynamoDb, None), "twins");
    let err = twins.update(&twin).await.unwrap_err();
    assert!(matches!(err, PortError::Conflict(_)), "{err:?}");
    assert!(matches!(
        twins.insert(&twin).await.unwrap_err(),
        PortError::Conflict(_)
    ));
    // A lost race is not tried again here: the handler reads the twin anew.
    assert_eq!(service.calls("PutItem"), 1);

    // A transaction cancelled for another reason (a concurrent transaction) is retried.
    let service = Service::start(&[(
        "TransactWriteItems",
        cancelled(&["TransactionConflict", "None"]),
    )])
    .await;
    let err = DynamoTwinStore::new(service.client(JsonService::DynamoDb, None), "twins")
        .insert(&twin)
        .await
        .unwrap_err();
    assert!(
        err.is_retryable() && !matches!(err, PortError::Conflict(_)),
        "{err:?}"
    );
    // Its three attempts carry one token: an attempt that went through, its answer lost,
    // makes the next one succeed rather than fail on its own writes.
    let tokens: Vec<String> = service
        .bodies("TransactWriteItems")
        .iter()
        .map(|b| {
            let body: serde_json::Value = serde_json::from_str(b).unwrap();
            body["ClientRequestToken"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(tokens.len(), 3);
    assert!(
        tokens.iter().all(|t| t == &tokens[0] && t.len() <= 36),
        "{tokens:?}"
    );

    // Throttled reads wait like a rate limit.
    let service = Service::start(&[(
        "GetItem",
        error(
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "slow down",
        ),
    )])
    .await;
    let client = service
        .client(JsonService::DynamoDb, None)
        .without_retries();
    let err = DynamoTwinStore::new(client, "twins")
        .get("t1")
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::RateLimited { .. }), "{err:?}");
    assert_eq!(service.calls("GetItem"), 1, "no retries asked");
}

#[tokio::test]
async fn the_operation_counter_counts_every_call_once() {
    let counter = OperationCounter::default();
    let service = Service::start(&[
        ("GetQueueUrl", ok(QUEUE_URL)),
        (
            "SendMessage",
            ok(r#"{"MessageId":"m","MD5OfMessageBody":"x"}"#),
        ),
    ])
    .await;
    let queue = SqsQueue::new(
        service.client(JsonService::Sqs, Some(counter.clone())),
        "s-",
        None,
    );
    for _ in 0..3 {
        queue.send("outgoing", message()).await.unwrap();
    }
    let tally = counter.snapshot();
    // The queue's URL is looked up once and cached.
    assert_eq!(tally.get("SQS.GetQueueUrl"), Some(&1), "{tally:?}");
    assert_eq!(tally.get("SQS.SendMessage"), Some(&3), "{tally:?}");

    // A call tried three times is one operation.
    let counter = OperationCounter::default();
    let service = Service::start(&[(
        "GetItem",
        error(
            500,
            "com.amazonaws.dynamodb.v20120810#InternalServerError",
            "oops",
        ),
    )])
    .await;
    let twins = DynamoTwinStore::new(
        service.client(JsonService::DynamoDb, Some(counter.clone())),
        "twins",
    );
    assert!(twins.get("t1").await.is_err());
    assert_eq!(service.calls("GetItem"), 3);
    assert_eq!(counter.snapshot().get("DynamoDB.GetItem"), Some(&1));
    assert_eq!(counter.records().get("GetItem twin"), Some(&1));
}
