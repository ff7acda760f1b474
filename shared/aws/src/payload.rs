//! Message bodies over SQS's 256 KiB limit (a long description, many comments) live in S3
//! and travel by key. S3 rather than DynamoDB: a DynamoDB item stops at 400 KB, an S3
//! object does not, and the bucket's lifecycle rule (15 days, longer than SQS's 14-day
//! retention) removes what a deleted message leaves behind. Objects are written and read
//! with signed requests ([`crate::signed`]), path-style, which the real S3 and the
//! emulator both accept.

use crate::error::AwsError;
use crate::signed::{Answer, Request, Service, SignedClient, refused};

#[derive(Debug, Clone)]
pub struct PayloadStore {
    client: SignedClient,
    bucket: String,
}

impl PayloadStore {
    pub fn new(client: SignedClient, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    fn object_url(&self, key: &str) -> String {
        format!(
            "{}/{}/{}",
            self.client.base_url(Service::S3),
            self.bucket,
            key
        )
    }

    /// Stores a body and returns its key.
    pub async fn put(&self, queue: &str, body: Vec<u8>) -> Result<String, AwsError> {
        let key = format!("payloads/{queue}/{}", uuid::Uuid::now_v7());
        let what = format!("store payload {key}");
        let request = Request {
            method: reqwest::Method::PUT,
            url: self.object_url(&key),
            headers: vec![("content-type", "application/json".to_string())],
            body,
        };
        let answer = self.client.send(&what, Service::S3, request).await?;
        check(&what, &answer)?;
        Ok(key)
    }

    pub async fn get(&self, key: &str) -> Result<String, AwsError> {
        let what = format!("read payload {key}");
        let request = Request {
            method: reqwest::Method::GET,
            url: self.object_url(key),
            headers: Vec::new(),
            body: Vec::new(),
        };
        let answer = self.client.send(&what, Service::S3, request).await?;
        check(&what, &answer)?;
        String::from_utf8(answer.body)
            .map_err(|e| AwsError::Config(format!("payload {key} is not UTF-8: {e}")))
    }
}

/// An S3 error answer carries its code in `<Error><Code>`.
fn check(what: &str, answer: &Answer) -> Result<(), AwsError> {
    if (200..300).contains(&answer.status) {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&answer.body);
    let code = roxmltree::Document::parse(&text).ok().and_then(|doc| {
        doc.descendants()
            .find(|n| n.has_tag_name("Code"))
            .and_then(|n| n.text())
            .map(str::to_string)
    });
    Err(refused(what, answer, code))
}
