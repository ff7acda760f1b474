//! `twinsync dev-ca`: a certificate authority and one server certificate, for trying nodes
//! over HTTPS on one machine (README, "Connect two nodes over HTTPS"). A real deployment
//! takes its certificates from its own CA or an ACME client instead.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use twinsync_tls::test_ca::TestCa;

#[derive(clap::Args, Debug)]
pub struct DevCaArgs {
    /// The directory to write `ca.pem`, `node.pem` and `node-key.pem` into.
    #[arg(long)]
    pub out: PathBuf,
    /// Names the certificate is good for (DNS names or IP addresses).
    #[arg(long = "name", default_values_t = ["127.0.0.1".to_string(), "localhost".to_string()])]
    pub names: Vec<String>,
}

/// Writes the CA and a certificate for `args.names`; the key is readable by its owner only.
/// Files already there are not overwritten: a node may be using them.
pub fn run(args: &DevCaArgs) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let ca = TestCa::try_new("twinsync dev CA").map_err(|e| format!("cannot make a CA: {e}"))?;
    let names: Vec<&str> = args.names.iter().map(String::as_str).collect();
    let (cert, key) = ca
        .try_server_pem(&names)
        .map_err(|e| format!("cannot make a certificate for {names:?}: {e}"))?;
    let files = [
        ("ca.pem", ca.ca_pem(), 0o644),
        ("node.pem", cert, 0o644),
        ("node-key.pem", key, 0o600),
    ];
    let paths: Vec<PathBuf> = files.iter().map(|(f, ..)| args.out.join(f)).collect();
    if let Some(there) = paths.iter().find(|p| p.exists()) {
        return Err(format!(
            "{} exists: remove the directory's files to make new ones",
            there.display()
        ));
    }
    for ((_, pem, mode), path) in files.iter().zip(&paths) {
        write_new(path, pem.as_bytes(), *mode)?;
    }
    Ok(paths)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_a_usable_identity_once() {
        let dir = tempfile::tempdir().unwrap();
        let args = DevCaArgs {
            out: dir.path().join("tls"),
            names: vec!["127.0.0.1".into()],
        };
        let paths = run(&args).unwrap();
        let mode = std::fs::metadata(&paths[2]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
        twinsync_tls::ServerTls::from_pem_files(&paths[1], &paths[2]).unwrap();
        let again = run(&args).unwrap_err();
        assert!(again.contains("exists"), "{again}");
    }
}
