//! Where an outbound request may go. A credential is attached only to a URL of exactly
//! the tracker's origin (scheme, host and port: `https://site.atlassian.net.evil.tld` is not
//! `https://site.atlassian.net`); loopback, private and link-local addresses are reached
//! only by an instance whose own base URL is one (tests, a self-hosted tracker), both for
//! literal addresses and for names that resolve to them; node URLs carry no query,
//! fragment or user info.

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use url::Host;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0:?} is not a URL: {1}")]
    NotAUrl(String, String),
    #[error("{0:?} must be http or https")]
    Scheme(String),
    #[error("{0:?} must not carry {1}")]
    Carries(String, &'static str),
    #[error(
        "{0:?} is a loopback, private or link-local address, which this instance may not reach"
    )]
    Private(String),
}

/// Which addresses an instance may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Public addresses only: the tracker itself is public.
    PublicOnly,
    /// Private ones too: the tracker's own base URL is private (a test, a self-hosted site).
    PrivateToo,
}

impl Reach {
    /// What an instance whose tracker is at `base_url` may reach.
    pub fn for_base_url(base_url: &str) -> Reach {
        match Url::parse(base_url).ok().as_ref().and_then(Url::host) {
            Some(host) if host_is_private(&host) => Reach::PrivateToo,
            _ => Reach::PublicOnly,
        }
    }
}

/// Loopback, private (RFC 1918, unique local), link-local, unspecified or shared-address
/// space: nothing a SaaS tracker's content should make us call.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
            }
        },
    }
}

fn host_is_private(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => is_private(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => is_private(IpAddr::V6(*ip)),
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    }
}

/// Whether `url` has exactly the origin of `base_url`. Only then may a request to it carry
/// the tracker's credentials.
pub fn same_origin(url: &str, base_url: &str) -> bool {
    match (Url::parse(url), Url::parse(base_url)) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.username().is_empty()
                && a.password().is_none()
        }
        _ => false,
    }
}

/// A URL the instance may call without credentials (an attachment to download).
pub fn check_target(url: &str, reach: Reach) -> Result<Url, TargetError> {
    let parsed = parse_http(url)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(TargetError::Carries(url.into(), "user info"));
    }
    if reach == Reach::PublicOnly && parsed.host().as_ref().is_some_and(host_is_private) {
        return Err(TargetError::Private(url.into()));
    }
    Ok(parsed)
}

/// A node's URL as an invitation or handshake names it: http(s), a host, a path at most.
/// A query or fragment would let a peer steer the node's requests to its own routes.
pub fn check_node_url(url: &str) -> Result<Url, TargetError> {
    let parsed = parse_http(url)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(TargetError::Carries(url.into(), "user info"));
    }
    if parsed.query().is_some() {
        return Err(TargetError::Carries(url.into(), "a query"));
    }
    if parsed.fragment().is_some() {
        return Err(TargetError::Carries(url.into(), "a fragment"));
    }
    Ok(parsed)
}

fn parse_http(url: &str) -> Result<Url, TargetError> {
    let parsed = Url::parse(url).map_err(|e| TargetError::NotAUrl(url.into(), e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(TargetError::Scheme(url.into()));
    }
    Ok(parsed)
}

/// A resolver that drops private addresses, so a public name that resolves to one (DNS
/// rebinding, an internal name) is not reached by a `PublicOnly` client.
#[derive(Debug, Default)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| !is_private(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(TargetError::Private(host).into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_the_exact_origin() {
        let base = "https://site.atlassian.net";
        let cases = [
            (
                "https://site.atlassian.net/rest/api/3/attachment/content/1",
                true,
            ),
            ("https://site.atlassian.net:443/secure/x", true),
            ("https://site.atlassian.net.evil.tld/x", false),
            ("https://site.atlassian.net@evil.tld/x", false),
            ("https://user@site.atlassian.net/x", false),
            ("http://site.atlassian.net/x", false),
            ("https://site.atlassian.net:8443/x", false),
            ("https://evil.tld/?u=https://site.atlassian.net", false),
            ("not a url", false),
        ];
        for (url, same) in cases {
            assert_eq!(same_origin(url, base), same, "{url}");
        }
    }

    #[test]
    fn private_targets_need_a_private_base() {
        let cases = [
            ("https://example.com/file", Reach::PublicOnly, Ok(())),
            (
                "http://127.0.0.1:8080/file",
                Reach::PublicOnly,
                Err("private"),
            ),
            ("http://localhost/file", Reach::PublicOnly, Err("private")),
            ("http://10.1.2.3/file", Reach::PublicOnly, Err("private")),
            (
                "http://169.254.169.254/latest/meta-data",
                Reach::PublicOnly,
                Err("private"),
            ),
            ("http://[::1]/file", Reach::PublicOnly, Err("private")),
            ("http://[fd00::1]/file", Reach::PublicOnly, Err("private")),
            (
                "http://[::ffff:10.0.0.1]/file",
                Reach::PublicOnly,
                Err("private"),
            ),
            ("http://100.64.0.1/file", Reach::PublicOnly, Err("private")),
            ("http://127.0.0.1:8080/file", Reach::PrivateToo, Ok(())),
            (
                "file:///etc/passwd",
                Reach::PrivateToo,
                Err("http or https"),
            ),
            (
                "https://u:p@example.com/file",
                Reach::PublicOnly,
                Err("user info"),
            ),
        ];
        for (url, reach, want) in cases {
            match (check_target(url, reach), want) {
                (Ok(_), Ok(())) => {}
                (Err(e), Err(says)) => assert!(e.to_string().contains(says), "{url}: {e}"),
                (got, want) => panic!("{url}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn reach_follows_the_instance_base_url() {
        let cases = [
            ("https://site.atlassian.net", Reach::PublicOnly),
            ("http://127.0.0.1:3000", Reach::PrivateToo),
            ("https://redmine.internal.lan", Reach::PublicOnly),
            ("http://192.168.1.10/redmine", Reach::PrivateToo),
            ("http://localhost:8080", Reach::PrivateToo),
        ];
        for (base, reach) in cases {
            assert_eq!(Reach::for_base_url(base), reach, "{base}");
        }
    }

    #[test]
    fn node_urls_carry_no_query_fragment_or_user_info() {
        let cases = [
            ("https://node-b.example.com", None),
            ("https://node-b.example.com/twinsync", None),
            (
                "https://node-b.example.com/?next=/api/connections",
                Some("a query"),
            ),
            ("https://node-b.example.com/#x", Some("a fragment")),
            ("https://a:b@node-b.example.com", Some("user info")),
            ("ftp://node-b.example.com", Some("http or https")),
        ];
        for (url, err) in cases {
            match (check_node_url(url), err) {
                (Ok(_), None) => {}
                (Err(e), Some(says)) => assert!(e.to_string().contains(says), "{url}: {e}"),
                (got, want) => panic!("{url}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[tokio::test]
    async fn the_public_resolver_drops_private_addresses() {
        let name: Name = "localhost".parse().unwrap();
        let err = match PublicResolver.resolve(name).await {
            Ok(_) => panic!("localhost resolved through the public resolver"),
            Err(e) => e,
        };
        assert!(err.to_string().contains("private"), "{err}");
    }
}
