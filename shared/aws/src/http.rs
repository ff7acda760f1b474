//! The AWS SDK's HTTP client: the node's own reqwest client (HTTP/1.1 over rustls, the
//! platform's roots loaded once per process by the connector kit) instead of the SDK's
//! hyper client. One client stack in the binary: no HTTP/2, no second TLS set-up and no
//! second load of the trusted roots at a cold start (docs/aws-cost.md).

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use std::time::Duration;

/// An SDK HTTP client over a reqwest client (which should not follow redirects: the SDK
/// handles its own).
#[derive(Debug, Clone)]
pub struct SdkHttpClient {
    client: reqwest::Client,
}

impl SdkHttpClient {
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    pub fn shared(client: reqwest::Client) -> SharedHttpClient {
        SharedHttpClient::new(Self::new(client))
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            client: self.client.clone(),
            read_timeout: settings.read_timeout(),
        })
    }
}

#[derive(Debug)]
struct Connector {
    client: reqwest::Client,
    /// The operation's read timeout, applied to the whole exchange (reqwest's per-request
    /// timeout); the client's own connect timeout still applies.
    read_timeout: Option<Duration>,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move { exchange(&client, request, read_timeout).await })
    }
}

async fn exchange(
    client: &reqwest::Client,
    request: HttpRequest,
    read_timeout: Option<Duration>,
) -> Result<HttpResponse, ConnectorError> {
    let method = reqwest::Method::from_bytes(request.method().as_bytes())
        .map_err(|e| ConnectorError::user(Box::new(e)))?;
    // Every body the node sends (JSON, a payload object) is in memory; a streaming body
    // would be a new use that this client has to learn first.
    let body = request
        .body()
        .bytes()
        .ok_or_else(|| ConnectorError::user("a streaming request body is not supported".into()))?
        .to_vec();
    let mut builder = client.request(method, request.uri());
    for (name, value) in request.headers() {
        builder = builder.header(name, value);
    }
    if let Some(timeout) = read_timeout {
        builder = builder.timeout(timeout);
    }
    let response = builder.body(body).send().await.map_err(connector_error)?;
    let status = StatusCode::try_from(response.status().as_u16())
        .map_err(|e| ConnectorError::other(Box::new(e), None))?;
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let bytes = response.bytes().await.map_err(connector_error)?;
    let mut out = HttpResponse::new(status, SdkBody::from(bytes));
    for (name, value) in headers {
        out.headers_mut().append(name, value);
    }
    Ok(out)
}

/// The SDK retries timeouts and IO errors (transient); anything else is not ours to retry.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(Box::new(e))
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(Box::new(e))
    } else {
        ConnectorError::other(Box::new(e), None)
    }
}
