//! The one place that builds the HTTP clients the connectors and the node-to-node
//! transport use: HTTPS over rustls with the aws-lc-rs provider (the AWS SDK's, so one
//! crypto stack), the platform's trusted roots plus an optional private CA (`ca_file`,
//! for self-hosted trackers), and no redirects, so a credential never follows a
//! `Location` to another host. A client for a public tracker resolves names through
//! [`PublicResolver`], so neither a literal private address nor a name that resolves to one
//! is reached ([`crate::target`]).

use crate::target::{PublicResolver, Reach};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use twinsync_ports::PortError;

/// What the crate's fallible calls return.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("the CA file {path} holds no PEM certificate: {reason}")]
    CaPem { path: PathBuf, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl KitError {
    /// A client that cannot be built stays unbuildable until the configuration changes.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// How a client is built; `Default` trusts the platform's roots only.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// PEM certificates trusted besides the platform's roots.
    pub ca_file: Option<PathBuf>,
    /// Which addresses the client may reach; public ones only unless said otherwise.
    pub reach: Reach,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            ca_file: None,
            reach: Reach::PublicOnly,
        }
    }
}

impl ClientOptions {
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }

    pub fn ca_file(mut self, ca_file: Option<&Path>) -> Self {
        self.ca_file = ca_file.map(Path::to_path_buf);
        self
    }

    pub fn reach(mut self, reach: Reach) -> Self {
        self.reach = reach;
        self
    }
}

/// The client of a tracker instance at `base_url`: its timeout, its private CA if any,
/// and the addresses its own base URL lets it reach (a tracker on a private network may
/// reach that network, a public one only public addresses).
pub fn tracker_client(
    base_url: &str,
    ca_file: Option<&Path>,
    timeout: Duration,
) -> Result<reqwest::Client, KitError> {
    client(
        &ClientOptions::with_timeout(timeout)
            .ca_file(ca_file)
            .reach(Reach::for_base_url(base_url)),
    )
}

/// The TLS set-up of every client that trusts the platform's roots, made once per
/// process: loading the roots reads and parses each system certificate, which reqwest
/// would do again for each client (the node's and every tracker's) at a cold start. The
/// same verifier, versions and HTTP/1.1 as reqwest's own.
static PLATFORM_TLS: LazyLock<Result<rustls::ClientConfig, String>> = LazyLock::new(|| {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| format!("the platform's trusted roots: {e}"))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
});

/// A client as `options` say.
pub fn client(options: &ClientOptions) -> Result<reqwest::Client, KitError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none());
    builder = match &options.ca_file {
        // A private CA is trusted besides the platform's roots, for this client only.
        Some(path) => builder.tls_certs_merge(read_ca(path)?),
        None => builder.tls_backend_preconfigured(PLATFORM_TLS.clone().map_err(KitError::Client)?),
    };
    if options.reach == Reach::PublicOnly {
        builder = builder.dns_resolver(Arc::new(PublicResolver));
    }
    builder.build().map_err(|e| KitError::Client(describe(&e)))
}

fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>, KitError> {
    let pem = std::fs::read(path).map_err(|e| KitError::CaFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| KitError::CaPem {
        path: path.to_path_buf(),
        reason: describe(&e),
    })?;
    if certs.is_empty() {
        return Err(KitError::CaPem {
            path: path.to_path_buf(),
            reason: "no certificate in it".into(),
        });
    }
    Ok(certs)
}

/// The body of `response`, read chunk by chunk and refused as soon as it passes
/// `max_bytes`: a download never holds more than the cap in memory, whatever the server
/// says its length is.
pub async fn read_capped(
    mut response: reqwest::Response,
    max_bytes: u64,
    what: &str,
) -> Result<Vec<u8>, PortError> {
    let too_big = |n: u64| {
        PortError::Rejected(format!(
            "{what} is {n} bytes or more, over the limit of {max_bytes} bytes"
        ))
    };
    if let Some(n) = response.content_length().filter(|n| *n > max_bytes) {
        return Err(too_big(n));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| PortError::Unavailable(format!("{what}: {}", describe(&e))))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > max_bytes {
            return Err(too_big(body.len() as u64));
        }
    }
    Ok(body)
}

/// Where an attachment is fetched from, and with what.
pub struct Download<'a> {
    pub url: &'a str,
    pub filename: &'a str,
    /// The instance's own base URL: it decides which addresses may be reached, and only
    /// its exact origin gets `authorization`.
    pub base_url: &'a str,
    pub authorization: Option<&'a str>,
    pub max_bytes: u64,
}

/// Downloads an attachment a replica names: a literal private address is refused here
/// (it never meets the resolver's check), the credential goes only to the instance's own
/// origin, and the body is read with a byte cap.
pub async fn download(http: &reqwest::Client, d: &Download<'_>) -> Result<Vec<u8>, PortError> {
    let url = crate::target::check_target(d.url, Reach::for_base_url(d.base_url))
        .map_err(|e| PortError::Rejected(format!("attachment not downloaded: {e}")))?;
    let mut request = http.get(url);
    if let Some(auth) = d.authorization
        && crate::target::same_origin(d.url, d.base_url)
    {
        request = request.header("authorization", auth);
    }
    let response = request
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| {
            PortError::Unavailable(format!("cannot download {}: {}", d.url, describe(&e)))
        })?;
    read_capped(
        response,
        d.max_bytes,
        &format!("attachment {:?}", d.filename),
    )
    .await
}

/// An error with every cause under it. reqwest's own text ("error sending request") hides
/// why: an unknown certificate issuer, a refused connection, a name that does not resolve.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ca_file_is_a_clear_error() {
        // Removed when the test ends: each CI run left a folder behind.
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        let not_pem = dir.join("not.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let cases = [
            (dir.join("missing.pem"), "cannot read the CA file"),
            (not_pem, "holds no PEM certificate"),
        ];
        for (path, says) in cases {
            let err = client(&ClientOptions::default().ca_file(Some(&path))).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn describe_names_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other(
            "invalid peer certificate: UnknownIssuer",
        ));
        assert_eq!(
            describe(&e),
            "error sending request: invalid peer certificate: UnknownIssuer"
        );
    }
}
