//! `RaftStore`: the `MetaStore` of a raft member. Writes go through the leader and
//! return once committed and applied here; every read first passes a read barrier
//! (read-index through the leader), so `list_*` and `get_*` are linearizable on any
//! member.

use std::sync::Arc;

use async_trait::async_trait;

use super::node::RaftNode;
use crate::db::MetaDb;
use crate::db_store::{DbAccess, DbStore};
use crate::error::MetaError;
use crate::model::{Command, Outcome};

pub type RaftStore = DbStore<RaftAccess>;

/// A raft member's way to its replicated database.
#[derive(Clone)]
pub struct RaftAccess {
    node: Arc<RaftNode>,
}

impl RaftStore {
    pub fn new(node: Arc<RaftNode>) -> Self {
        DbStore(RaftAccess { node })
    }

    pub fn node(&self) -> &Arc<RaftNode> {
        &self.0.node
    }
}

#[async_trait]
impl DbAccess for RaftAccess {
    const BACKEND: &'static str = "raft";

    async fn write(&self, cmd: Command) -> Result<Outcome, MetaError> {
        self.node.write(cmd).await
    }

    async fn readable(&self) -> Result<MetaDb, MetaError> {
        self.node.read_barrier().await?;
        Ok(self.node.db().clone())
    }
}
