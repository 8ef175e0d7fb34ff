//! Session logs and heap tags for mcp-v8 (issue 5): the `MetaStore` trait and its
//! backends — `local` (redb), `raft` (an embedded openraft group replicating the same
//! state machine) and `etcd` — plus the `/meta/*` JSON API, the cluster RPC port,
//! execution forwarding between nodes, and the `mcp-v8-meta` node binary. Independent
//! of V8 and of the other executor crates.

pub mod args;
pub mod cluster_api;
pub mod db;
pub mod db_store;
pub mod discovery;
pub mod error;
pub mod etcd;
pub mod forward;
pub mod http_api;
pub mod local;
pub mod model;
pub mod raft;
pub mod runtime;
pub mod store;
pub mod tls;

pub use args::{ClusterArgs, MetadataBackend};
pub use cluster_api::cluster_router;
pub use error::MetaError;
pub use forward::{ExecForwarder, ExecRequest, ExecutionHost, OutputQuery};
pub use http_api::meta_router;
pub use local::LocalStore;
pub use model::{EntryFields, NewEntry, SessionEntry, Tags, validate_heap_id};
pub use raft::{NodeStatus, RaftNode, RaftStore};
pub use runtime::{Metadata, start};
pub use store::MetaStore;
