//! `MetaDb`: session logs, heap tags and the tag index in one redb file. The local
//! backend uses it directly and the raft state machine applies committed commands to
//! it, so both share one implementation of every query. Writes commit with redb's
//! default `Durability::Immediate` (fsync before `commit` returns).

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use crate::error::MetaError;
use crate::model::{SessionEntry, Tags};

mod writer;

/// (owner, session, index) → JSON `SessionEntry`.
const ENTRIES: TableDefinition<'_, (&str, &str, u64), &[u8]> = TableDefinition::new("entries");
/// (owner, session) → number of entries.
const SESSIONS: TableDefinition<'_, (&str, &str), u64> = TableDefinition::new("sessions");
/// (owner, heap) → JSON `Tags`.
const TAGS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("tags");
/// (owner, key, value, heap) → (): the index `query_heaps` reads instead of scanning.
const TAG_INDEX: TableDefinition<'_, (&str, &str, &str, &str), ()> =
    TableDefinition::new("tag_index");
/// Small named values kept in the same transactions as the data (raft's last applied
/// log id and membership).
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

/// The namespace key of an owner: `None` (anonymous) is "", principals are non-empty.
fn ns(owner: Option<&str>) -> &str {
    owner.unwrap_or("")
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("metadata types always serialize")
}

fn parse<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, MetaError> {
    serde_json::from_slice(b).map_err(|e| MetaError::Storage(format!("corrupt record: {e}")))
}

/// Everything in the database, read in one transaction, as raft snapshots carry it.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dump {
    pub entries: Vec<SessionEntry>,
    pub tags: Vec<(Option<String>, String, Tags)>,
    /// The `META` values (raft's last applied log id and membership).
    pub meta: Vec<(String, Vec<u8>)>,
}

/// A redb database of session logs and heap tags.
#[derive(Clone)]
pub struct MetaDb {
    db: Arc<Database>,
}

/// A write transaction in progress: apply commands and set meta values, then commit once.
pub struct Writer<'a> {
    txn: &'a redb::WriteTransaction,
}

impl MetaDb {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(ENTRIES)?;
            txn.open_table(SESSIONS)?;
            txn.open_table(TAGS)?;
            txn.open_table(TAG_INDEX)?;
            txn.open_table(META)?;
        }
        txn.commit()?;
        Ok(MetaDb { db: Arc::new(db) })
    }

    /// Runs `f` in one write transaction and commits it (one fsync for the whole batch).
    pub fn write<R>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<R, MetaError>,
    ) -> Result<R, MetaError> {
        let txn = self.db.begin_write()?;
        let r = f(&mut Writer { txn: &txn })?;
        txn.commit()?;
        Ok(r)
    }

    /// Applies one command in its own transaction.
    pub fn apply(&self, cmd: &crate::model::Command) -> Result<crate::model::Outcome, MetaError> {
        self.write(|w| w.apply(cmd))
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, MetaError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(META)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    pub fn list_sessions(&self, owner: Option<&str>) -> Result<Vec<String>, MetaError> {
        let o = ns(owner);
        let txn = self.db.begin_read()?;
        let t = txn.open_table(SESSIONS)?;
        let mut out = Vec::new();
        for row in t.range((o, "")..)? {
            let (k, _) = row?;
            let (ko, session) = k.value();
            if ko != o {
                break;
            }
            out.push(session.to_string());
        }
        Ok(out)
    }

    pub fn list_entries(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Vec<SessionEntry>, MetaError> {
        let o = ns(owner);
        let txn = self.db.begin_read()?;
        let t = txn.open_table(ENTRIES)?;
        let mut out = Vec::new();
        for row in t.range((o, session, 0u64)..=(o, session, u64::MAX))? {
            out.push(parse(row?.1.value())?);
        }
        Ok(out)
    }

    pub fn last_entry(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Option<SessionEntry>, MetaError> {
        let o = ns(owner);
        let txn = self.db.begin_read()?;
        let t = txn.open_table(ENTRIES)?;
        let mut it = t.range((o, session, 0u64)..=(o, session, u64::MAX))?;
        match it.next_back() {
            Some(row) => Ok(Some(parse(row?.1.value())?)),
            None => Ok(None),
        }
    }

    pub fn get_tags(&self, heap: &str, owner: Option<&str>) -> Result<Tags, MetaError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(TAGS)?;
        match t.get((ns(owner), heap))? {
            Some(v) => parse(v.value()),
            None => Ok(Tags::new()),
        }
    }

    /// Heaps carrying every pair of `tags`: the first pair's index range gives the
    /// candidates, point lookups in the index check the other pairs.
    pub fn query_heaps(&self, tags: &Tags, owner: Option<&str>) -> Result<Vec<String>, MetaError> {
        let o = ns(owner);
        let mut pairs = tags.iter();
        let Some((k0, v0)) = pairs.next() else {
            return Ok(Vec::new());
        };
        let rest: Vec<_> = pairs.collect();
        let txn = self.db.begin_read()?;
        let idx = txn.open_table(TAG_INDEX)?;
        let mut out = Vec::new();
        for row in idx.range((o, k0.as_str(), v0.as_str(), "")..)? {
            let (k, _) = row?;
            let (ko, kk, kv, heap) = k.value();
            if ko != o || kk != k0 || kv != v0 {
                break;
            }
            let mut all = true;
            for (k, v) in &rest {
                if idx.get((o, k.as_str(), v.as_str(), heap))?.is_none() {
                    all = false;
                    break;
                }
            }
            if all {
                out.push(heap.to_string());
            }
        }
        Ok(out)
    }

    /// Copies out all data (for a raft snapshot).
    pub fn dump(&self) -> Result<Dump, MetaError> {
        let txn = self.db.begin_read()?;
        let mut d = Dump::default();
        for row in txn.open_table(ENTRIES)?.iter()? {
            d.entries.push(parse(row?.1.value())?);
        }
        for row in txn.open_table(TAGS)?.iter()? {
            let (k, v) = row?;
            let (o, heap) = k.value();
            let owner = (!o.is_empty()).then(|| o.to_string());
            d.tags.push((owner, heap.to_string(), parse(v.value())?));
        }
        for row in txn.open_table(META)?.iter()? {
            let (k, v) = row?;
            d.meta.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(d)
    }
}
