//! SigV4-signed requests on the node's HTTP client, for the two small calls that do not
//! need an SDK client each: S3 objects for large message bodies ([`crate::PayloadStore`])
//! and the node's configuration parameter in SSM ([`crate::env::node_config`]). Those two
//! clients were over a megabyte of each function's binary for three operations.

use crate::error::AwsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::SdkConfig;
use std::time::SystemTime;

/// An AWS service as signed requests reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    S3,
    Ssm,
}

impl Service {
    fn signing_name(self) -> &'static str {
        match self {
            Service::S3 => "s3",
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

/// An answer: its status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Signs requests with the SDK configuration's credentials and region, and sends them to
/// its endpoint (an emulator's, when the configuration names one) or the service's own.
#[derive(Debug, Clone)]
pub struct SignedClient {
    http: reqwest::Client,
    credentials: SharedCredentialsProvider,
    region: String,
    endpoint_url: Option<String>,
}

impl SignedClient {
    pub fn new(config: &SdkConfig, http: reqwest::Client) -> Result<Self, AwsError> {
        let credentials = config
            .credentials_provider()
            .ok_or_else(|| AwsError::Config("the AWS configuration has no credentials".into()))?;
        let region = config
            .region()
            .ok_or_else(|| AwsError::Config("the AWS configuration has no region".into()))?
            .to_string();
        Ok(Self {
            http,
            credentials,
            region,
            endpoint_url: config
                .endpoint_url()
                .map(|u| u.trim_end_matches('/').to_string()),
        })
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
        // Asked each time, without the SDK's identity cache: on Lambda the provider reads
        // the environment, and these requests are rare (a cold start, a large body).
        let credentials = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| unavailable(format!("no credentials: {e}")))?;
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
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?
            .to_vec();
        Ok(Answer { status, body })
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
