//! SigV4-signed requests on the node's HTTP client: every AWS call a node makes. DynamoDB
//! and SQS take JSON ([`crate::json`]), S3 objects hold large message bodies
//! ([`crate::PayloadStore`]) and SSM the node's configuration ([`crate::env::node_config`]).
//! The SDK's clients for them were about a sixth of each function's binary and the slowest
//! crates of a build, for the dozen operations the stores use (docs/aws-cost.md).

use crate::error::AwsError;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// An AWS service as signed requests reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    S3,
    Sqs,
    Ssm,
}

impl Service {
    fn signing_name(self) -> &'static str {
        match self {
            Service::DynamoDb => "dynamodb",
            Service::S3 => "s3",
            Service::Sqs => "sqs",
            Service::Ssm => "ssm",
        }
    }

    /// S3 signs the path as it is sent and says so in `x-amz-content-sha256`.
    fn settings(self) -> SigningSettings {
        let mut settings = SigningSettings::default();
        if self == Service::S3 {
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        settings
    }
}

/// An answer: its status, body, and the error code an SQS JSON answer gives in
/// `x-amzn-query-error` (the code of SQS's older protocol, which names more cases).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub query_error: Option<String>,
}

/// Where requests go and whose they are.
#[derive(Debug, Clone)]
pub struct Settings {
    pub region: String,
    pub credentials: SharedCredentialsProvider,
    /// An emulator's endpoint; the service's regional one when `None`.
    pub endpoint_url: Option<String>,
}

impl Settings {
    /// The settings of an SDK configuration (the operator's credential chain).
    #[cfg(feature = "credential-chain")]
    pub fn from_sdk(config: &aws_types::SdkConfig) -> Result<Self, AwsError> {
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| AwsError::Config("the AWS configuration has no credentials".into()))?;
        let region = config
            .region()
            .ok_or_else(|| AwsError::Config("the AWS configuration has no region".into()))?
            .to_string();
        Ok(Self {
            region,
            credentials,
            endpoint_url: config.endpoint_url().map(str::to_string),
        })
    }
}

impl Settings {
    /// Fixed keys (an emulator's, a test's).
    pub fn with_keys(region: &str, key_id: &str, secret: &str, endpoint_url: Option<&str>) -> Self {
        let credentials = Credentials::new(key_id, secret, None, None, "fixed");
        Self {
            region: region.to_string(),
            credentials: SharedCredentialsProvider::new(credentials),
            endpoint_url: endpoint_url.map(str::to_string),
        }
    }
}

/// Credentials are asked again this long before they expire.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(300);

/// Signs requests with the settings' credentials and region, and sends them to the
/// settings' endpoint or the service's own.
#[derive(Debug, Clone)]
pub struct SignedClient {
    http: reqwest::Client,
    credentials: SharedCredentialsProvider,
    /// The last credentials the provider gave, until they near their expiry: a provider
    /// of the credential chain may read files or call STS each time it is asked.
    cached: Arc<Mutex<Option<Credentials>>>,
    region: String,
    endpoint_url: Option<String>,
}

impl SignedClient {
    pub fn new(settings: Settings, http: reqwest::Client) -> Self {
        Self {
            http,
            credentials: settings.credentials,
            cached: Arc::new(Mutex::new(None)),
            region: settings.region,
            endpoint_url: settings
                .endpoint_url
                .map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    /// The cached credentials while they last, else the provider's.
    async fn credentials(&self) -> Result<Credentials, String> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + CREDENTIALS_MARGIN)
        };
        if let Ok(cached) = self.cached.lock()
            && let Some(c) = cached.as_ref().filter(|c| fresh(c))
        {
            return Ok(c.clone());
        }
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| format!("no credentials: {e}"))?;
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(credentials.clone());
        }
        Ok(credentials)
    }

    /// The service's base URL: the configured endpoint, or the regional one.
    pub fn base_url(&self, service: Service) -> String {
        match &self.endpoint_url {
            Some(url) => url.clone(),
            None => format!(
                "https://{}.{}.amazonaws.com",
                service.signing_name(),
                self.region
            ),
        }
    }

    /// Sends a signed request; `what` names it in errors. An answer of any status is
    /// returned: the caller knows what its service's errors look like.
    pub async fn send(
        &self,
        what: &str,
        service: Service,
        request: Request<'_>,
    ) -> Result<Answer, AwsError> {
        let unavailable = |detail: String| AwsError::Unavailable {
            what: what.to_string(),
            detail,
        };
        let credentials = self.credentials().await.map_err(unavailable)?;
        let identity = Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service.signing_name())
            .time(SystemTime::now())
            .settings(service.settings())
            .build()
            .map_err(|e| AwsError::Config(format!("{what}: cannot sign: {e}")))?
            .into();
        let signable = SignableRequest::new(
            request.method.as_str(),
            request.url.as_str(),
            request.headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(&request.body),
        )
        .map_err(|e| AwsError::Config(format!("{what}: cannot sign: {e}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| AwsError::Config(format!("{what}: cannot sign: {e}")))?
            .into_parts();
        let mut builder = self.http.request(request.method, &request.url);
        for (name, value) in request.headers.iter() {
            builder = builder.header(*name, value.as_str());
        }
        for (name, value) in instructions.headers() {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(request.body)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status().as_u16();
        let query_error = response
            .headers()
            .get("x-amzn-query-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .to_vec();
        Ok(Answer {
            status,
            body,
            query_error,
        })
    }
}

/// A request to sign: its headers are signed and sent as given.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(&'a str, String)>,
    pub body: Vec<u8>,
}

/// What an answer that is not a success means: throttling and the service's own failures
/// may pass; anything else is refused for good. `code` is the service's error code when
/// the caller could read one.
pub fn refused(what: &str, answer: &Answer, code: Option<String>) -> AwsError {
    let detail = String::from_utf8_lossy(&answer.body)
        .chars()
        .take(300)
        .collect::<String>();
    let code = code.unwrap_or_else(|| format!("HTTP {}", answer.status));
    let what = what.to_string();
    match (answer.status, code.as_str()) {
        (429, _) | (_, "SlowDown" | "ThrottlingException" | "Throttling") => {
            AwsError::Throttled { what, code }
        }
        (500.., _) => AwsError::Unavailable {
            what,
            detail: format!("{code}: {detail}"),
        },
        _ => AwsError::Rejected { what, code, detail },
    }
}
