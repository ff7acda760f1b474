//! Error paths the emulator cannot produce (throttling, a lost conditional write inside a
//! transaction, a batch send that partly fails, a 5xx), with `aws-smithy-mocks`: each must
//! become the port error that makes the handler retry or stop, never a silent success.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::retry::RetryConfig;
use twinsync_aws::{DynamoTwinStore, SqsQueue};
use twinsync_core::Twin;
use twinsync_ports::{NewMessage, PortError, Queue, TwinStore};

fn meta(code: &str, message: &str) -> aws_sdk_sqs::error::ErrorMetadata {
    aws_sdk_sqs::error::ErrorMetadata::builder()
        .code(code)
        .message(message)
        .build()
}

fn message() -> NewMessage {
    NewMessage {
        group_id: "c1:K-1".into(),
        dedup_id: "d1".into(),
        body: "{}".into(),
    }
}

#[tokio::test]
async fn sqs_errors_become_port_errors() {
    use aws_sdk_sqs::Client;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
    use aws_sdk_sqs::operation::send_message::SendMessageError;

    // (service error code, what the handler must see)
    type Expect = fn(&PortError) -> bool;
    let cases: [(&str, Expect); 4] = [
        ("ThrottlingException", |e| {
            matches!(e, PortError::RateLimited { .. })
        }),
        ("RequestThrottled", |e| {
            matches!(e, PortError::RateLimited { .. })
        }),
        ("InternalError", |e| matches!(e, PortError::Unavailable(_))),
        ("InvalidParameterValue", |e| {
            matches!(e, PortError::Rejected(_))
        }),
    ];
    for (code, expected) in cases {
        let url = mock!(Client::get_queue_url).then_output(|| {
            GetQueueUrlOutput::builder()
                .queue_url("https://sqs.example/1/s-outgoing.fifo")
                .build()
        });
        let send = mock!(Client::send_message)
            .then_error(move || SendMessageError::generic(meta(code, "refused")));
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &send], |c| c
            .retry_config(RetryConfig::disabled()));
        let queue = SqsQueue::new(client, "s-", None);
        let err = queue.send("outgoing", message()).await.unwrap_err();
        assert!(expected(&err), "{code}: {err:?}");
        assert_eq!(
            err.is_retryable(),
            code != "InvalidParameterValue",
            "{code} retryable"
        );
    }

    // A 503 with no service code is the service being unavailable.
    let url = mock!(Client::get_queue_url).then_output(|| {
        GetQueueUrlOutput::builder()
            .queue_url("https://sqs.example/1/s-outgoing.fifo")
            .build()
    });
    let send = mock!(Client::send_message).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(503).unwrap(),
            aws_smithy_types::body::SdkBody::from("unavailable"),
        )
    });
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &send], |c| c
        .retry_config(RetryConfig::disabled()));
    let err = SqsQueue::new(client, "s-", None)
        .send("outgoing", message())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

#[tokio::test]
async fn a_partly_failed_batch_send_is_an_error() {
    use aws_sdk_sqs::Client;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
    use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchOutput;
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};

    // (the failed entry is the sender's fault, retryable)
    for (sender_fault, retryable) in [(false, true), (true, false)] {
        let url = mock!(Client::get_queue_url).then_output(|| {
            GetQueueUrlOutput::builder()
                .queue_url("https://sqs.example/1/s-outgoing.fifo")
                .build()
        });
        let batch = mock!(Client::send_message_batch).then_output(move || {
            SendMessageBatchOutput::builder()
                .successful(
                    SendMessageBatchResultEntry::builder()
                        .id("m0")
                        .message_id("x")
                        .md5_of_message_body("x")
                        .build()
                        .unwrap(),
                )
                .failed(
                    BatchResultErrorEntry::builder()
                        .id("m1")
                        .sender_fault(sender_fault)
                        .code(if sender_fault {
                            "InvalidParameterValue"
                        } else {
                            "InternalError"
                        })
                        .message("entry failed")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        });
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &batch], |c| c
            .retry_config(RetryConfig::disabled()));
        let err = SqsQueue::new(client, "s-", None)
            .send_batch("outgoing", vec![message(), message()])
            .await
            .unwrap_err();
        assert_eq!(err.is_retryable(), retryable, "{err:?}");
        assert!(err.to_string().contains("1 of 2 failed"), "{err}");
    }
}

fn dynamo_meta(code: &str, message: &str) -> aws_sdk_dynamodb::error::ErrorMetadata {
    aws_sdk_dynamodb::error::ErrorMetadata::builder()
        .code(code)
        .message(message)
        .build()
}

#[tokio::test]
async fn dynamodb_lost_races_and_throttling() {
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

    // An update whose revision is stale: the single put's condition fails, then the
    // transaction is cancelled by the same condition. The handler must see a conflict.
    let put = mock!(Client::put_item).then_error(|| {
        PutItemError::generic(dynamo_meta(
            "ConditionalCheckFailedException",
            "The conditional request failed",
        ))
    });
    let transact = mock!(Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::generic(dynamo_meta(
            "TransactionCanceledException",
            "Transaction cancelled, please refer cancellation reasons for specific reasons \
             [ConditionalCheckFailed, None]",
        ))
    });
    let client = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&put, &transact],
        |c| c.retry_config(RetryConfig::disabled())
    );
    let twins = DynamoTwinStore::new(client, "twins");
    let mut twin = Twin::new("t1".into(), "c1".into(), 0);
    twin.local_key = Some("L-1".into());
    let err = twins.update(&twin).await.unwrap_err();
    assert!(matches!(err, PortError::Conflict(_)), "{err:?}");
    assert!(matches!(
        twins.insert(&twin).await.unwrap_err(),
        PortError::Conflict(_)
    ));

    // A transaction cancelled for another reason (a concurrent transaction) is retried.
    let transact = mock!(Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::generic(dynamo_meta(
            "TransactionCanceledException",
            "Transaction cancelled [TransactionConflict, None]",
        ))
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&transact], |c| c
        .retry_config(RetryConfig::disabled()));
    let err = DynamoTwinStore::new(client, "twins")
        .insert(&twin)
        .await
        .unwrap_err();
    assert!(
        err.is_retryable() && !matches!(err, PortError::Conflict(_)),
        "{err:?}"
    );

    // Throttled reads wait like a rate limit.
    let get = mock!(Client::get_item).then_error(|| {
        GetItemError::generic(dynamo_meta(
            "ProvisionedThroughputExceededException",
            "slow down",
        ))
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&get], |c| c
        .retry_config(RetryConfig::disabled()));
    let err = DynamoTwinStore::new(client, "twins")
        .get("t1")
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn the_operation_counter_counts_every_call() {
    use aws_sdk_sqs::Client;
    use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput;
    use aws_sdk_sqs::operation::send_message::SendMessageOutput;
    let counter = twinsync_aws::OperationCounter::default();
    let url = mock!(Client::get_queue_url).then_output(|| {
        GetQueueUrlOutput::builder()
            .queue_url("https://sqs.example/1/s-outgoing.fifo")
            .build()
    });
    let send = mock!(Client::send_message).then_output(|| SendMessageOutput::builder().build());
    let c = counter.clone();
    let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&url, &send], move |b| b
        .interceptor(c.clone()));
    let queue = SqsQueue::new(client, "s-", None);
    for _ in 0..3 {
        queue.send("outgoing", message()).await.unwrap();
    }
    let tally = counter.snapshot();
    // The queue's URL is looked up once and cached.
    assert_eq!(tally.get("SQS.GetQueueUrl"), Some(&1), "{tally:?}");
    assert_eq!(tally.get("SQS.SendMessage"), Some(&3), "{tally:?}");
}
