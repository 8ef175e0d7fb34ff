//! Addresses `fetch()` and module imports never connect to, whatever a policy says:
//! link-local ranges and the cloud metadata endpoints that hand out credentials.
//! Names are checked after resolution (a custom resolver), so DNS cannot smuggle one
//! in, and IP literals are checked before connecting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is refused, or None.
pub fn refused(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refused_v4(v4),
            None => refused_v6(v6),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if o[0] == 169 && o[1] == 254 {
        // 169.254.169.254 (AWS, GCP, Azure, OpenStack) lives here too.
        Some("a link-local address (169.254.0.0/16, where cloud metadata services live)")
    } else if ip == Ipv4Addr::new(100, 100, 100, 200) || ip == Ipv4Addr::new(192, 0, 0, 192) {
        Some("a cloud metadata service address")
    } else {
        None
    }
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some("the cloud metadata service address fd00:ec2::254")
    } else if (ip.segments()[0] & 0xffc0) == 0xfe80 {
        Some("a link-local address (fe80::/10)")
    } else {
        None
    }
}

/// The system resolver, minus refused addresses. A name that resolves only to
/// refused addresses fails to resolve with the reason.
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| refused(a.ip()).is_none())
                .collect();
            if kept.is_empty()
                && let Some(why) = found.first().and_then(|a| refused(a.ip()))
            {
                return Err(format!(
                    "{host} resolves to {why}, which is never reachable from runs"
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// Checks a URL's host when it is an IP literal (the resolver never sees those).
pub fn check_url(url: &url::Url) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    match refused(ip) {
        Some(why) => Err(format!("{ip} is {why}, which is never reachable from runs")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_link_local_are_refused_in_every_spelling() {
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
            "fe80::1",
            "100.100.100.200",
        ] {
            assert!(refused(bad.parse().unwrap()).is_some(), "{bad}");
        }
        for ok in ["127.0.0.1", "10.0.0.1", "::1", "fd00::1", "8.8.8.8"] {
            assert!(refused(ok.parse().unwrap()).is_none(), "{ok}");
        }
        assert!(check_url(&"http://[::ffff:a9fe:a9fe]/".parse().unwrap()).is_err());
        assert!(check_url(&"http://169.254.169.254/latest".parse().unwrap()).is_err());
        assert!(check_url(&"http://example.com/".parse().unwrap()).is_ok());
    }
}
