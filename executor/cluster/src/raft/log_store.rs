//! The raft log and vote, durable in their own redb file (`raft-log.redb`). One writer
//! thread owns every write and group-commits whatever is queued in one transaction
//! (`Durability::Immediate`: one fsync for the batch); openraft is told an entry is
//! flushed only after that commit returned, so a killed node loses nothing it
//! acknowledged, while concurrent appends share fsyncs instead of queueing for them.
//! Entries appended but not yet committed are served to readers from memory.

// openraft's storage traits fix `StorageError` (large) as the error type, and the
// blocking closures return it or redb's error as they are; boxing would only add
// conversions at every call.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogReader, StorageIOError, Vote};
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use super::types::{Entry, LogId, NodeId, StorageError, TypeConfig, io_err};

const LOGS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("logs");
const STATE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("state");
const VOTE: &str = "vote";
const PURGED: &str = "last_purged";
/// Most operations folded into one commit.
const MAX_BATCH: usize = 4096;

type Row = (u64, Arc<Vec<u8>>);
type WriteFn = Box<dyn FnOnce(&WriteTransaction) -> Result<(), redb::Error> + Send>;

enum Op {
    Append(Vec<Row>, LogFlushed<TypeConfig>),
    Write(WriteFn, tokio::sync::oneshot::Sender<Result<(), String>>),
}

/// Entries handed to `append` whose commit has not returned yet, by index.
type Pending = Arc<Mutex<BTreeMap<u64, Arc<Vec<u8>>>>>;

/// The log store; cheap to clone (readers share the database and the pending map).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    pending: Pending,
    tx: mpsc::Sender<Op>,
}

fn read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_logs(&io_err(e)).into()
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(&io_err(e)).into()
}

/// The writer thread: takes everything queued, writes it in order in one transaction,
/// commits (fsync), then completes each operation.
fn writer(db: &Database, pending: &Pending, rx: &mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut writes = Vec::new();
        let result = (|| -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            for op in &mut batch {
                match op {
                    Op::Append(rows, _) => {
                        let mut t = txn.open_table(LOGS)?;
                        for (i, b) in rows.iter() {
                            t.insert(*i, b.as_slice())?;
                        }
                    }
                    Op::Write(f, _) => {
                        let f = std::mem::replace(f, Box::new(|_| Ok(())));
                        f(&txn)?;
                    }
                }
            }
            txn.commit()?;
            Ok(())
        })()
        .map_err(|e| e.to_string());
        for op in batch {
            match op {
                Op::Append(rows, cb) => {
                    if result.is_ok() {
                        let mut p = pending.lock().expect("pending map lock");
                        for (i, b) in &rows {
                            // A later append may have replaced this index: keep the newer one.
                            if p.get(i).is_some_and(|cur| Arc::ptr_eq(cur, b)) {
                                p.remove(i);
                            }
                        }
                    }
                    cb.log_io_completed(result.clone().map_err(io_err));
                }
                Op::Write(_, reply) => writes.push(reply),
            }
        }
        for reply in writes {
            let _ = reply.send(result.clone());
        }
    }
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
        let db = Arc::new(db);
        let pending = Pending::default();
        let (tx, rx) = mpsc::channel();
        let (wdb, wpending) = (db.clone(), pending.clone());
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || writer(&wdb, &wpending, &rx))
            .map_err(|e| {
                crate::MetaError::Storage(format!("cannot start the raft log writer: {e}"))
            })?;
        Ok(LogStore { db, pending, tx })
    }

    /// True once this node has a vote or a log: it then never initialises a cluster.
    pub fn has_state(&self) -> Result<bool, crate::MetaError> {
        let txn = self.db.begin_read()?;
        let has_vote = txn.open_table(STATE)?.get(VOTE)?.is_some();
        let has_log = txn.open_table(LOGS)?.first()?.is_some();
        Ok(has_vote || has_log || !self.pending.lock().expect("pending map lock").is_empty())
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

    /// Queues a write behind every queued append and waits for its commit.
    async fn write(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
    ) -> Result<(), StorageError> {
        let (reply, done) = tokio::sync::oneshot::channel();
        self.tx
            .send(Op::Write(Box::new(f), reply))
            .map_err(write_err)?;
        done.await.map_err(write_err)?.map_err(write_err)
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
            Bound::Included(e) => *e,
            Bound::Excluded(0) => return Ok(Vec::new()),
            Bound::Excluded(e) => e - 1,
            Bound::Unbounded => u64::MAX,
        };
        if start > end {
            return Ok(Vec::new());
        }
        // Snapshot the pending entries first: one that commits meanwhile is then found
        // in the database instead.
        let pending: Vec<Row> = {
            let p = self.pending.lock().expect("pending map lock");
            p.range(start..=end).map(|(i, b)| (*i, b.clone())).collect()
        };
        let db = self.db.clone();
        let mut rows: BTreeMap<u64, Arc<Vec<u8>>> = tokio::task::spawn_blocking(move || {
            let txn = db.begin_read().map_err(read_err)?;
            let t = txn.open_table(LOGS).map_err(read_err)?;
            let mut out = BTreeMap::new();
            for row in t.range(start..=end).map_err(read_err)? {
                let (k, v) = row.map_err(read_err)?;
                out.insert(k.value(), Arc::new(v.value().to_vec()));
            }
            Ok::<_, StorageError>(out)
        })
        .await
        .map_err(read_err)??;
        rows.extend(pending);
        rows.values()
            .map(|b| serde_json::from_slice(b).map_err(read_err))
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_state(PURGED)?;
        let pending_last = {
            let p = self.pending.lock().expect("pending map lock");
            p.last_key_value().map(|(_, b)| b.clone())
        };
        let last = match pending_last {
            Some(b) => Some(
                serde_json::from_slice::<Entry>(&b)
                    .map_err(read_err)?
                    .log_id,
            ),
            None => {
                let txn = self.db.begin_read().map_err(read_err)?;
                let t = txn.open_table(LOGS).map_err(read_err)?;
                match t.last().map_err(read_err)? {
                    Some((_, v)) => Some(
                        serde_json::from_slice::<Entry>(v.value())
                            .map_err(read_err)?
                            .log_id,
                    ),
                    None => None,
                }
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
        self.write(move |txn| {
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
            rows.push((
                e.log_id.index,
                Arc::new(serde_json::to_vec(&e).map_err(write_err)?),
            ));
        }
        {
            let mut p = self.pending.lock().expect("pending map lock");
            p.extend(rows.iter().cloned());
        }
        // Returns at once; `callback` fires after the commit (and its fsync).
        self.tx.send(Op::Append(rows, callback)).map_err(write_err)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.pending
            .lock()
            .expect("pending map lock")
            .retain(|i, _| *i < log_id.index);
        self.write(move |txn| {
            txn.open_table(LOGS)?
                .retain_in(log_id.index.., |_, _| false)?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(&log_id).map_err(write_err)?;
        self.write(move |txn| {
            txn.open_table(STATE)?.insert(PURGED, bytes.as_slice())?;
            txn.open_table(LOGS)?
                .retain_in(..=log_id.index, |_, _| false)?;
            Ok(())
        })
        .await
    }
}
