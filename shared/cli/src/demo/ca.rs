//! The certificate authority a demo makes at start, shared by the pairs whose fake
//! trackers speak HTTPS as the real ones only do.

use std::path::PathBuf;
use twinsync_tls::Transport;
use twinsync_tls::test_ca::TestCa;

/// The certificate authority the demo makes at start: the fakes serve HTTPS with
/// certificates it signs, and the nodes and the people trust it through its file.
pub(crate) struct DemoCa {
    ca: TestCa,
    _dir: tempfile::TempDir,
    pub(crate) file: PathBuf,
}

impl DemoCa {
    pub(crate) fn new() -> Result<Self, String> {
        let ca = TestCa::new("twinsync demo CA");
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = ca.write_ca(dir.path());
        Ok(Self {
            ca,
            _dir: dir,
            file,
        })
    }

    pub(crate) fn server(&self) -> Transport {
        Transport::Tls(self.ca.loopback_server())
    }

    /// A client for the people of the demo, who trust the CA as the nodes do.
    pub(crate) fn client(&self) -> Result<reqwest::Client, String> {
        let cert = reqwest::Certificate::from_pem(self.ca.ca_pem().as_bytes())
            .map_err(|e| e.to_string())?;
        reqwest::Client::builder()
            .tls_certs_merge([cert])
            .build()
            .map_err(|e| e.to_string())
    }
}
