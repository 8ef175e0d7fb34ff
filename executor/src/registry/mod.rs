//! The execution registry: every run's record and console output, kept live in memory
//! while it goes and persisted in `executions.redb` under `--session-db-path`, so
//! records survive a restart (runs in flight at a crash come back `failed`). Finished
//! records are pruned by count and age (`--execution-retention*`).

mod db;
pub mod output;
pub mod record;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use db::Retention;
use db::{Db, Op};
use output::{OutputBuf, OutputPage, Window};
use record::{ExecStatus, Record, Stored, now_ms, now_rfc3339};

use crate::pool::Canceller;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("execution registry database failed: {0}; check the disk under --session-db-path")]
    Storage(String),
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for RegistryError {
            fn from(e: $t) -> Self {
                RegistryError::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Longest execution id accepted from a client.
const MAX_ID_LEN: usize = 300;

/// Checks an execution id from a client before it is used as a key or forwarded.
pub fn validate_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid execution id {:?}: use an execution_id returned by run_js",
            id.chars().take(80).collect::<String>()
        ))
    }
}

/// The raft id of the node an execution id names (`<node>.<raft id>.<uuid>`).
pub fn owner_raft_id(id: &str) -> Option<u64> {
    let mut parts = id.rsplitn(3, '.');
    let _uuid = parts.next()?;
    let raft = parts.next()?;
    parts.next()?;
    raft.parse().ok()
}

/// A run that has not been persisted as finished yet.
pub struct Live {
    record: Mutex<Record>,
    output: Mutex<OutputBuf>,
    lines: broadcast::Sender<String>,
    done: watch::Sender<bool>,
    canceller: Mutex<Option<Canceller>>,
    seq: u64,
    started_ms: u64,
    owner: Option<String>,
}

impl Live {
    /// The record as of now (queued turns running once a worker took the run).
    pub fn record(&self) -> Record {
        let mut r = self.record.lock().expect("live record").clone();
        if r.status == ExecStatus::Queued
            && self
                .canceller
                .lock()
                .expect("live canceller")
                .as_ref()
                .is_some_and(Canceller::is_running)
        {
            r.status = ExecStatus::Running;
        }
        r
    }

    pub fn read(&self, window: Window) -> OutputPage {
        self.output.lock().expect("live output").read(window)
    }

    /// All console output so far, as text.
    pub fn text(&self) -> String {
        self.output.lock().expect("live output").text()
    }

    /// New console lines from now on, and the signal that the run ended.
    pub fn subscribe(&self) -> (broadcast::Receiver<String>, watch::Receiver<bool>) {
        (self.lines.subscribe(), self.done.subscribe())
    }

    pub fn cancel(&self) {
        if let Some(c) = self.canceller.lock().expect("live canceller").as_ref() {
            c.cancel();
        }
    }

    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }
}

pub struct Registry {
    db: Db,
    writer: mpsc::UnboundedSender<Op>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    live: Mutex<HashMap<String, Arc<Live>>>,
    seq: AtomicU64,
    node: String,
    raft_id: u64,
}

impl Registry {
    /// Opens the registry under `dir`; ids it makes name `node` and its raft id (0
    /// outside cluster mode).
    pub fn open(
        dir: &Path,
        retention: Retention,
        node: &str,
        raft_id: u64,
    ) -> Result<Self, RegistryError> {
        let (db, next_seq) = Db::open(dir)?;
        let (writer, writer_thread) = db.writer(retention);
        Ok(Self {
            db,
            writer,
            writer_thread: Some(writer_thread),
            live: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(next_seq),
            node: node.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-"),
            raft_id,
        })
    }

    pub fn raft_id(&self) -> u64 {
        self.raft_id
    }

    /// Registers a new queued run and returns it.
    pub fn insert(&self, session: Option<String>, owner: Option<String>) -> (String, Arc<Live>) {
        let id = format!(
            "{}.{}.{}",
            self.node,
            self.raft_id,
            uuid::Uuid::new_v4().simple()
        );
        let record = Record {
            execution_id: id.clone(),
            status: ExecStatus::Queued,
            result: None,
            error: None,
            heap: None,
            started_at: now_rfc3339(),
            completed_at: None,
            session,
        };
        let live = Arc::new(Live {
            record: Mutex::new(record),
            output: Mutex::new(OutputBuf::default()),
            lines: broadcast::channel(1024).0,
            done: watch::channel(false).0,
            canceller: Mutex::new(None),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            started_ms: now_ms(),
            owner,
        });
        self.persist(&live, None);
        self.live
            .lock()
            .expect("registry live")
            .insert(id.clone(), live.clone());
        (id, live)
    }

    /// Gives a queued run the means to cancel it.
    pub fn attach(&self, live: &Live, canceller: Canceller) {
        *live.canceller.lock().expect("live canceller") = Some(canceller);
    }

    /// Records console text of a run (kept, persisted and sent to subscribers).
    pub fn console(&self, id: &str, live: &Live, text: &str) {
        let (first, lines) = live.output.lock().expect("live output").push(text);
        for line in &lines {
            let _ = live.lines.send(line.clone());
        }
        let _ = self.writer.send(Op::Lines {
            id: id.to_owned(),
            first,
            lines,
        });
    }

    /// Ends a run: updates its record, wakes waiters, persists it, then forgets the
    /// live copy once the database has it.
    pub async fn finish(&self, id: &str, live: &Live, end: Record) {
        *live.record.lock().expect("live record") = Record {
            completed_at: Some(now_rfc3339()),
            ..end
        };
        live.done.send_replace(true);
        let (tx, rx) = oneshot::channel();
        self.persist(live, Some(tx));
        let _ = rx.await;
        self.live.lock().expect("registry live").remove(id);
    }

    fn persist(&self, live: &Live, ack: Option<oneshot::Sender<()>>) {
        let (lines, bytes, page_starts) = {
            let out = live.output.lock().expect("live output");
            let (l, b) = out.totals();
            (l, b, out.page_starts().to_vec())
        };
        let stored = Stored {
            record: live.record.lock().expect("live record").clone(),
            seq: live.seq,
            started_ms: live.started_ms,
            owner: live.owner.clone(),
            lines,
            bytes,
            page_starts,
        };
        let _ = self.writer.send(Op::Put(Box::new(stored), ack));
    }

    pub fn live(&self, id: &str) -> Option<Arc<Live>> {
        self.live.lock().expect("registry live").get(id).cloned()
    }

    /// The record of an execution this node ran, if it knows it.
    pub async fn get(&self, id: &str) -> Result<Option<(Record, Option<String>)>, RegistryError> {
        if let Some(live) = self.live(id) {
            return Ok(Some((live.record(), live.owner.clone())));
        }
        let db = self.db.clone();
        let id = id.to_owned();
        let stored = blocking(move || db.get(&id)).await?;
        Ok(stored.map(|s| (s.record, s.owner)))
    }

    /// A window of an execution's output, if this node knows the execution.
    pub async fn output(
        &self,
        id: &str,
        window: Window,
    ) -> Result<Option<OutputPage>, RegistryError> {
        if let Some(live) = self.live(id) {
            return Ok(Some(live.read(window)));
        }
        let db = self.db.clone();
        let id = id.to_owned();
        blocking(move || match db.get(&id)? {
            Some(stored) => db.output(&stored, window).map(Some),
            None => Ok(None),
        })
        .await
    }

    /// The newest executions (live ones first), optionally one status only.
    pub async fn list(
        &self,
        status: Option<ExecStatus>,
        limit: usize,
        owner: Option<&str>,
    ) -> Result<Vec<Record>, RegistryError> {
        let (mut live, live_ids): (Vec<(u64, Record)>, Vec<String>) = {
            let map = self.live.lock().expect("registry live");
            let rows = map
                .values()
                .filter(|l| l.owner.as_deref() == owner)
                .map(|l| (l.seq, l.record()))
                .filter(|(_, r)| status.is_none_or(|s| s == r.status))
                .collect();
            (rows, map.keys().cloned().collect())
        };
        live.sort_by_key(|l| std::cmp::Reverse(l.0));
        let db = self.db.clone();
        let owner = owner.map(str::to_owned);
        let stored = blocking(move || db.list(status, limit * 2 + 64)).await?;
        let mut out: Vec<Record> = live.into_iter().map(|(_, r)| r).collect();
        for s in stored {
            if out.len() >= limit {
                break;
            }
            // Live runs' stored copies are stale; the live map answered for them.
            if s.owner == owner && !live_ids.contains(&s.record.execution_id) {
                out.push(s.record);
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

impl Drop for Registry {
    /// Lets the writer commit what is queued and close the database, so the directory
    /// can be opened again at once.
    fn drop(&mut self) {
        let (closed, _) = mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.writer, closed));
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RegistryError> + Send + 'static,
) -> Result<T, RegistryError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RegistryError::Storage(e.to_string()))?
}

#[cfg(test)]
mod tests;
