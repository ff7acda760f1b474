//! The ports a Lambda function (or a test against the emulator) gets from its environment.
//!
//! `TWINSYNC_QUEUE_PREFIX`, `TWINSYNC_TWINS_TABLE`, `TWINSYNC_CONNECTIONS_TABLE` and
//! `TWINSYNC_PAYLOAD_BUCKET` name the stack's resources (the SAM template sets them). The
//! SDK finds region, credentials and, for the emulator, `AWS_ENDPOINT_URL` on its own.

use crate::error::AwsError;
use crate::{DynamoConnectionStore, DynamoTwinStore, OperationCounter, PayloadStore, SqsQueue};
use aws_config::{BehaviorVersion, SdkConfig};

/// The stack's resource names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub queue_prefix: String,
    pub twins_table: String,
    pub connections_table: String,
    pub payload_bucket: Option<String>,
}

impl Resources {
    pub fn from_env() -> Result<Self, AwsError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| AwsError::Config(format!("environment variable {name} is not set")))
        };
        Ok(Self {
            queue_prefix: var("TWINSYNC_QUEUE_PREFIX")?,
            twins_table: var("TWINSYNC_TWINS_TABLE")?,
            connections_table: var("TWINSYNC_CONNECTIONS_TABLE")?,
            payload_bucket: var("TWINSYNC_PAYLOAD_BUCKET").ok(),
        })
    }
}

/// The SDK's configuration from the environment, as Lambda provides it.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The three ports over the stack's resources.
pub fn ports(
    config: &SdkConfig,
    resources: &Resources,
) -> (SqsQueue, DynamoTwinStore, DynamoConnectionStore) {
    counted_ports(config, resources, None)
}

/// The ports, with every AWS call counted by `counter` when given.
pub fn counted_ports(
    config: &SdkConfig,
    resources: &Resources,
    counter: Option<&OperationCounter>,
) -> (SqsQueue, DynamoTwinStore, DynamoConnectionStore) {
    // Path-style addressing works with the real S3 and with the emulator on loopback.
    let mut s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(true);
    let mut sqs = aws_sdk_sqs::config::Builder::from(config);
    let mut dynamo = aws_sdk_dynamodb::config::Builder::from(config);
    if let Some(c) = counter {
        s3 = s3.interceptor(c.clone());
        sqs = sqs.interceptor(c.clone());
        dynamo = dynamo.interceptor(c.clone());
    }
    let s3 = aws_sdk_s3::Client::from_conf(s3.build());
    let dynamo = aws_sdk_dynamodb::Client::from_conf(dynamo.build());
    (
        SqsQueue::new(
            aws_sdk_sqs::Client::from_conf(sqs.build()),
            resources.queue_prefix.clone(),
            resources
                .payload_bucket
                .as_ref()
                .map(|b| PayloadStore::new(s3, b.clone())),
        ),
        DynamoTwinStore::new(dynamo.clone(), resources.twins_table.clone()),
        DynamoConnectionStore::new(dynamo, resources.connections_table.clone()),
    )
}

/// The node's configuration (TOML with tracker credentials) from an SSM SecureString
/// parameter, read once at cold start. The value is never logged.
pub async fn node_config(config: &SdkConfig, parameter: &str) -> Result<String, AwsError> {
    let out = aws_sdk_ssm::Client::new(config)
        .get_parameter()
        .name(parameter)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("read parameter {parameter}"), &e))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| AwsError::Config(format!("parameter {parameter} has no value")))
}
