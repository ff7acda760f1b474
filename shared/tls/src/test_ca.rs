//! A certificate authority made at test time: tests serve real HTTPS from loopback with a
//! certificate this CA signed, and give the CA's PEM to the client as its `ca_file`.

#![allow(clippy::expect_used)]

use crate::ServerTls;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA named `name`. Panics only if the crypto library cannot make a key, which a
    /// test cannot go on without anyway.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        Self { issuer }
    }

    /// The CA's certificate, as a client's `ca_file` holds it.
    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA's certificate into `dir` and returns its path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, self.ca_pem()).expect("write the CA file");
        path
    }

    /// A server certificate for `names` (DNS names or IP addresses) signed by this CA, as
    /// PEM: (certificate, private key).
    pub fn server_pem(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "twinsync test server");
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        (cert.pem(), key.serialize_pem())
    }

    /// A TLS identity for a loopback server (`localhost` and `127.0.0.1`).
    pub fn loopback_server(&self) -> ServerTls {
        let (cert, key) = self.server_pem(&["localhost", "127.0.0.1"]);
        ServerTls::from_pem(cert.as_bytes(), key.as_bytes()).expect("server TLS")
    }
}
