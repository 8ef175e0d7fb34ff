//! The raft log and vote, durable in their own redb file (`raft-log.redb`). Every write
//! commits with `Durability::Immediate`, so an entry is on disk (fsync) before openraft
//! is told it is flushed: a killed node loses nothing it acknowledged.

// openraft's storage traits fix `StorageError` (large) as the error type, and the
// blocking closures return it or redb's error as they are; boxing would only add
// conversions at every call.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogReader, StorageIOError, Vote};
use redb::{Database, ReadableTable, TableDefinition};

use super::types::{Entry, LogId, NodeId, StorageError, TypeConfig};

const LOGS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("logs");
const STATE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("state");
const VOTE: &str = "vote";
const PURGED: &str = "last_purged";

/// The log store; cheap to clone (readers share the database).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

fn read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_logs(&super::types::io_err(e)).into()
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(&super::types::io_err(e)).into()
}

impl LogStore {
    pub fn open(path: &Path) -> Result<Self, crate::MetaError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(LOGS)?;
            txn.open_table(STATE)?;
        }
        txn.commit()?;
        Ok(LogStore { db: Arc::new(db) })
    }

    /// True once this node has a vote or a log: it then never initialises a cluster.
    pub fn has_state(&self) -> Result<bool, crate::MetaError> {
        let txn = self.db.begin_read()?;
        let has_vote = txn.open_table(STATE)?.get(VOTE)?.is_some();
        let has_log = txn.open_table(LOGS)?.first()?.is_some();
        Ok(has_vote || has_log)
    }

    fn get_state<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let txn = self.db.begin_read().map_err(read_err)?;
        let t = txn.open_table(STATE).map_err(read_err)?;
        let v = t.get(key).map_err(read_err)?;
        v.map(|v| serde_json::from_slice(v.value()).map_err(read_err))
            .transpose()
    }

    /// Runs a blocking write on tokio's blocking pool: redb commits fsync.
    async fn blocking_write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
    ) -> Result<(), StorageError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            f(&txn)?;
            txn.commit()?;
            Ok(())
        })
        .await
        .map_err(write_err)?
        .map_err(write_err)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => Some(*e),
            Bound::Excluded(0) => return Ok(Vec::new()),
            Bound::Excluded(e) => Some(e - 1),
            Bound::Unbounded => None,
        };
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(read_err)?;
            let t = txn.open_table(LOGS).map_err(read_err)?;
            let mut out = Vec::new();
            for row in t.range(start..=end.unwrap_or(u64::MAX)).map_err(read_err)? {
                let (_, v) = row.map_err(read_err)?;
                out.push(serde_json::from_slice(v.value()).map_err(read_err)?);
            }
            Ok(out)
        })
        .await
        .map_err(read_err)?
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_state(PURGED)?;
        let last = {
            let txn = self.db.begin_read().map_err(read_err)?;
            let t = txn.open_table(LOGS).map_err(read_err)?;
            let last = t.last().map_err(read_err)?;
            match last {
                Some((_, v)) => Some(
                    serde_json::from_slice::<Entry>(v.value())
                        .map_err(read_err)?
                        .log_id,
                ),
                None => None,
            }
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(vote).map_err(write_err)?;
        self.blocking_write(move |txn| {
            txn.open_table(STATE)?.insert(VOTE, bytes.as_slice())?;
            Ok(())
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_state(VOTE)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut rows = Vec::new();
        for e in entries {
            rows.push((e.log_id.index, serde_json::to_vec(&e).map_err(write_err)?));
        }
        let r = self
            .blocking_write(move |txn| {
                let mut t = txn.open_table(LOGS)?;
                for (i, b) in &rows {
                    t.insert(*i, b.as_slice())?;
                }
                Ok(())
            })
            .await;
        // Told only after the commit (and its fsync) returned.
        callback.log_io_completed(r.as_ref().map(drop).map_err(super::types::io_err));
        r
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.blocking_write(move |txn| {
            txn.open_table(LOGS)?
                .retain_in(log_id.index.., |_, _| false)?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(&log_id).map_err(write_err)?;
        self.blocking_write(move |txn| {
            txn.open_table(STATE)?.insert(PURGED, bytes.as_slice())?;
            txn.open_table(LOGS)?
                .retain_in(..=log_id.index, |_, _| false)?;
            Ok(())
        })
        .await
    }
}
