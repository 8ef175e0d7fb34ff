//! The registry's database (`executions.redb` under `--session-db-path`): records,
//! output pages and insertion order. One writer task applies changes in batches (one
//! fsync'd transaction per batch), so a thousand runs a second cost a few commits, not
//! thousands; readers use their own read transactions.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use super::RegistryError;
use super::output::{Lines, OutputPage, PAGE_LINES, Window, pages_for};
use super::record::{ExecStatus, Stored, now_ms, now_rfc3339};

const RECORDS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("records");
const PAGES: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("pages");
const ORDER: TableDefinition<'_, u64, &str> = TableDefinition::new("order");

/// How many finished executions to keep, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_records: u64,
    pub max_age_secs: u64,
}

pub enum Op {
    Put(Box<Stored>, Option<oneshot::Sender<()>>),
    Lines {
        id: String,
        first: u64,
        lines: Vec<String>,
    },
}

#[derive(Clone)]
pub struct Db {
    db: Arc<Database>,
}

impl Db {
    /// Opens (or creates) the database, marks runs that were in flight when the last
    /// process stopped as failed, and returns the next insertion number.
    pub fn open(dir: &Path) -> Result<(Self, u64), RegistryError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| RegistryError::Storage(format!("cannot create {}: {e}", dir.display())))?;
        let db = Database::create(dir.join("executions.redb"))?;
        let txn = db.begin_write()?;
        let mut next_seq = 0;
        {
            let mut records = txn.open_table(RECORDS)?;
            let pages = txn.open_table(PAGES)?;
            txn.open_table(ORDER)?;
            let mut orphans = Vec::new();
            for row in records.iter()? {
                let (_, v) = row?;
                let stored: Stored = decode(v.value())?;
                next_seq = next_seq.max(stored.seq + 1);
                if !stored.record.status.is_terminal() {
                    orphans.push(stored);
                }
            }
            for mut stored in orphans {
                let id = stored.record.execution_id.clone();
                let mut all = Vec::new();
                for row in pages.range((id.as_str(), 0)..=(id.as_str(), u64::MAX))? {
                    all.extend(decode::<Vec<String>>(row?.1.value())?);
                }
                let mut buf = super::output::OutputBuf::default();
                for line in &all {
                    buf.push(line);
                }
                (stored.lines, stored.bytes) = buf.totals();
                stored.page_starts = buf.page_starts().to_vec();
                stored.record.status = ExecStatus::Failed;
                stored.record.error = Some(
                    "the server stopped while this run was in flight (crash or restart); run it again"
                        .into(),
                );
                stored.record.completed_at = Some(now_rfc3339());
                records.insert(id.as_str(), encode(&stored).as_slice())?;
            }
        }
        txn.commit()?;
        Ok((Self { db: Arc::new(db) }, next_seq))
    }

    /// Starts the writer task; changes sent to the returned channel are applied in order.
    pub fn writer(
        &self,
        retention: Retention,
    ) -> (mpsc::UnboundedSender<Op>, std::thread::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Op>();
        let db = self.db.clone();
        let handle = std::thread::Builder::new()
            .name("registry-writer".into())
            .spawn(move || {
                let mut batch = Vec::new();
                while let Some(op) = rx.blocking_recv() {
                    batch.push(op);
                    while batch.len() < 4096 {
                        match rx.try_recv() {
                            Ok(op) => batch.push(op),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = apply(&db, &mut batch, retention) {
                        warn!(error = %e, "execution registry write failed");
                    }
                    batch.clear();
                }
            })
            .expect("spawn registry writer");
        (tx, handle)
    }

    pub fn get(&self, id: &str) -> Result<Option<Stored>, RegistryError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(RECORDS)?;
        table.get(id)?.map(|v| decode(v.value())).transpose()
    }

    /// Reads a window of a finished run's output, loading only the pages it touches.
    pub fn output(&self, stored: &Stored, window: Window) -> Result<OutputPage, RegistryError> {
        let id = stored.record.execution_id.as_str();
        let (first, last) = pages_for(window, stored.lines, &stored.page_starts);
        let txn = self.db.begin_read()?;
        let pages = txn.open_table(PAGES)?;
        let mut lines = Vec::new();
        for row in pages.range((id, first)..=(id, last))? {
            lines.extend(decode::<Vec<String>>(row?.1.value())?);
        }
        Ok(Lines {
            lines: &lines,
            first_line: first * PAGE_LINES,
            first_byte: stored.page_starts.get(first as usize).copied().unwrap_or(0),
            total_lines: stored.lines,
            total_bytes: stored.bytes,
        }
        .read(window))
    }

    /// Newest first, optionally only one status, at most `limit`.
    pub fn list(
        &self,
        status: Option<ExecStatus>,
        limit: usize,
    ) -> Result<Vec<Stored>, RegistryError> {
        let txn = self.db.begin_read()?;
        let order = txn.open_table(ORDER)?;
        let records = txn.open_table(RECORDS)?;
        let mut out = Vec::new();
        for row in order.iter()?.rev() {
            if out.len() >= limit {
                break;
            }
            let (_, id) = row?;
            if let Some(v) = records.get(id.value())? {
                let stored: Stored = decode(v.value())?;
                if status.is_none_or(|s| s == stored.record.status) {
                    out.push(stored);
                }
            }
        }
        Ok(out)
    }
}

/// Applies a batch in one transaction, pruning in the same one (cheap when nothing is
/// due: the scan stops at the first record within bounds).
fn apply(db: &Database, batch: &mut Vec<Op>, retention: Retention) -> Result<(), RegistryError> {
    let txn = db.begin_write()?;
    let mut acks = Vec::new();
    {
        let mut records = txn.open_table(RECORDS)?;
        let mut pages = txn.open_table(PAGES)?;
        let mut order = txn.open_table(ORDER)?;
        for op in batch.drain(..) {
            match op {
                Op::Put(stored, ack) => {
                    let id = stored.record.execution_id.as_str();
                    records.insert(id, encode(&*stored).as_slice())?;
                    order.insert(stored.seq, id)?;
                    acks.extend(ack);
                }
                Op::Lines { id, first, lines } => {
                    let mut line = first;
                    let mut rest = lines.into_iter().peekable();
                    while rest.peek().is_some() {
                        let page = line / PAGE_LINES;
                        let room = usize::try_from(PAGE_LINES - line % PAGE_LINES).unwrap_or(1);
                        let mut content: Vec<String> = match pages.get((id.as_str(), page))? {
                            Some(v) => decode(v.value())?,
                            None => Vec::new(),
                        };
                        let before = content.len();
                        content.extend(rest.by_ref().take(room));
                        line += (content.len() - before) as u64;
                        pages.insert((id.as_str(), page), encode(&content).as_slice())?;
                    }
                }
            }
        }
        prune_old(&mut records, &mut pages, &mut order, retention)?;
    }
    txn.commit()?;
    for ack in acks {
        let _ = ack.send(());
    }
    Ok(())
}

/// Drops the oldest finished executions beyond the count, and those past the age.
fn prune_old(
    records: &mut redb::Table<'_, &str, &[u8]>,
    pages: &mut redb::Table<'_, (&str, u64), &[u8]>,
    order: &mut redb::Table<'_, u64, &str>,
    retention: Retention,
) -> Result<(), RegistryError> {
    let mut excess = order.len()?.saturating_sub(retention.max_records);
    let cutoff = now_ms().saturating_sub(retention.max_age_secs.saturating_mul(1000));
    let mut doomed = Vec::new();
    for row in order.iter()? {
        let (seq, id) = row?;
        let id = id.value().to_owned();
        let Some(v) = records.get(id.as_str())? else {
            doomed.push((seq.value(), id));
            continue;
        };
        let stored: Stored = decode(v.value())?;
        if excess == 0 && stored.started_ms >= cutoff {
            break;
        }
        if stored.record.status.is_terminal() {
            excess = excess.saturating_sub(1);
            doomed.push((seq.value(), id));
        }
    }
    for (seq, id) in doomed {
        order.remove(seq)?;
        records.remove(id.as_str())?;
        let keys: Vec<u64> = pages
            .range((id.as_str(), 0)..=(id.as_str(), u64::MAX))?
            .map(|r| r.map(|(k, _)| k.value().1))
            .collect::<Result<_, _>>()?;
        for page in keys {
            pages.remove((id.as_str(), page))?;
        }
    }
    Ok(())
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("registry values serialize")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::Storage(format!("corrupt entry: {e}")))
}
