//! Forwarding of execution queries between nodes. Execution records and console pages
//! stay on the node that ran them (they are not replicated); an execution id names
//! that node, and any node forwards get/output/cancel to it over the cluster port
//! (`POST /exec`). The executor implements `ExecutionHost` for its local registry;
//! this crate carries the calls. Bodies are JSON values so this crate does not depend
//! on the executor's record types.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::MetaError;
use crate::raft::rpc::Reply;
use crate::raft::{NodeId, RaftNode};

/// Paging of `get_execution_output`, line mode or byte mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputQuery {
    pub line_offset: Option<u64>,
    pub line_limit: Option<u64>,
    pub byte_offset: Option<u64>,
    pub byte_limit: Option<u64>,
}

/// One forwarded call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ExecRequest {
    Get {
        execution_id: String,
    },
    Output {
        execution_id: String,
        query: OutputQuery,
    },
    Cancel {
        execution_id: String,
    },
}

/// The node-local execution registry, as the executor exposes it to other nodes.
/// An unknown id is `MetaError::NotFound`.
#[async_trait]
pub trait ExecutionHost: Send + Sync + 'static {
    async fn get_execution(&self, execution_id: &str) -> Result<serde_json::Value, MetaError>;
    async fn get_execution_output(
        &self,
        execution_id: &str,
        query: &OutputQuery,
    ) -> Result<serde_json::Value, MetaError>;
    async fn cancel_execution(&self, execution_id: &str) -> Result<serde_json::Value, MetaError>;
}

/// Serves one forwarded call from the local registry.
pub async fn serve(
    host: &dyn ExecutionHost,
    req: &ExecRequest,
) -> Result<serde_json::Value, MetaError> {
    match req {
        ExecRequest::Get { execution_id } => host.get_execution(execution_id).await,
        ExecRequest::Output {
            execution_id,
            query,
        } => host.get_execution_output(execution_id, query).await,
        ExecRequest::Cancel { execution_id } => host.cancel_execution(execution_id).await,
    }
}

/// Sends execution queries to the node that owns the execution.
#[derive(Clone)]
pub struct ExecForwarder {
    node: Arc<RaftNode>,
}

impl ExecForwarder {
    pub fn new(node: Arc<RaftNode>) -> Self {
        ExecForwarder { node }
    }

    /// Calls `req` on member `owner` (its address comes from the replicated membership).
    pub async fn forward(
        &self,
        owner: NodeId,
        req: &ExecRequest,
    ) -> Result<serde_json::Value, MetaError> {
        let addr = self.node.addr_of(owner).ok_or_else(|| {
            MetaError::NotFound(format!(
                "execution belongs to raft id {owner}, which is not a cluster member"
            ))
        })?;
        let reply: Reply<serde_json::Value> = self
            .node
            .client()
            .post(&addr, "/exec", req, Duration::from_secs(10))
            .await?;
        match reply {
            Reply::Ok(v) => Ok(v),
            Reply::Failed(e) => Err(e),
            Reply::NotLeader { .. } => Err(MetaError::Unavailable(
                "owner answered with a leader redirect".into(),
            )),
        }
    }
}
