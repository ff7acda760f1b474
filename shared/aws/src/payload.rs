//! Message bodies over SQS's 256 KiB limit (a long description, many comments) live in S3
//! and travel by key. S3 rather than DynamoDB: a DynamoDB item stops at 400 KB, an S3
//! object does not, and the bucket's lifecycle rule (15 days, longer than SQS's 14-day
//! retention) removes what a deleted message leaves behind.

use crate::error::AwsError;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

#[derive(Debug, Clone)]
pub struct PayloadStore {
    client: Client,
    bucket: String,
}

impl PayloadStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// Stores a body and returns its key.
    pub async fn put(&self, queue: &str, body: Vec<u8>) -> Result<String, AwsError> {
        let key = format!("payloads/{queue}/{}", uuid::Uuid::now_v7());
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("store payload {key}"), &e))?;
        Ok(key)
    }

    pub async fn get(&self, key: &str) -> Result<String, AwsError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("read payload {key}"), &e))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| AwsError::Unavailable {
                what: format!("read payload {key}"),
                detail: e.to_string(),
            })?
            .into_bytes();
        String::from_utf8(bytes.to_vec())
            .map_err(|e| AwsError::Config(format!("payload {key} is not UTF-8: {e}")))
    }
}
