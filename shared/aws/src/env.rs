//! The ports a Lambda function (or a test against the emulator) gets from its environment.
//!
//! `TWINSYNC_QUEUE_PREFIX`, `TWINSYNC_TWINS_TABLE`, `TWINSYNC_CONNECTIONS_TABLE` and
//! `TWINSYNC_PAYLOAD_BUCKET` name the stack's resources (the SAM template sets them). The
//! SDK finds region, credentials and, for the emulator, `AWS_ENDPOINT_URL` on its own.

use crate::error::AwsError;
use crate::http::SdkHttpClient;
use crate::signed::{Request, Service, SignedClient, refused};
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

/// What the ports are built from: the SDK's configuration, and the signed client beside
/// it for S3 and SSM ([`crate::signed`]); both send through one HTTP client.
#[derive(Debug, Clone)]
pub struct Aws {
    pub sdk: SdkConfig,
    pub signed: SignedClient,
}

impl Aws {
    /// `sdk` should send through `http` too (see [`crate::http`]).
    pub fn new(sdk: SdkConfig, http: reqwest::Client) -> Result<Self, AwsError> {
        let signed = SignedClient::new(&sdk, http)?;
        Ok(Self { sdk, signed })
    }

    /// The SDK's configuration from the environment, as Lambda provides it, sending
    /// through `http`.
    pub async fn from_env(http: reqwest::Client) -> Result<Self, AwsError> {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(SdkHttpClient::shared(http.clone()))
            .load()
            .await;
        Self::new(sdk, http)
    }
}

/// The three ports over the stack's resources.
pub fn ports(
    aws: &Aws,
    resources: &Resources,
) -> (SqsQueue, DynamoTwinStore, DynamoConnectionStore) {
    counted_ports(aws, resources, None)
}

/// The ports, with every AWS call counted by `counter` when given.
pub fn counted_ports(
    aws: &Aws,
    resources: &Resources,
    counter: Option<&OperationCounter>,
) -> (SqsQueue, DynamoTwinStore, DynamoConnectionStore) {
    let mut sqs = aws_sdk_sqs::config::Builder::from(&aws.sdk);
    let mut dynamo = aws_sdk_dynamodb::config::Builder::from(&aws.sdk);
    if let Some(c) = counter {
        sqs = sqs.interceptor(c.clone());
        dynamo = dynamo.interceptor(c.clone());
    }
    let dynamo = aws_sdk_dynamodb::Client::from_conf(dynamo.build());
    (
        SqsQueue::new(
            aws_sdk_sqs::Client::from_conf(sqs.build()),
            resources.queue_prefix.clone(),
            resources
                .payload_bucket
                .as_ref()
                .map(|b| PayloadStore::new(aws.signed.clone(), b.clone())),
        ),
        DynamoTwinStore::new(dynamo.clone(), resources.twins_table.clone()),
        DynamoConnectionStore::new(dynamo, resources.connections_table.clone()),
    )
}

/// The node's configuration (TOML with tracker credentials) from an SSM SecureString
/// parameter, read once at cold start (a signed `GetParameter`). The value is never logged.
pub async fn node_config(client: &SignedClient, parameter: &str) -> Result<String, AwsError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Parameter")]
        parameter: Option<Parameter>,
    }
    #[derive(serde::Deserialize)]
    struct Parameter {
        #[serde(rename = "Value")]
        value: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Fault {
        #[serde(rename = "__type")]
        kind: String,
    }
    let what = format!("read parameter {parameter}");
    let body = serde_json::json!({ "Name": parameter, "WithDecryption": true });
    let request = Request {
        method: reqwest::Method::POST,
        url: format!("{}/", client.base_url(Service::Ssm)),
        headers: vec![
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amz-target", "AmazonSSM.GetParameter".to_string()),
        ],
        body: body.to_string().into_bytes(),
    };
    let answer = client.send(&what, Service::Ssm, request).await?;
    if !(200..300).contains(&answer.status) {
        // The error type reads "com.amazonaws...#ParameterNotFound" or "ParameterNotFound".
        let code = serde_json::from_slice::<Fault>(&answer.body)
            .ok()
            .map(|f| f.kind.rsplit('#').next().unwrap_or_default().to_string());
        return Err(refused(&what, &answer, code));
    }
    serde_json::from_slice::<Answer>(&answer.body)
        .ok()
        .and_then(|a| a.parameter?.value)
        .ok_or_else(|| AwsError::Config(format!("parameter {parameter} has no value")))
}
