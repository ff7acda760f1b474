//! What the admin listener needs apart from its routes: the token every admin request
//! carries, kept in the node's data dir, and binding the listener to loopback unless the
//! config allows more. The local process and the AWS console both use it.

use crate::{NodeError, NodeResult};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

/// The file in a node's data dir that holds its admin token (mode 0600).
pub const TOKEN_FILE: &str = "admin-token";
/// The file in a node's data dir that holds its admin URL, rewritten at each start, so the
/// CLI finds the node from `--data-dir` alone.
pub const URL_FILE: &str = "admin-url";
/// The environment variable that gives the token instead of the data dir's file.
pub const TOKEN_ENV: &str = "TWINSYNC_ADMIN_TOKEN";

/// A token shorter than this is refused: it must not be guessable.
const MIN_TOKEN_LEN: usize = 32;
/// Random bytes in a generated token (64 hex digits).
const TOKEN_BYTES: usize = 32;

/// The bearer token of the admin API. Debug never shows it.
#[derive(Clone)]
pub struct AdminToken(Arc<str>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(redacted)")
    }
}

impl AdminToken {
    /// A new token of 32 bytes from the operating system's RNG, hex-encoded.
    pub fn generate() -> NodeResult<AdminToken> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| NodeError::config(format!("no randomness for the admin token: {e}")))?;
        Ok(AdminToken(hex::encode(bytes).into()))
    }

    /// A token given by the operator (environment or file): at least 32 characters, of
    /// those that fit in a header and a URL fragment unescaped.
    pub fn parse(text: &str) -> NodeResult<AdminToken> {
        let text = text.trim();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
        if text.len() < MIN_TOKEN_LEN || !text.chars().all(allowed) {
            return Err(NodeError::config(format!(
                "an admin token needs at least {MIN_TOKEN_LEN} characters of A-Z, a-z, 0-9 and -._~+/="
            )));
        }
        Ok(AdminToken(text.into()))
    }

    /// The token in `dir`'s `admin-token`, made at the first start. An existing file
    /// others can read is refused rather than trusted.
    pub fn load_or_create(dir: &Path) -> NodeResult<AdminToken> {
        let path = dir.join(TOKEN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                check_private(&path)?;
                AdminToken::parse(&text)
                    .map_err(|e| NodeError::config(format!("{}: {e}", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(dir, &path),
            Err(e) => Err(NodeError::config(format!("{}: {e}", path.display()))),
        }
    }

    /// The text to send or store.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, in time that does not depend on where they
    /// differ.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

/// Writes a new token to a temporary file (created 0600 by `tempfile`) and links it into
/// place only if no other process made one meanwhile; then the other one is used.
fn create(dir: &Path, path: &Path) -> NodeResult<AdminToken> {
    let io = |e: std::io::Error| NodeError::config(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let token = AdminToken::generate()?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    writeln!(file, "{}", token.expose()).map_err(io)?;
    file.as_file().sync_all().map_err(io)?;
    match file.persist_noclobber(path) {
        Ok(_) => Ok(token),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            AdminToken::load_or_create(dir)
        }
        Err(e) => Err(io(e.error)),
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> NodeResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| NodeError::config(format!("{}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(NodeError::config(format!(
            "{} can be read by others (mode {:o}); `chmod 600` it or remove it for a new token",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> NodeResult<()> {
    Ok(())
}

/// Records the admin URL in `dir` for the CLI's `--data-dir`.
pub fn write_url(dir: &Path, url: &str) -> NodeResult<PathBuf> {
    let path = dir.join(URL_FILE);
    std::fs::write(&path, format!("{url}\n"))
        .map_err(|e| NodeError::config(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// The URL a client on this machine reaches a listener on `addr` at: loopback for one on
/// every address.
pub fn local_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Whether the admin listener may take a non-loopback address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteAdmin {
    Refused,
    Allowed,
}

impl RemoteAdmin {
    /// From the config's `admin_allow_remote`.
    pub fn from_setting(allow: bool) -> RemoteAdmin {
        if allow {
            RemoteAdmin::Allowed
        } else {
            RemoteAdmin::Refused
        }
    }
}

/// Binds the admin listener on `listen`, after checking that every address it names is
/// loopback unless `remote` allows others.
pub async fn bind(listen: &str, remote: RemoteAdmin) -> NodeResult<TcpListener> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| NodeError::config(format!("admin_listen {listen}: {e}")))?
        .collect();
    if remote == RemoteAdmin::Refused
        && let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback())
    {
        return Err(NodeError::config(format!(
            "admin_listen {listen} ({open}) is not a loopback address; the admin API \
             controls the node, so it listens on loopback unless admin_allow_remote = true"
        )));
    }
    TcpListener::bind(addrs.as_slice())
        .await
        .map_err(|e| NodeError::config(format!("cannot listen on {listen}: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_tokens_are_long_random_and_parse() {
        let (a, b) = (
            AdminToken::generate().unwrap(),
            AdminToken::generate().unwrap(),
        );
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
        assert!(AdminToken::parse(a.expose()).is_ok());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn weak_or_odd_tokens_are_refused_and_matching_is_exact() {
        for bad in ["short", &"x".repeat(31), &format!("{} y", "x".repeat(40))] {
            assert!(AdminToken::parse(bad).is_err(), "{bad}");
        }
        let t = AdminToken::parse(&"k".repeat(40)).unwrap();
        assert!(t.matches(&"k".repeat(40)));
        assert!(!t.matches(&"k".repeat(39)));
        assert!(!t.matches(&format!("{}j", "k".repeat(39))));
        assert!(!t.matches(""));
    }

    #[tokio::test]
    async fn binding_elsewhere_than_loopback_needs_the_setting() {
        let e = bind("0.0.0.0:0", RemoteAdmin::Refused).await.unwrap_err();
        assert!(e.to_string().contains("admin_allow_remote"), "{e}");
        assert!(bind("127.0.0.1:0", RemoteAdmin::Refused).await.is_ok());
        assert!(bind("localhost:0", RemoteAdmin::Refused).await.is_ok());
        assert!(bind("0.0.0.0:0", RemoteAdmin::Allowed).await.is_ok());
    }
}
