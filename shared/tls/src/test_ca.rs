//! A certificate authority made at run time: tests serve real HTTPS from loopback with a
//! certificate this CA signed, and give the CA's PEM to the client as its `ca_file`;
//! `twinsync dev-ca` writes one for trying two nodes over HTTPS on one machine.

use crate::{ServerTls, TlsError};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn try_new(name: &str) -> Result<Self, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate()?;
        let issuer = CertifiedIssuer::self_signed(params, key)?;
        Ok(Self { issuer })
    }

    /// [`TestCa::try_new`] for tests: panics only if the crypto library cannot make a
    /// key, which a test cannot go on without anyway.
    #[allow(clippy::expect_used)]
    pub fn new(name: &str) -> Self {
        Self::try_new(name).expect("a test CA")
    }

    /// The CA's certificate, as a client's `ca_file` holds it.
    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA's certificate into `dir` and returns its path.
    #[allow(clippy::expect_used)]
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, self.ca_pem()).expect("write the CA file");
        path
    }

    /// A server certificate for `names` (DNS names or IP addresses) signed by this CA, as
    /// PEM: (certificate, private key).
    pub fn try_server_pem(&self, names: &[&str]) -> Result<(String, String), rcgen::Error> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "twinsync server");
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// [`TestCa::try_server_pem`] for tests.
    #[allow(clippy::expect_used)]
    pub fn server_pem(&self, names: &[&str]) -> (String, String) {
        self.try_server_pem(names).expect("a server certificate")
    }

    /// A TLS identity for a loopback server (`localhost` and `127.0.0.1`).
    pub fn loopback_server(&self) -> ServerTls {
        self.try_loopback_server()
            .unwrap_or_else(|e| panic!("a loopback server identity: {e}"))
    }

    fn try_loopback_server(&self) -> Result<ServerTls, TlsError> {
        let (cert, key) = self
            .try_server_pem(&["localhost", "127.0.0.1"])
            .map_err(|e| TlsError::Make(e.to_string()))?;
        ServerTls::from_pem(cert.as_bytes(), key.as_bytes())
    }
}
