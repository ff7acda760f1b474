//! HTTPS served by `twinsync_tls::serve` is reached by a client that trusts the test CA,
//! and refused, with the reason, by one that does not.

#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::routing::get;
use twinsync_tls::test_ca::TestCa;
use twinsync_tls::{ServerTls, Transport, serve};

async fn start(tls: ServerTls) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/hello", get(|| async { "hello over TLS" }));
    tokio::spawn(serve(listener, app, Transport::Tls(tls)));
    format!("https://127.0.0.1:{port}")
}

#[tokio::test]
async fn a_client_that_trusts_the_ca_gets_through_and_others_are_refused() {
    let ca = TestCa::new("twinsync test CA");
    let url = start(ca.loopback_server()).await;
    let trusting = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let body = trusting
        .get(format!("{url}/hello"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "hello over TLS");

    let other = TestCa::new("someone else's CA");
    let stranger = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(other.ca_pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let err = stranger
        .get(format!("{url}/hello"))
        .send()
        .await
        .unwrap_err();
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert!(text.contains("certificate"), "{text}");

    // The server goes on after a refused handshake.
    assert!(trusting.get(format!("{url}/hello")).send().await.is_ok());
}

#[test]
fn bad_pem_is_a_clear_error() {
    let ca_pem = TestCa::new("ca").ca_pem();
    let cases: [(&[u8], &[u8], &str); 2] = [
        (b"not pem", b"not pem", "the certificate"),
        (
            ca_pem.as_bytes(),
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "do not make a TLS server",
        ),
    ];
    for (cert, key, says) in cases {
        let err = ServerTls::from_pem(cert, key).unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
        assert!(!err.is_retryable());
    }
}
