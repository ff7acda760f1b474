//! A panic in the deployed build, which aborts (`panic = "abort"`, docs/aws-cost.md): the
//! SQS batch in flight is reported failed through the Lambda Runtime API before the
//! process ends.
//!
//! With unwinding, the batch handler catches a panic and fails the panicking message
//! alone. An abort leaves nothing to catch it, and without this report Lambda records a
//! crash of the runtime, not an answer. The report names every message of the batch not
//! done yet: in a batch run together, all of them, since none of its sends has left (they
//! leave together when the batch is done), as when the batch's sends fail. Each is
//! retried. Received again, the batch runs one message at a time
//! ([`crate::BatchMode::OneByOne`]), each done for good when its sends leave
//! ([`finished`]), so the panicking message ends up failing alone, its FIFO group waiting
//! behind it until it is fixed, as with unwinding.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::Duration;

/// The SQS batch the process is handling, and the invocation it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInFlight {
    /// Lambda's request id of the invocation (`Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// The SQS message ids of the batch not done yet.
    pub message_ids: Vec<String>,
}

/// One invocation at a time runs in a Lambda process, so one record is enough.
static IN_FLIGHT: Mutex<Option<BatchInFlight>> = Mutex::new(None);

/// Holds a batch in flight until it drops, when the invocation has its answer.
#[must_use = "the batch is in flight while the guard lives"]
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        *IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Marks `event`'s messages as in flight in the invocation `request_id`.
pub fn begin(request_id: &str, event: &SqsEvent) -> InFlight {
    let batch = BatchInFlight {
        request_id: request_id.to_string(),
        message_ids: event
            .records
            .iter()
            .filter_map(|r| r.message_id.clone())
            .collect(),
    };
    *IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()) = Some(batch);
    InFlight(())
}

/// Takes a message whose sends have left out of the batch in flight: a panic after it
/// does not report it failed.
pub fn finished(message_id: &str) {
    if let Some(batch) = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        batch.message_ids.retain(|id| id != message_id);
    }
}

/// When the panic hook reports the batch in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Only in a build that aborts: with unwinding the batch handler fails the
    /// panicking message itself, and a report here would answer the invocation early.
    WhenAborting,
    /// On every panic (the tests, which unwind, check the report this way).
    Always,
}

/// Installs the panic hook: the default hook's message first, then the report.
pub fn install(report: Report) {
    if report == Report::WhenAborting && !cfg!(panic = "abort") {
        return;
    }
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        report_in_flight();
    }));
}

fn report_in_flight() {
    // The lock is never held while anything panics; `try_lock` still keeps the hook
    // from waiting on it.
    let batch = IN_FLIGHT.try_lock().ok().and_then(|g| g.clone());
    let Some(batch) = batch else {
        tracing::error!("a panic outside a batch: the invocation fails");
        return;
    };
    let Some(api) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .filter(|a| !a.is_empty())
    else {
        tracing::error!(
            "a panic, and AWS_LAMBDA_RUNTIME_API is not set: the batch is not reported"
        );
        return;
    };
    match post_failures(&api, &batch) {
        Ok(()) => tracing::error!(
            request_id = %batch.request_id,
            messages = batch.message_ids.len(),
            "a panic: the messages of the batch not done yet were reported failed and will be retried"
        ),
        Err(e) => tracing::error!(
            request_id = %batch.request_id,
            error = %e,
            "a panic: the batch could not be reported failed; Lambda retries it after the crash"
        ),
    }
}

/// The invocation's answer: every message of `batch` failed.
pub fn failures_body(batch: &BatchInFlight) -> Vec<u8> {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = batch
        .message_ids
        .iter()
        .map(|id| crate::sqs_batch::failure(id))
        .collect();
    serde_json::to_vec(&response).unwrap_or_default()
}

/// Posts `batch`'s failures as the answer of its invocation to the Runtime API at `api`
/// (`host:port`, plain HTTP on the sandbox's loopback). Blocking: a panic hook runs
/// outside the async runtime's reach, and the process ends right after it, so the
/// request is written on a socket of its own rather than through the runtime's client.
pub fn post_failures(api: &str, batch: &BatchInFlight) -> Result<(), String> {
    let body = failures_body(batch);
    let timeout = Some(Duration::from_secs(2));
    let mut stream = TcpStream::connect(api).map_err(|e| format!("cannot reach {api}: {e}"))?;
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\nHost: {api}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        batch.request_id,
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(&body))
        .map_err(|e| format!("cannot send the answer: {e}"))?;
    let status = read_status(&mut stream)?;
    match status {
        202 => Ok(()),
        other => Err(format!("the Runtime API answered {other}")),
    }
}

/// The status code of the HTTP answer on `stream`, read up to the end of its head.
fn read_status(stream: &mut TcpStream) -> Result<u16, String> {
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&answer) {
            Ok(httparse::Status::Complete(_)) => {
                return response
                    .code
                    .ok_or_else(|| "an answer without a status".into());
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(format!("an answer that is not HTTP: {e}")),
        }
        let read = stream
            .read(&mut chunk)
            .map_err(|e| format!("no answer: {e}"))?;
        if read == 0 || answer.len() > 64 * 1024 {
            return Err("the answer ended before its head did".into());
        }
        answer.extend_from_slice(&chunk[..read]);
    }
}
