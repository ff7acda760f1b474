//! The ports a Lambda function (or a test against the emulator) gets from its environment.
//!
//! `TWINSYNC_QUEUE_PREFIX`, `TWINSYNC_TWINS_TABLE`, `TWINSYNC_CONNECTIONS_TABLE` and
//! `TWINSYNC_PAYLOAD_BUCKET` name the stack's resources (the SAM template sets them).
//! Region, credentials and, for the emulator, `AWS_ENDPOINT_URL` come from the variables
//! Lambda sets ([`Aws::from_lambda_env`]) or, on an operator's machine, from the SDK's
//! credential chain ([`Aws::from_credential_chain`]).

use crate::error::AwsError;
use crate::json::{JsonClient, JsonService};
use crate::signed::{Request, Service, Settings, SignedClient, refused};
use crate::{DynamoConnectionStore, DynamoTwinStore, OperationCounter, PayloadStore, SqsQueue};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

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

/// What the ports are built from: one signed client, which every store and queue sends
/// through ([`crate::signed`]).
#[derive(Debug, Clone)]
pub struct Aws {
    pub signed: SignedClient,
}

impl Aws {
    /// The settings of an SDK configuration (the operator's credential chain), sending
    /// through `http`.
    #[cfg(feature = "credential-chain")]
    pub fn new(sdk: aws_types::SdkConfig, http: reqwest::Client) -> Result<Self, AwsError> {
        Ok(Self {
            signed: SignedClient::new(Settings::from_sdk(&sdk)?, http),
        })
    }

    /// The settings from the variables Lambda sets in every function's environment
    /// (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
    /// read as they are, sending through `http`. The SDK's provider chain (profiles, SSO,
    /// STS) was over 0.8 MB of each function's binary for sources a function never uses.
    /// A separate function, not a choice in one: a workspace build (cargo-lambda's,
    /// without `-p`) turns the `credential-chain` feature on, and code that names the
    /// chain in a function's path would link it.
    pub fn from_lambda_env(http: reqwest::Client) -> Result<Self, AwsError> {
        let settings = lambda_settings(|name| std::env::var(name).ok())?;
        Ok(Self {
            signed: SignedClient::new(settings, http),
        })
    }

    /// The SDK's default credential chain, for the operator's machine (the console),
    /// sending through `http`.
    #[cfg(feature = "credential-chain")]
    pub async fn from_credential_chain(http: reqwest::Client) -> Result<Self, AwsError> {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::http::SdkHttpClient::shared(http.clone()))
            .load()
            .await;
        Self::new(sdk, http)
    }
}

/// The settings from Lambda's variables, as `var` reads them.
pub fn lambda_settings(var: impl Fn(&str) -> Option<String>) -> Result<Settings, AwsError> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    let required = |name: &str| {
        var(name).ok_or_else(|| AwsError::Config(format!("environment variable {name} is not set")))
    };
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .ok_or_else(|| AwsError::Config("environment variable AWS_REGION is not set".into()))?;
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    Ok(Settings {
        region,
        credentials: SharedCredentialsProvider::new(credentials),
        endpoint_url: var("AWS_ENDPOINT_URL"),
    })
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
    let client = |service| JsonClient::new(aws.signed.clone(), service, counter.cloned());
    let dynamo = client(JsonService::DynamoDb);
    (
        SqsQueue::new(
            client(JsonService::Sqs),
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::ProvideCredentials;

    fn config(vars: &[(&str, &str)]) -> Result<Settings, AwsError> {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lambda_settings(|name| vars.get(name).cloned())
    }

    /// Variables beside the keys, and the region the configuration gets or the error.
    type Case = (
        &'static [(&'static str, &'static str)],
        Result<&'static str, &'static str>,
    );

    #[test]
    fn lambda_variables_table() {
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ];
        let cases: &[Case] = &[
            (&[("AWS_REGION", "eu-west-1")], Ok("eu-west-1")),
            (&[("AWS_DEFAULT_REGION", "us-east-2")], Ok("us-east-2")),
            (&[("AWS_REGION", "")], Err("AWS_REGION is not set")),
            (&[], Err("AWS_REGION is not set")),
        ];
        for (vars, want) in cases {
            let all: Vec<_> = keys.iter().chain(vars.iter()).copied().collect();
            match (config(&all), want) {
                (Ok(settings), Ok(region)) => assert_eq!(settings.region, *region, "{vars:?}"),
                (Err(e), Err(text)) => assert!(e.to_string().contains(text), "{vars:?}: {e}"),
                (got, want) => panic!("{vars:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn missing_keys_are_named() {
        for (vars, missing) in [
            (
                vec![("AWS_REGION", "r"), ("AWS_SECRET_ACCESS_KEY", "s")],
                "AWS_ACCESS_KEY_ID",
            ),
            (
                vec![("AWS_REGION", "r"), ("AWS_ACCESS_KEY_ID", "a")],
                "AWS_SECRET_ACCESS_KEY",
            ),
        ] {
            let e = config(&vars).expect_err("a key is missing");
            assert!(e.to_string().contains(missing), "{e}");
            assert!(!e.is_retryable());
        }
    }

    #[tokio::test]
    async fn the_session_token_and_endpoint_are_taken() {
        let sdk = config(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "SECRET"),
            ("AWS_SESSION_TOKEN", "TOKEN"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ])
        .expect("a complete environment");
        assert_eq!(sdk.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        let credentials = sdk
            .credentials
            .provide_credentials()
            .await
            .expect("static credentials");
        assert_eq!(credentials.access_key_id(), "AKID");
        assert_eq!(credentials.session_token(), Some("TOKEN"));
    }
}
