//! A panic in the deployed build (which aborts): the batch in flight is reported failed
//! through the Lambda Runtime API. A fake Runtime API on a loopback socket takes the
//! answer; the last test panics in a child process, inside a Tokio runtime as a function
//! does, with the hook installed.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::thread::JoinHandle;
use twinsync_lambda::abort::{self, BatchInFlight, Report, failures_body, post_failures};

/// A fake Runtime API that takes one request, answers `status`, and hands back the
/// request's head and body.
fn runtime_api(status: &'static str) -> (String, JoinHandle<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let server = std::thread::spawn(move || {
        let mut stream = accept_within(&listener, std::time::Duration::from_secs(20));
        let mut request = Vec::new();
        let mut chunk = [0_u8; 4096];
        // Read the head, then as many body bytes as it says.
        let (head, length) = loop {
            let read = stream.read(&mut chunk).expect("read");
            assert!(read > 0, "the request ended early");
            request.extend_from_slice(&chunk[..read]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .expect("a Content-Length");
                break (text[..end].to_string(), (end + 4, length));
            }
        };
        let (start, length) = length;
        while request.len() < start + length {
            let read = stream.read(&mut chunk).expect("read the body");
            assert!(read > 0, "the body ended early");
            request.extend_from_slice(&chunk[..read]);
        }
        let body = String::from_utf8_lossy(&request[start..start + length]).to_string();
        let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        stream.write_all(answer.as_bytes()).expect("answer");
        (head, body)
    });
    (address, server)
}

/// The first connection to `listener`; a test whose request never comes fails here.
fn accept_within(listener: &TcpListener, limit: std::time::Duration) -> std::net::TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = std::time::Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(std::time::Instant::now() < deadline, "no request came");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn batch(ids: &[&str]) -> BatchInFlight {
    BatchInFlight {
        request_id: "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into(),
        message_ids: ids.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn the_answer_names_every_message_of_the_batch() {
    let table: [(&[&str], &str); 3] = [
        (&[], r#"{"batchItemFailures":[]}"#),
        (
            &["m-1"],
            r#"{"batchItemFailures":[{"itemIdentifier":"m-1"}]}"#,
        ),
        (
            &["m-1", "m-2", "m-3"],
            r#"{"batchItemFailures":[{"itemIdentifier":"m-1"},{"itemIdentifier":"m-2"},{"itemIdentifier":"m-3"}]}"#,
        ),
    ];
    for (ids, want) in table {
        let body = failures_body(&batch(ids));
        assert_eq!(String::from_utf8_lossy(&body), want, "{ids:?}");
    }
}

#[test]
fn the_answer_goes_to_the_invocation_response_path() {
    let (api, server) = runtime_api("202 Accepted");
    post_failures(&api, &batch(&["m-1", "m-2"])).expect("posted");
    let (head, body) = server.join().expect("server");
    assert!(
        head.starts_with(
            "POST /2018-06-01/runtime/invocation/8476a536-e9f4-11e8-9739-2dfe598c3fcd/response HTTP/1.1"
        ),
        "{head}"
    );
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert_eq!(
        body,
        r#"{"batchItemFailures":[{"itemIdentifier":"m-1"},{"itemIdentifier":"m-2"}]}"#
    );
}

#[test]
fn a_refused_or_unreachable_answer_is_an_error() {
    // The Runtime API refuses an answer for an invocation that already has one.
    let (api, server) = runtime_api("400 Bad Request");
    let refused = post_failures(&api, &batch(&["m-1"])).expect_err("400 is not accepted");
    assert!(refused.contains("400"), "{refused}");
    server.join().expect("server");
    // Nothing listens on a port just given back.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .to_string();
    let unreachable = post_failures(&closed, &batch(&["m-1"])).expect_err("no server");
    assert!(unreachable.contains("cannot reach"), "{unreachable}");
}

/// Set in the child process of the test below.
const CHILD: &str = "TWINSYNC_TEST_PANIC_CHILD";

#[test]
fn a_panic_in_a_batch_answers_the_invocation_with_every_message_not_done_failed() {
    let (api, server) = runtime_api("202 Accepted");
    let exe = std::env::current_exe().expect("the test binary");
    let child = Command::new(exe)
        .args([
            "abort::panics_with_a_batch_in_flight",
            "--exact",
            "--include-ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .output()
        .expect("the child runs");
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(!child.status.success(), "the child panicked: {stderr}");
    assert!(stderr.contains("a handler's bug"), "{stderr}");
    let (head, body) = server.join().expect("server");
    assert!(
        head.starts_with("POST /2018-06-01/runtime/invocation/req-7/response "),
        "{head}"
    );
    assert_eq!(
        body,
        r#"{"batchItemFailures":[{"itemIdentifier":"m-1"},{"itemIdentifier":"m-3"}]}"#
    );
}

/// The child of the test above: a batch in flight, one message of it done, then a panic on a worker of a
/// multi-threaded Tokio runtime, as in a function's handler.
#[test]
#[ignore = "run by a_panic_in_a_batch_answers_the_invocation_with_every_message_not_done_failed"]
fn panics_with_a_batch_in_flight() {
    assert_eq!(
        std::env::var(CHILD).as_deref(),
        Ok("1"),
        "run by its parent"
    );
    abort::install(Report::Always);
    let mut event = SqsEvent::default();
    for id in ["m-1", "m-2", "m-3"] {
        let mut record = SqsMessage::default();
        record.message_id = Some(id.into());
        event.records.push(record);
    }
    let _in_flight = abort::begin("req-7", &event);
    // Its sends have left (a batch run one by one): done for good.
    abort::finished("m-2");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        tokio::spawn(async { panic!("a handler's bug") })
            .await
            .expect("the task panicked");
    });
}
