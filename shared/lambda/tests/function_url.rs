//! A function URL's event to the router's request and its answer back
//! (`twinsync_lambda::function_url`), on events in Lambda's payload format 2.0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::{Value, json};
use twinsync_lambda::function_url::{FunctionUrlError, serve, to_event_response, to_request};

fn event(fixture: &str) -> LambdaFunctionUrlRequest {
    let path = format!(
        "{}/../../tests/fixtures/aws/function-url/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Fixture, method, URI, Cookie header, a header as it arrived, the body's bytes.
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    (&'a str, &'a str),
    &'a [u8],
);

#[tokio::test]
async fn events_become_requests_table() {
    let table: [Case; 3] = [
        (
            "docs-example.json",
            "POST",
            "/my/path?parameter1=value1&parameter1=value2&parameter2=value",
            Some("cookie1; cookie2"),
            ("header2", "value1,value2"),
            b"Hello from client!",
        ),
        (
            // A webhook Lambda passed as base64: the bytes are the ones signed.
            "webhook-base64.json",
            "POST",
            "/webhooks/github/gh-main",
            None,
            ("x-github-event", "issues"),
            "{\"action\":\"edited\",\"n\":\"\u{e9}\"}\n".as_bytes(),
        ),
        (
            "get-no-body.json",
            "GET",
            "/v1/health",
            None,
            ("accept", "application/json"),
            b"",
        ),
    ];
    for (fixture, method, uri, cookie, (header, value), body) in table {
        let request = to_request(event(fixture)).unwrap();
        assert_eq!(request.method().as_str(), method, "{fixture}");
        assert_eq!(request.uri().to_string(), uri, "{fixture}");
        let got_cookie = request.headers().get("cookie").map(|v| v.to_str().unwrap());
        assert_eq!(got_cookie, cookie, "{fixture}");
        assert_eq!(request.headers()[header], value, "{fixture}");
        let bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&bytes[..], body, "{fixture}");
    }
}

#[test]
fn malformed_events_are_refused_with_their_reason() {
    let mut no_method = event("get-no-body.json");
    no_method.request_context.http.method = None;
    let mut bad_base64 = event("webhook-base64.json");
    bad_base64.body = Some("not base64!".into());
    let mut bad_path = event("get-no-body.json");
    bad_path.raw_path = Some("/a path with spaces".into());
    let table = [
        (no_method, "function URL event without a method"),
        (bad_base64, "function URL event with a bad base64 body"),
        (bad_path, "function URL event with a bad path or query"),
    ];
    for (event, want) in table {
        let got = to_request(event).unwrap_err().to_string();
        assert!(got.starts_with(want), "{got}");
    }
}

#[tokio::test]
async fn answers_become_event_responses_table() {
    let text = Response::builder()
        .status(StatusCode::CREATED)
        .header("content-type", "application/json")
        .header("vary", "accept")
        .header("vary", "origin")
        .header("set-cookie", "a=1; Secure")
        .header("set-cookie", "b=2; HttpOnly")
        .body(Body::from("{\"ok\":true}"))
        .unwrap();
    let binary = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/octet-stream")
        .body(Body::from(vec![0xff_u8, 0x00, 0xfe]))
        .unwrap();
    let empty = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .unwrap();
    let table = [
        (
            text,
            json!({"statusCode": 201, "isBase64Encoded": false, "body": "{\"ok\":true}",
                   "headers": {"content-type": "application/json", "vary": "accept, origin"},
                   "cookies": ["a=1; Secure", "b=2; HttpOnly"]}),
        ),
        (
            binary,
            json!({"statusCode": 200, "isBase64Encoded": true, "body": "/wD+",
                   "headers": {"content-type": "application/octet-stream"}, "cookies": []}),
        ),
        (
            empty,
            json!({"statusCode": 204, "isBase64Encoded": false, "body": null,
                   "headers": {}, "cookies": []}),
        ),
    ];
    for (response, want) in table {
        let got = serde_json::to_value(to_event_response(response).await.unwrap()).unwrap();
        assert_eq!(got, want);
    }
}

#[tokio::test]
async fn a_router_answers_the_event_it_was_given() {
    // Echoes what it received, so the round trip shows nothing was lost on the way.
    let router = axum::Router::new().route(
        "/webhooks/{connector}/{instance}",
        axum::routing::post(
            |axum::extract::Path((connector, instance)): axum::extract::Path<(String, String)>,
             headers: axum::http::HeaderMap,
             body: axum::body::Bytes| async move {
                axum::Json(json!({
                    "connector": connector,
                    "instance": instance,
                    "event": headers["x-github-event"].to_str().unwrap(),
                    "body": String::from_utf8(body.to_vec()).unwrap(),
                }))
            },
        ),
    );
    let answer = serve(router.clone(), event("webhook-base64.json"))
        .await
        .unwrap();
    assert_eq!(answer.status_code, 200);
    let body: Value = serde_json::from_str(answer.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"connector": "github", "instance": "gh-main", "event": "issues",
               "body": "{\"action\":\"edited\",\"n\":\"\u{e9}\"}\n"})
    );
    let unrouted = serve(router, event("get-no-body.json")).await.unwrap();
    assert_eq!(unrouted.status_code, 404);
    assert!(matches!(
        to_request(LambdaFunctionUrlRequest::default()),
        Err(FunctionUrlError::NoMethod)
    ));
}
