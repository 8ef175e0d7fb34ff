//! openraft's network: append/vote/snapshot RPCs to a peer's cluster port as JSON over
//! HTTP (`POST /raft/append`, `/raft/vote`, `/raft/snapshot`), carrying the secret.

use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::rpc::{PeerClient, RpcError};
use super::types::{Node, NodeId, TypeConfig};

/// Creates one `Network` per peer; all share one HTTP client (and its connections).
pub struct NetworkFactory {
    pub client: PeerClient,
}

pub struct Network {
    client: PeerClient,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, _target: NodeId, node: &Node) -> Network {
        Network {
            client: self.client.clone(),
            addr: node.addr.clone(),
        }
    }
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>>;

impl Network {
    async fn call<B, T, E>(&self, path: &str, body: &B, ttl: Duration) -> RpcResult<T, E>
    where
        B: Serialize,
        T: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let r: Result<Result<T, RaftError<NodeId, E>>, RpcError> =
            self.client.post(&self.addr, path, body, ttl).await;
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(RPCError::RemoteError(openraft::error::RemoteError::new(
                0, e,
            ))),
            // Unreachable makes openraft back off instead of hammering a dead peer.
            Err(e @ RpcError::Connect(_)) => Err(RPCError::Unreachable(Unreachable::new(&e))),
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.call("/raft/append", &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call("/raft/snapshot", &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call("/raft/vote", &rpc, option.hard_ttl()).await
    }
}
