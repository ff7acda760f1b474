//! Message bodies over SQS's size limit, stored in S3 with the key in an attribute.

use super::{MAX_INLINE_BODY, SqsQueue};
use crate::error::AwsError;
use twinsync_ports::PortResult;

impl SqsQueue {
    /// The body to send: inline, or stored in S3 with the key in an attribute.
    pub(super) async fn outgoing_body(
        &self,
        queue: &str,
        body: String,
    ) -> Result<(String, Option<String>), AwsError> {
        if body.len() <= MAX_INLINE_BODY {
            return Ok((body, None));
        }
        let Some(payloads) = &self.payloads else {
            return Err(AwsError::Config(format!(
                "a {} byte message for {queue} is over SQS's limit and no payload bucket is set",
                body.len()
            )));
        };
        let key = payloads.put(queue, body.into_bytes()).await?;
        Ok((format!("payload in s3: {key}"), Some(key)))
    }

    /// A received body: read from S3 when the message carries a payload key. The Lambda
    /// functions call this for the records of their events too.
    pub async fn resolve_body(&self, body: &str, payload_key: Option<&str>) -> PortResult<String> {
        match (payload_key, &self.payloads) {
            (None, _) => Ok(body.to_string()),
            (Some(key), Some(payloads)) => Ok(payloads.get(key).await?),
            (Some(key), None) => Err(AwsError::Config(format!(
                "message body is in s3 ({key}) but no payload bucket is set"
            ))
            .into()),
        }
    }
}
