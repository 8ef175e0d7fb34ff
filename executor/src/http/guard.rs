//! Host and Origin validation for every HTTP route (DNS-rebinding protection): the
//! Host must be an allowed host, and an Origin, when a browser sends one, must be an
//! allowed origin or name an allowed host. `*` allows any.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api::error_body;

/// The allow-lists, lowercased.
#[derive(Debug, Clone)]
pub struct Guard {
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Guard {
    pub fn new(hosts: &[String], origins: &[String]) -> Self {
        let norm = |v: &[String]| {
            v.iter()
                .map(|s| s.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Self {
            hosts: norm(hosts),
            origins: norm(origins),
        }
    }

    /// Why a request must be refused, if it must.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !self.host_allowed(&host) {
            return Err(format!(
                "Host {host:?} is not allowed; start the server with --allowed-hosts {}",
                hostname(&host)
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
            if !self.origin_allowed(&origin) {
                return Err(format!(
                    "Origin {origin:?} is not allowed; start the server with --allowed-origins {origin}"
                ));
            }
        }
        Ok(())
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = hostname(host);
        self.hosts.iter().any(|h| {
            h == "*"
                || h == host
                || h == name
                // `*.headless.ns.svc` allows every pod name under a headless Service.
                || h.strip_prefix("*.").is_some_and(|suffix| {
                    name.len() > suffix.len() + 1
                        && name.ends_with(suffix)
                        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
                })
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.origins.iter().any(|o| o == "*" || o == origin) {
            return true;
        }
        // An origin on an allowed host (any port) is the server's own site.
        origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && self.host_allowed(rest)
        }) && !self.hosts.iter().any(|h| h == "*")
    }
}

/// `host[:port]` → host, keeping IPv6 brackets.
fn hostname(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |i| &authority[..=i]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

pub async fn layer(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    // Probes and scrapes arrive with the pod IP as Host and expose nothing a rebinding
    // attack could use.
    if matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    match guard.check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(msg) => (StatusCode::FORBIDDEN, error_body(&msg)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn hosts_and_origins_are_checked() {
        let g = Guard::new(
            &["localhost".into(), "127.0.0.1".into(), "mcp.ns.svc".into()],
            &["https://app.example.com".into()],
        );
        assert!(g.check(&headers("127.0.0.1:8080", None)).is_ok());
        assert!(g.check(&headers("mcp.ns.svc", None)).is_ok());
        let e = g.check(&headers("evil.example:8080", None)).unwrap_err();
        assert!(e.contains("--allowed-hosts evil.example"), "{e}");
        assert!(
            g.check(&headers("localhost:8080", Some("http://localhost:3000")))
                .is_ok()
        );
        assert!(
            g.check(&headers("localhost:8080", Some("https://app.example.com")))
                .is_ok()
        );
        let e = g
            .check(&headers("localhost:8080", Some("https://evil.example")))
            .unwrap_err();
        assert!(e.contains("--allowed-origins"), "{e}");
        assert!(g.check(&headers("[::1]:8080", None)).is_err());
        let pods = Guard::new(&["*.h.ns.svc".into()], &[]);
        assert!(pods.check(&headers("c-0.h.ns.svc:8080", None)).is_ok());
        assert!(pods.check(&headers("h.ns.svc:8080", None)).is_err());
        assert!(pods.check(&headers("evilh.ns.svc", None)).is_err());
        let any = Guard::new(&["*".into()], &[]);
        assert!(any.check(&headers("anything:1", None)).is_ok());
        assert!(
            any.check(&headers("anything:1", Some("https://x.example")))
                .is_err()
        );
    }
}
