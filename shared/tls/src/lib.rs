//! HTTPS on the listeners twinsync serves itself: a local node's public listener (when its
//! config names a certificate) and the fake trackers of the tests. rustls with the
//! aws-lc-rs provider, as the clients use. With the `test-ca` feature, [`test_ca`] makes a
//! certificate authority at run time, so tests speak real TLS without a file in the tree
//! (and `twinsync dev-ca` writes one for trying nodes over HTTPS on one machine).

#[cfg(feature = "test-ca")]
pub mod test_ca;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{what} is not usable PEM: {reason}")]
    Pem { what: String, reason: String },
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(String),
    #[error("cannot make a certificate: {0}")]
    Make(String),
}

impl TlsError {
    /// A certificate that cannot be read stays unreadable until someone fixes the file.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// A TLS server identity: a certificate chain and its private key.
#[derive(Clone)]
pub struct ServerTls(Arc<rustls::ServerConfig>);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls(..)")
    }
}

impl ServerTls {
    pub fn from_pem_files(cert_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| TlsError::Read {
                path: p.display().to_string(),
                reason: e.to_string(),
            })
        };
        Self::from_pem(&read(cert_file)?, &read(key_file)?)
    }

    /// The chain (leaf first) and the key, as PEM text.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        let pem = |what: &str, reason: String| TlsError::Pem {
            what: what.into(),
            reason,
        };
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem("the certificate", e.to_string()))?;
        if chain.is_empty() {
            return Err(pem("the certificate", "no CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| pem("the private key", e.to_string()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self(Arc::new(config)))
    }
}

/// Whether a listener speaks plain HTTP or HTTPS.
#[derive(Debug, Clone, Default)]
pub enum Transport {
    #[default]
    Plain,
    Tls(ServerTls),
}

impl Transport {
    /// The URL scheme clients use for this listener.
    pub fn scheme(&self) -> &'static str {
        match self {
            Transport::Plain => "http",
            Transport::Tls(_) => "https",
        }
    }
}

/// Serves `app` on `listener` until the task is dropped. A failed TLS handshake ends that
/// connection only, with a log line: a scanner or a client with the wrong CA must not stop
/// the server.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    transport: Transport,
) -> std::io::Result<()> {
    let tls = match transport {
        Transport::Plain => return axum::serve(listener, app).await,
        Transport::Tls(tls) => TlsAcceptor::from(tls.0),
    };
    loop {
        let (stream, peer) = listener.accept().await?;
        let (tls, app) = (tls.clone(), app.clone());
        tokio::spawn(async move {
            let stream = match tls.accept(stream).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                app.clone().oneshot(req)
            });
            if let Err(e) = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "HTTPS connection ended with an error");
            }
        });
    }
}
