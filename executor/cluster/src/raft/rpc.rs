//! The wire side of the cluster port: an authenticated JSON-over-HTTP client for peer
//! calls, the reply envelope shared by the join/write/read/forward calls, and the
//! shared-secret check the server applies to every route.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::types::NodeId;
use crate::error::MetaError;
use crate::tls::ClusterTls;

/// Why a peer call did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Nothing was sent (connection refused or unresolvable): safe to retry anywhere.
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("peer call failed: {0}")]
    Transport(String),
    #[error("peer answered HTTP {0}: {1}")]
    Status(u16, String),
}

impl RpcError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            RpcError::Connect(_) => "connect",
            RpcError::Transport(_) => "transport",
            RpcError::Status(..) => "status",
        }
    }
}

impl From<RpcError> for MetaError {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::Status(401, m) => MetaError::Unauthorized(m),
            other => MetaError::Unavailable(other.to_string()),
        }
    }
}

/// The answer to a join, write, read-index, remove or execution-forward call.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", content = "body", rename_all = "snake_case")]
pub enum Reply<T> {
    Ok(T),
    /// The callee is not the leader; retry on `leader` when it is known.
    NotLeader {
        leader: Option<(NodeId, String)>,
    },
    Failed(MetaError),
}

/// A write committed by the leader: its outcome and the log index it got, which the
/// forwarding node waits to apply before answering (read-your-writes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteReply {
    pub outcome: crate::model::Outcome,
    pub log_index: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub node_id: NodeId,
    pub addr: String,
}

/// What a member says about itself on `GET /raft/info` (used by discovery).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node_id: NodeId,
    pub name: String,
    pub addr: String,
    /// The node has a vote or a log on disk.
    pub has_state: bool,
    /// The node belongs to a cluster (has a membership config).
    pub member: bool,
    pub leader: Option<NodeId>,
    pub voters: Vec<NodeId>,
}

/// The peer client's connection settings, shared by the plain and the TLS client.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(500))
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
}

/// Authenticated JSON client for the cluster port: `https://` with the member's
/// certificate under `--cluster-tls-*`, plain `http://` otherwise.
#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    tls: Option<Arc<ClusterTls>>,
    secret: Option<Arc<str>>,
}

impl PeerClient {
    pub fn new(secret: Option<Arc<str>>, tls: Option<Arc<ClusterTls>>) -> Self {
        let http = client_builder()
            .build()
            .expect("a plain HTTP client always builds");
        PeerClient { http, tls, secret }
    }

    /// The client and URL for `path` on `addr` (the TLS client is re-read so rotated
    /// certificates are used for new connections).
    fn request(&self, method: reqwest::Method, addr: &str, path: &str) -> reqwest::RequestBuilder {
        let req = match &self.tls {
            Some(tls) => tls
                .client()
                .request(method, format!("https://{addr}{path}")),
            None => self.http.request(method, format!("http://{addr}{path}")),
        };
        match &self.secret {
            Some(s) => req.bearer_auth(s),
            None => req,
        }
    }

    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<R, RpcError> {
        let req = self
            .request(reqwest::Method::POST, addr, path)
            .json(body)
            .timeout(timeout);
        Self::finish(addr, req.send().await).await
    }

    pub async fn get<R: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<R, RpcError> {
        let req = self
            .request(reqwest::Method::GET, addr, path)
            .timeout(timeout);
        Self::finish(addr, req.send().await).await
    }

    async fn finish<R: DeserializeOwned>(
        addr: &str,
        resp: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<R, RpcError> {
        let resp = resp.map_err(|e| {
            if e.is_connect() {
                RpcError::Connect(format!("{addr} ({})", root_cause(&e)))
            } else {
                RpcError::Transport(format!("{e} ({})", root_cause(&e)))
            }
        })?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(RpcError::Status(
                status.as_u16(),
                text.chars().take(300).collect(),
            ));
        }
        resp.json()
            .await
            .map_err(|e| RpcError::Transport(e.to_string()))
    }
}

/// The innermost error of a chain: for a refused TLS handshake that is the reason
/// (unknown issuer, name mismatch), which the outer layers hide.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Compares a presented secret with the expected one in time independent of where
/// they differ, so the secret cannot be guessed byte by byte.
pub fn secret_matches(expected: &str, presented: &str) -> bool {
    let (a, b) = (expected.as_bytes(), presented.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        assert!(secret_matches("s3cret", "s3cret"));
        assert!(!secret_matches("s3cret", "s3cre"));
        assert!(!secret_matches("s3cret", "s3cret!"));
        assert!(!secret_matches("s3cret", ""));
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
    }

    #[test]
    fn replies_round_trip() {
        let r: Reply<u64> = Reply::NotLeader {
            leader: Some((2, "n2:1".into())),
        };
        let back: Reply<u64> = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert!(matches!(
            back,
            Reply::NotLeader {
                leader: Some((2, _))
            }
        ));
        let f: Reply<u64> = Reply::Failed(MetaError::NotFound("x".into()));
        let back: Reply<u64> = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert!(matches!(back, Reply::Failed(MetaError::NotFound(_))));
    }
}
