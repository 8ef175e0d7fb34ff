//! The `raft` backend: an embedded openraft group replicating the metadata state
//! machine. `types` declares the raft types, `log_store` and `state_machine` keep the
//! log and the applied state durable on disk, `network` sends RPCs to peers over HTTP,
//! `node` owns the running member (writes with leader forwarding, linearizable reads,
//! membership changes), and `store` exposes it as a `MetaStore`.

pub mod batcher;
pub mod log_store;
pub mod network;
pub mod node;
pub mod rpc;
pub mod state_machine;
pub mod store;
pub mod types;

pub use node::{NodeStatus, RaftNode, RaftSettings};
pub use store::RaftStore;
pub use types::{NodeId, TypeConfig, parse_node_id};
