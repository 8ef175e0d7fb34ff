//! Host patterns: the module allow-list (`host[:port]`) and the host of a header rule
//! (exact or `*.domain`). Names compare case-insensitively.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `host` (any port) or `host:port`, as given to `--module-allow-host`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl HostPort {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not host or host:port");
        if s.is_empty() || s.contains('/') || s.contains('@') {
            return Err(bad());
        }
        // [v6]:port, [v6], host:port, host
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(bad)?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(bad()),
            }
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                _ => (s, None),
            }
        };
        let port = port
            .map(|p| p.parse::<u16>().map_err(|_| bad()))
            .transpose()?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether a URL's host and effective port are allowed by this entry.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.host.eq_ignore_ascii_case(host) && self.port.is_none_or(|p| p == port)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => write!(f, "{host}"),
        }
    }
}

/// Whether `pattern` (exact, or `*.domain` which also matches the bare domain)
/// matches `host`.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(domain) => {
            host.eq_ignore_ascii_case(domain)
                || (host.len() > domain.len()
                    && host[host.len() - domain.len()..].eq_ignore_ascii_case(domain)
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_entries_parse_and_match_ports() {
        let any = HostPort::parse("ESM.sh").unwrap();
        assert!(any.allows("esm.sh", 443) && any.allows("esm.sh", 8080));
        assert!(!any.allows("evil.esm.sh", 443));
        let one = HostPort::parse("127.0.0.1:8000").unwrap();
        assert!(one.allows("127.0.0.1", 8000) && !one.allows("127.0.0.1", 8001));
        let v6 = HostPort::parse("[::1]:9").unwrap();
        assert!(v6.allows("[::1]", 9));
        assert_eq!(v6.to_string(), "[::1]:9");
        for bad in ["", "a/b", "h:x", "user@h", "[::1"] {
            assert!(HostPort::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_match_subdomains_and_the_bare_domain() {
        assert!(host_matches("*.example.com", "api.example.com"));
        assert!(host_matches("*.example.com", "A.B.Example.COM"));
        assert!(host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "badexample.com"));
        assert!(host_matches("api.example.com", "API.example.com."));
        assert!(!host_matches("api.example.com", "x.api.example.com"));
    }
}
