//! The executor's cluster admin API as the operator uses it: read raft status, and remove
//! a voter before its pod goes away so a scale-down never costs the quorum.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::naming::{HTTP_PORT, Names};

/// How the operator reaches a pod's HTTP port.
#[derive(Clone, Debug)]
pub enum MemberEndpoints {
    /// In the cluster: `http://<pod>.<headless>.<ns>.svc.<domain>:8080`.
    Dns {
        /// Cluster DNS domain.
        domain: String,
    },
    /// One base URL for every pod (out-of-cluster development and tests).
    Fixed(String),
}

/// A failed admin call.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// Nothing answered.
    #[error("executor at {url} unreachable: {source}")]
    Unreachable {
        /// URL called.
        url: String,
        /// Cause.
        source: reqwest::Error,
    },
    /// The executor answered with an error.
    #[error("executor at {url} answered {status}: {body}")]
    Refused {
        /// URL called.
        url: String,
        /// HTTP status.
        status: u16,
        /// Response body (the executor's error message).
        body: String,
    },
    /// The answer was not the expected JSON.
    #[error("executor at {url} sent an unexpected answer: {reason}")]
    Malformed {
        /// URL called.
        url: String,
        /// Parse error.
        reason: String,
    },
}

impl MemberError {
    /// Bounded label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "member_unreachable",
            Self::Refused { .. } => "member_refused",
            Self::Malformed { .. } => "member_malformed",
        }
    }
}

/// `GET /cluster/status` of one node.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct RaftStatus {
    /// The answering node.
    pub node_id: Value,
    /// Current leader (a raft id or a node id string), if any.
    #[serde(default)]
    pub leader: Option<Value>,
    /// Current term.
    #[serde(default)]
    pub term: u64,
}

impl RaftStatus {
    /// The leader as a pod name: numeric raft ids are ordinal + 1.
    pub fn leader_pod(&self, names: &Names) -> Option<String> {
        match self.leader.as_ref()? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => n
                .as_i64()
                .filter(|id| *id >= 1)
                .map(|id| names.pod((id - 1) as i32)),
            _ => None,
        }
    }
}

/// Client of the executors' admin endpoints.
#[derive(Clone, Debug)]
pub struct Members {
    http: reqwest::Client,
    endpoints: MemberEndpoints,
}

impl Members {
    /// A client with short timeouts: a hung executor must not stall the reconcile loop.
    pub fn new(endpoints: MemberEndpoints) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self { http, endpoints }
    }

    fn base(&self, names: &Names, ordinal: i32) -> String {
        match &self.endpoints {
            MemberEndpoints::Dns { domain } => format!(
                "http://{}.{}:{HTTP_PORT}",
                names.pod(ordinal),
                names.headless_fqdn(domain)
            ),
            MemberEndpoints::Fixed(base) => base.trim_end_matches('/').to_string(),
        }
    }

    /// Raft status as seen by `ordinal`.
    pub async fn status(&self, names: &Names, ordinal: i32) -> Result<RaftStatus, MemberError> {
        let url = format!("{}/cluster/status", self.base(names, ordinal));
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|source| MemberError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(MemberError::Refused {
                url,
                status: status.as_u16(),
                body,
            });
        }
        let body = resp
            .text()
            .await
            .map_err(|source| MemberError::Unreachable {
                url: url.clone(),
                source,
            })?;
        serde_json::from_str(&body).map_err(|e| MemberError::Malformed {
            url,
            reason: e.to_string(),
        })
    }

    /// Asks `via` (a surviving member) to remove `node` from the voters. A node that is not
    /// a member any more (404) counts as removed, so a retried scale-down is idempotent.
    pub async fn remove(
        &self,
        names: &Names,
        via: i32,
        node: &str,
        secret: &str,
    ) -> Result<(), MemberError> {
        let url = format!("{}/cluster/remove/{node}", self.base(names, via));
        let resp = self
            .http
            .post(&url)
            .bearer_auth(secret)
            .send()
            .await
            .map_err(|source| MemberError::Unreachable {
                url: url.clone(),
                source,
            })?;
        let status = resp.status();
        if status.is_success() || status.as_u16() == 404 {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        Err(MemberError::Refused {
            url,
            status: status.as_u16(),
            body: body.chars().take(300).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::testing::cluster_from_yaml;

    #[test]
    fn numeric_leader_ids_map_to_pod_names() {
        let c = cluster_from_yaml("name: c\nspec: {image: i, storage: {stateless: {}}}");
        let names = Names::of(&c);
        let s: RaftStatus =
            serde_json::from_str(r#"{"node_id":"c-0","leader":3,"term":2}"#).unwrap();
        assert_eq!(s.leader_pod(&names).as_deref(), Some("c-2"));
        let s: RaftStatus =
            serde_json::from_str(r#"{"node_id":"c-0","leader":"c-1","term":2}"#).unwrap();
        assert_eq!(s.leader_pod(&names).as_deref(), Some("c-1"));
        let s: RaftStatus = serde_json::from_str(r#"{"node_id":"c-0","leader":null}"#).unwrap();
        assert_eq!(s.leader_pod(&names), None);
    }

    #[test]
    fn dns_endpoints_use_the_headless_service() {
        let c = cluster_from_yaml("name: c\nspec: {image: i, storage: {stateless: {}}}");
        let m = Members::new(MemberEndpoints::Dns {
            domain: "cluster.local".into(),
        });
        assert_eq!(
            m.base(&Names::of(&c), 2),
            "http://c-2.c-peers.ns.svc.cluster.local:8080"
        );
    }
}
