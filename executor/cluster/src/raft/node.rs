//! `RaftNode`: one running member of the metadata group. It starts openraft on the
//! durable log and state machine, and gives the rest of the crate writes that are
//! forwarded to the leader and answered only once committed and applied here,
//! linearizable read barriers (read-index through the leader), and membership changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, Config, SnapshotPolicy};
use serde::{Deserialize, Serialize};

use super::batcher::Batcher;
use super::log_store::LogStore;
use super::network::NetworkFactory;
use super::rpc::{JoinRequest, NodeInfo, PeerClient, Reply, RpcError, WriteReply};
use super::state_machine::StateMachine;
use super::types::{NodeId, Raft};
use crate::db::MetaDb;
use crate::error::MetaError;
use crate::model::{Command, Outcome};

/// How a member is configured (from `ClusterArgs`).
#[derive(Debug, Clone)]
pub struct RaftSettings {
    /// The `--node-id` string, reported by status.
    pub name: String,
    pub id: NodeId,
    /// host:port peers reach this node's cluster port at.
    pub advertise: String,
    pub data_dir: PathBuf,
    pub secret: Option<Arc<str>>,
    /// `--cluster-tls-*`: peers are called over HTTPS with this member's certificate.
    pub tls: Option<Arc<crate::tls::ClusterTls>>,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// Build a snapshot (and compact the log) after this many applied entries.
    pub snapshot_every: u64,
}

impl RaftSettings {
    /// How long a write or a read barrier may wait for a quorum before failing.
    pub fn op_timeout(&self) -> Duration {
        Duration::from_millis((self.election_max_ms * 10).clamp(2_000, 10_000))
    }
}

/// What `GET /cluster/status` reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NodeStatus {
    pub node_id: String,
    pub raft_id: NodeId,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    /// Highest log index this node has applied (every applied entry is committed).
    pub commit_index: Option<u64>,
    pub state: String,
}

pub struct RaftNode {
    pub settings: RaftSettings,
    raft: Raft,
    db: MetaDb,
    log: LogStore,
    client: PeerClient,
    batcher: Batcher,
}

fn unavailable(e: impl std::fmt::Display) -> MetaError {
    MetaError::Unavailable(e.to_string())
}

impl RaftNode {
    /// Opens the log and state machine under `data_dir` and starts the raft core. The
    /// node does not initialise or join anything: discovery decides that.
    pub async fn start(settings: RaftSettings) -> Result<Arc<Self>, MetaError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            MetaError::Storage(format!(
                "cannot create {}: {e}",
                settings.data_dir.display()
            ))
        })?;
        let log = LogStore::open(&settings.data_dir.join("raft-log.redb"))?;
        let sm = StateMachine::open(&settings.data_dir)?;
        let db = sm.db().clone();
        let config = Config {
            cluster_name: "mcp-v8".into(),
            heartbeat_interval: settings.heartbeat_ms,
            election_timeout_min: settings.election_min_ms,
            election_timeout_max: settings.election_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(settings.snapshot_every),
            max_in_snapshot_log_to_keep: settings.snapshot_every / 2,
            install_snapshot_timeout: 2_000,
            ..Default::default()
        };
        let config = Arc::new(
            config
                .validate()
                .map_err(|e| MetaError::InvalidInput(e.to_string()))?,
        );
        let client = PeerClient::new(settings.secret.clone(), settings.tls.clone());
        let network = NetworkFactory {
            client: client.clone(),
        };
        let raft = Raft::new(settings.id, config, network, log.clone(), sm)
            .await
            .map_err(unavailable)?;
        let batcher = Batcher::start(raft.clone());
        Ok(Arc::new(RaftNode {
            settings,
            raft,
            db,
            log,
            client,
            batcher,
        }))
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn client(&self) -> &PeerClient {
        &self.client
    }

    /// The applied state reads are served from (after a read barrier).
    pub(crate) fn db(&self) -> &MetaDb {
        &self.db
    }

    pub fn has_state(&self) -> Result<bool, MetaError> {
        self.log.has_state()
    }

    pub fn status(&self) -> NodeStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        NodeStatus {
            node_id: self.settings.name.clone(),
            raft_id: self.settings.id,
            leader: m.current_leader,
            term: m.current_term,
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            commit_index: m.last_applied.map(|l| l.index),
            state: format!("{:?}", m.state),
        }
    }

    pub fn info(&self) -> NodeInfo {
        let s = self.status();
        NodeInfo {
            node_id: self.settings.id,
            name: self.settings.name.clone(),
            addr: self.settings.advertise.clone(),
            has_state: self.has_state().unwrap_or(true),
            member: !s.voters.is_empty(),
            leader: s.leader,
            voters: s.voters,
        }
    }

    /// The cluster address of a member, from the replicated membership.
    pub fn addr_of(&self, id: NodeId) -> Option<String> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership().get_node(&id).map(|n| n.addr.clone())
    }

    /// Initialises a new cluster with these members (only called by discovery, once it
    /// has established that nobody has state).
    pub async fn initialize(&self, members: BTreeMap<NodeId, String>) -> Result<(), MetaError> {
        let nodes: BTreeMap<NodeId, BasicNode> = members
            .into_iter()
            .map(|(id, a)| (id, BasicNode::new(a)))
            .collect();
        self.raft.initialize(nodes).await.map_err(unavailable)
    }

    fn leader_of<E>(
        e: &RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>,
    ) -> Option<Reply<E>> {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Some(Reply::NotLeader {
                leader: f
                    .leader_id
                    .zip(f.leader_node.as_ref().map(|n| n.addr.clone())),
            }),
            _ => None,
        }
    }

    /// Proposes `cmd` if this node leads; answers once it is committed and applied.
    pub async fn write_here(&self, cmd: Command) -> Reply<WriteReply> {
        if let Err(e) = cmd.validate() {
            return Reply::Failed(e);
        }
        match tokio::time::timeout(self.settings.op_timeout(), self.batcher.write(cmd)).await {
            Err(_) => Reply::Failed(MetaError::Timeout(
                "no quorum acknowledged the write".into(),
            )),
            Ok(reply) => reply,
        }
    }

    /// Writes through the leader wherever it is; returns once the entry is committed and
    /// applied on this node, so this node reads its own write.
    pub async fn write(&self, cmd: Command) -> Result<Outcome, MetaError> {
        let w = self
            .via_leader("/raft/write", &cmd, |n, c| {
                Box::pin(n.write_here(c.clone()))
            })
            .await?;
        self.wait_applied(w.log_index).await?;
        Ok(w.outcome)
    }

    /// Leader side of a read barrier: confirms leadership with a quorum and returns the
    /// index a reader must have applied to see every write committed before the call.
    pub async fn read_index_here(&self) -> Reply<Option<u64>> {
        match tokio::time::timeout(self.settings.op_timeout(), self.raft.ensure_linearizable())
            .await
        {
            Err(_) => Reply::Failed(MetaError::Timeout("no quorum confirmed the leader".into())),
            Ok(Ok(log_id)) => Reply::Ok(log_id.map(|l| l.index)),
            Ok(Err(RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(
                f,
            )))) => Reply::NotLeader {
                leader: f.leader_id.zip(f.leader_node.map(|n| n.addr)),
            },
            Ok(Err(e)) => Reply::Failed(unavailable(e)),
        }
    }

    /// Waits until this node's state reflects every write committed before the call
    /// (linearizable reads on any member).
    pub async fn read_barrier(&self) -> Result<(), MetaError> {
        let index = self
            .via_leader("/raft/read_index", &(), |n, _| {
                Box::pin(n.read_index_here())
            })
            .await?;
        match index {
            Some(i) => self.wait_applied(i).await,
            None => Ok(()),
        }
    }

    async fn wait_applied(&self, index: u64) -> Result<(), MetaError> {
        self.raft
            .wait(Some(self.settings.op_timeout()))
            .applied_index_at_least(Some(index), "read own write")
            .await
            .map(drop)
            .map_err(|e| MetaError::Timeout(format!("this node did not apply index {index}: {e}")))
    }

    /// Runs `here` if this node leads, else calls `path` on the leader; retries while
    /// no leader is known or the call could not even connect (nothing was proposed).
    async fn via_leader<B, T>(
        &self,
        path: &str,
        body: &B,
        here: impl for<'a> Fn(&'a Self, &'a B) -> futures::future::BoxFuture<'a, Reply<T>>,
    ) -> Result<T, MetaError>
    where
        B: Serialize + Sync,
        T: serde::de::DeserializeOwned,
    {
        let deadline = Instant::now() + self.settings.op_timeout();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(MetaError::Timeout(format!("no leader answered {path}")));
            }
            let reply = match here(self, body).await {
                Reply::NotLeader {
                    leader: Some((id, addr)),
                } if id != self.settings.id => {
                    match self
                        .client
                        .post::<B, Reply<T>>(&addr, path, body, remaining)
                        .await
                    {
                        Ok(r) => r,
                        Err(RpcError::Connect(_)) => Reply::NotLeader { leader: None },
                        Err(e) => return Err(e.into()),
                    }
                }
                other => other,
            };
            match reply {
                Reply::Ok(v) => return Ok(v),
                Reply::Failed(e) => return Err(e),
                Reply::NotLeader { .. } => tokio::time::sleep(Duration::from_millis(30)).await,
            }
        }
    }

    /// Leader side of a join: adds the node as a learner, waits for it to catch up, then
    /// promotes it to voter. Joining again is harmless.
    pub async fn join_here(&self, req: JoinRequest) -> Reply<()> {
        let status = self.status();
        if status.voters.contains(&req.node_id) {
            return Reply::Ok(());
        }
        if let Err(e) = self
            .raft
            .add_learner(req.node_id, BasicNode::new(req.addr), true)
            .await
        {
            return Self::leader_of(&e).unwrap_or_else(|| Reply::Failed(unavailable(e)));
        }
        let voters = ChangeMembers::AddVoterIds(BTreeSet::from([req.node_id]));
        match self.raft.change_membership(voters, false).await {
            Ok(_) => Reply::Ok(()),
            Err(e) => Self::leader_of(&e).unwrap_or_else(|| Reply::Failed(unavailable(e))),
        }
    }

    pub async fn join(&self, req: JoinRequest) -> Result<(), MetaError> {
        self.via_leader("/raft/join", &req, |n, r| Box::pin(n.join_here(r.clone())))
            .await
    }

    /// Leader side of a removal: drops the node from voters and learners.
    pub async fn remove_here(&self, id: NodeId) -> Reply<()> {
        let status = self.status();
        let change = if status.voters.contains(&id) {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else if status.learners.contains(&id) {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Reply::Failed(MetaError::NotFound(format!("raft id {id} is not a member")));
        };
        match self.raft.change_membership(change, false).await {
            Ok(_) => Reply::Ok(()),
            Err(e) => Self::leader_of(&e).unwrap_or_else(|| Reply::Failed(unavailable(e))),
        }
    }

    pub async fn remove(&self, id: NodeId) -> Result<(), MetaError> {
        self.via_leader("/raft/remove", &id, |n, i| Box::pin(n.remove_here(*i)))
            .await
    }

    /// Asks a peer what it is (discovery).
    pub async fn peer_info(&self, addr: &str) -> Result<NodeInfo, RpcError> {
        self.client
            .get(addr, "/raft/info", Duration::from_millis(800))
            .await
    }

    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
