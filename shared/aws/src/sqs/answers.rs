//! The answers the SQS adapter reads, in SQS's JSON protocol.

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Deserialize)]
pub(super) struct QueueUrl {
    #[serde(rename = "QueueUrl")]
    pub(super) url: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Received {
    #[serde(rename = "Messages", default)]
    pub(super) messages: Vec<ReceivedMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReceivedMessage {
    pub(super) message_id: String,
    pub(super) receipt_handle: String,
    #[serde(default)]
    pub(super) body: String,
    #[serde(default)]
    pub(super) attributes: HashMap<String, String>,
    #[serde(default)]
    pub(super) message_attributes: HashMap<String, AttributeValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AttributeValue {
    pub(super) string_value: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Attributes {
    #[serde(rename = "Attributes", default)]
    pub(super) attributes: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Listed {
    #[serde(default)]
    pub(super) queue_urls: Vec<String>,
    pub(super) next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct BatchSent {
    #[serde(default)]
    pub(super) successful: Vec<Value>,
    #[serde(default)]
    pub(super) failed: Vec<BatchFailure>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct BatchFailure {
    #[serde(default)]
    pub(super) id: String,
    #[serde(default)]
    pub(super) sender_fault: bool,
    #[serde(default)]
    pub(super) code: String,
    pub(super) message: Option<String>,
}
