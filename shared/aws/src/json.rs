//! AWS's JSON protocol, as DynamoDB and SQS speak it: a signed `POST /` whose
//! `x-amz-target` names the operation, a JSON body each way, and an error answer whose
//! `__type` (or, from SQS, `x-amzn-query-error`) names the error. Calls that may pass
//! (throttling, a 5xx, a lost connection) are tried again a few times with jittered
//! backoff, as the SDK's standard retry did; every operation is counted once when a
//! counter is given.

use crate::count::OperationCounter;
use crate::error::AwsError;
use crate::signed::{Answer, Request, Service, SignedClient};
use backon::{ExponentialBuilder, Retryable};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// A JSON protocol service: where its operations go and how they are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonService {
    DynamoDb,
    Sqs,
}

impl JsonService {
    fn service(self) -> Service {
        match self {
            JsonService::DynamoDb => Service::DynamoDb,
            JsonService::Sqs => Service::Sqs,
        }
    }

    /// The `x-amz-target` prefix.
    fn target(self) -> &'static str {
        match self {
            JsonService::DynamoDb => "DynamoDB_20120810",
            JsonService::Sqs => "AmazonSQS",
        }
    }

    /// The name the operation counter files operations under.
    pub fn counted_as(self) -> &'static str {
        match self {
            JsonService::DynamoDb => "DynamoDB",
            JsonService::Sqs => "SQS",
        }
    }
}

/// How many times a call that may pass is tried again.
const RETRIES: usize = 2;

/// A client of one JSON protocol service.
#[derive(Debug, Clone)]
pub struct JsonClient {
    signed: SignedClient,
    service: JsonService,
    counter: Option<OperationCounter>,
    retries: usize,
}

impl JsonClient {
    pub fn new(
        signed: SignedClient,
        service: JsonService,
        counter: Option<OperationCounter>,
    ) -> Self {
        Self {
            signed,
            service,
            counter,
            retries: RETRIES,
        }
    }

    /// Without retries: for tests whose service answers an error on purpose.
    pub fn without_retries(mut self) -> Self {
        self.retries = 0;
        self
    }

    /// Calls `operation` with `input`; `what` names the call in errors.
    pub async fn call<T: DeserializeOwned>(
        &self,
        operation: &str,
        what: &str,
        input: Value,
    ) -> Result<T, AwsError> {
        if let Some(counter) = &self.counter {
            counter.count_request(self.service.counted_as(), operation, &input);
        }
        let body = input.to_string().into_bytes();
        let once = || self.send_once(operation, what, body.clone());
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(self.retries)
            .with_jitter();
        let output = once
            .retry(backoff)
            .when(|e: &AwsError| {
                matches!(e, AwsError::Throttled { .. } | AwsError::Unavailable { .. })
            })
            .notify(|e, after| tracing::debug!(error = %e, ?after, "AWS call tried again"))
            .await?;
        if let Some(counter) = &self.counter {
            counter.count_answer(operation, &input, &output);
        }
        serde_json::from_value(output).map_err(|e| AwsError::Unavailable {
            what: what.to_string(),
            detail: format!("unreadable answer: {e}"),
        })
    }

    async fn send_once(
        &self,
        operation: &str,
        what: &str,
        body: Vec<u8>,
    ) -> Result<Value, AwsError> {
        let service = self.service.service();
        let request = Request {
            method: reqwest::Method::POST,
            url: format!("{}/", self.signed.base_url(service)),
            headers: vec![
                ("content-type", "application/x-amz-json-1.0".to_string()),
                (
                    "x-amz-target",
                    format!("{}.{operation}", self.service.target()),
                ),
            ],
            body,
        };
        let answer = self.signed.send(what, service, request).await?;
        if (200..300).contains(&answer.status) {
            return serde_json::from_slice(&answer.body).map_err(|e| AwsError::Unavailable {
                what: what.to_string(),
                detail: format!("unreadable answer: {e}"),
            });
        }
        Err(fault(what, &answer))
    }
}

/// The error of an answer that is not a success.
pub fn fault(what: &str, answer: &Answer) -> AwsError {
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    // "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException" or the bare name.
    let typed = body
        .get("__type")
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or_default().to_string());
    // SQS's "AWS.SimpleQueueService.NonExistentQueue;Sender".
    let queried = answer
        .query_error
        .as_deref()
        .and_then(|q| q.split(';').next())
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let message = ["message", "Message"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or_default();
    // A cancelled transaction says why per item, in its reasons.
    let reasons = body
        .get("CancellationReasons")
        .map(Value::to_string)
        .unwrap_or_default();
    let detail = format!("{message} {reasons}").trim().to_string();
    match queried.or(typed) {
        Some(code) => AwsError::from_code(what, &code, detail),
        None => match answer.status {
            429 => AwsError::Throttled {
                what: what.to_string(),
                code: "HTTP 429".into(),
            },
            500.. => AwsError::Unavailable {
                what: what.to_string(),
                detail: format!("HTTP {}: {detail}", answer.status),
            },
            status => AwsError::Rejected {
                what: what.to_string(),
                code: format!("HTTP {status}"),
                detail: String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(300)
                    .collect(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, query_error: Option<&str>) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
            query_error: query_error.map(str::to_string),
        }
    }

    #[test]
    fn error_answers_table() {
        type Expect = fn(&AwsError) -> bool;
        let cases: [(Answer, Expect); 9] = [
            (
                answer(
                    400,
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#,
                    None,
                ),
                |e| matches!(e, AwsError::Conflict { .. }),
            ),
            (
                answer(
                    400,
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{"Code":"None"},{"Code":"ConditionalCheckFailed"}]}"#,
                    None,
                ),
                |e| matches!(e, AwsError::Conflict { .. }),
            ),
            (
                answer(
                    400,
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{"Code":"TransactionConflict"}]}"#,
                    None,
                ),
                |e| matches!(e, AwsError::Unavailable { .. }),
            ),
            (
                answer(
                    400,
                    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#,
                    None,
                ),
                |e| matches!(e, AwsError::Throttled { .. }),
            ),
            (
                answer(
                    400,
                    r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no queue"}"#,
                    Some("AWS.SimpleQueueService.NonExistentQueue;Sender"),
                ),
                AwsError::is_missing_queue,
            ),
            (
                answer(
                    400,
                    r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist"}"#,
                    None,
                ),
                AwsError::is_missing_queue,
            ),
            (
                answer(
                    400,
                    r#"{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"bad"}"#,
                    None,
                ),
                |e| matches!(e, AwsError::Rejected { .. }),
            ),
            (answer(503, "unavailable", None), |e| {
                matches!(e, AwsError::Unavailable { .. })
            }),
            (
                answer(403, "<html>forbidden</html>", None),
                |e| matches!(e, AwsError::Rejected { code, .. } if code == "HTTP 403"),
            ),
        ];
        for (i, (answer, expected)) in cases.iter().enumerate() {
            let e = fault("call", answer);
            assert!(expected(&e), "case {i}: {e:?}");
        }
    }
}
