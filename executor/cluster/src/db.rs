//! `MetaDb`: session logs, heap tags and the tag index in one redb file. The local
//! backend uses it directly and the raft state machine applies committed commands to
//! it, so both share one implementation of every query. Writes commit with redb's
//! default `Durability::Immediate` (fsync before `commit` returns).

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableTable, TableDefinition};

use crate::error::MetaError;
use crate::model::{Command, Outcome, SessionEntry, Tags};

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
    pub fn apply(&self, cmd: &Command) -> Result<Outcome, MetaError> {
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

impl Writer<'_> {
    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), MetaError> {
        self.txn.open_table(META)?.insert(key, value)?;
        Ok(())
    }

    /// Applies one command; deterministic, so every replica computes the same outcome.
    pub fn apply(&mut self, cmd: &Command) -> Result<Outcome, MetaError> {
        match cmd {
            Command::Append { entry, timestamp } => {
                let o = ns(entry.owner.as_deref());
                let mut sessions = self.txn.open_table(SESSIONS)?;
                let index = sessions
                    .get((o, entry.session.as_str()))?
                    .map(|v| v.value())
                    .unwrap_or(0);
                sessions.insert((o, entry.session.as_str()), index + 1)?;
                let stored = SessionEntry {
                    index,
                    session: entry.session.clone(),
                    input_heap: entry.input_heap.clone(),
                    output_heap: entry.output_heap.clone(),
                    code: entry.code.clone(),
                    timestamp: timestamp.clone(),
                    owner: entry.owner.clone(),
                };
                self.txn
                    .open_table(ENTRIES)?
                    .insert((o, entry.session.as_str(), index), json(&stored).as_slice())?;
                Ok(Outcome::Appended { index })
            }
            Command::SetTags { owner, heap, tags } => {
                self.replace_tags(owner.as_deref(), heap, tags)?;
                Ok(Outcome::Done)
            }
            Command::DeleteTags { owner, heap, keys } => {
                let mut tags = self.read_tags(owner.as_deref(), heap)?;
                let before = tags.len();
                for k in keys {
                    tags.remove(k);
                }
                if tags.len() != before {
                    self.replace_tags(owner.as_deref(), heap, &tags)?;
                }
                Ok(Outcome::Done)
            }
            Command::Batch { commands } => {
                let outcomes = commands
                    .iter()
                    .map(|c| self.apply(c))
                    .collect::<Result<_, _>>()?;
                Ok(Outcome::Batch { outcomes })
            }
        }
    }

    fn read_tags(&mut self, owner: Option<&str>, heap: &str) -> Result<Tags, MetaError> {
        let t = self.txn.open_table(TAGS)?;
        let v = t.get((ns(owner), heap))?;
        match v {
            Some(v) => parse(v.value()),
            None => Ok(Tags::new()),
        }
    }

    /// Replaces a heap's tags and keeps the index in step with them.
    fn replace_tags(
        &mut self,
        owner: Option<&str>,
        heap: &str,
        tags: &Tags,
    ) -> Result<(), MetaError> {
        let o = ns(owner);
        let old = self.read_tags(owner, heap)?;
        let mut idx = self.txn.open_table(TAG_INDEX)?;
        for (k, v) in &old {
            idx.remove((o, k.as_str(), v.as_str(), heap))?;
        }
        for (k, v) in tags {
            idx.insert((o, k.as_str(), v.as_str(), heap), ())?;
        }
        let mut t = self.txn.open_table(TAGS)?;
        if tags.is_empty() {
            t.remove((o, heap))?;
        } else {
            t.insert((o, heap), json(tags).as_slice())?;
        }
        Ok(())
    }

    /// Replaces all data with `dump` (installing a raft snapshot).
    pub fn load(&mut self, dump: &Dump) -> Result<(), MetaError> {
        self.txn.delete_table(ENTRIES)?;
        self.txn.delete_table(SESSIONS)?;
        self.txn.delete_table(TAGS)?;
        self.txn.delete_table(TAG_INDEX)?;
        self.txn.delete_table(META)?;
        {
            let mut entries = self.txn.open_table(ENTRIES)?;
            let mut sessions = self.txn.open_table(SESSIONS)?;
            for e in &dump.entries {
                let o = ns(e.owner.as_deref());
                entries.insert((o, e.session.as_str(), e.index), json(e).as_slice())?;
                let next = sessions
                    .get((o, e.session.as_str()))?
                    .map(|v| v.value())
                    .unwrap_or(0);
                sessions.insert((o, e.session.as_str()), next.max(e.index + 1))?;
            }
        }
        for (owner, heap, tags) in &dump.tags {
            self.replace_tags(owner.as_deref(), heap, tags)?;
        }
        for (k, v) in &dump.meta {
            self.put_meta(k, v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewEntry;

    fn heap(n: u8) -> String {
        format!("{:064x}", n)
    }

    #[test]
    fn dump_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let a = MetaDb::open(&dir.path().join("a.redb")).unwrap();
        let entry = NewEntry {
            session: "s".into(),
            input_heap: None,
            output_heap: heap(1),
            code: "1".into(),
            owner: None,
        };
        a.apply(&Command::Append {
            entry: entry.clone(),
            timestamp: "t".into(),
        })
        .unwrap();
        a.apply(&Command::Append {
            entry,
            timestamp: "t".into(),
        })
        .unwrap();
        let tags: Tags = [("k".to_string(), "v".to_string())].into();
        a.write(|w| w.put_meta("last_applied", b"7")).unwrap();
        a.apply(&Command::SetTags {
            owner: Some("alice".into()),
            heap: heap(2),
            tags: tags.clone(),
        })
        .unwrap();
        let dump = a.dump().unwrap();
        assert_eq!(dump.entries.len(), 2);

        let b = MetaDb::open(&dir.path().join("b.redb")).unwrap();
        b.apply(&Command::SetTags {
            owner: None,
            heap: heap(9),
            tags: tags.clone(),
        })
        .unwrap();
        b.write(|w| w.load(&dump)).unwrap();
        assert_eq!(b.dump().unwrap(), dump);
        assert_eq!(
            b.get_meta("last_applied").unwrap().as_deref(),
            Some(&b"7"[..])
        );
        assert_eq!(b.query_heaps(&tags, Some("alice")).unwrap(), vec![heap(2)]);
        assert!(
            b.query_heaps(&tags, None).unwrap().is_empty(),
            "stale index rows survive a load"
        );
        let e = NewEntry {
            session: "s".into(),
            input_heap: None,
            output_heap: heap(1),
            code: "2".into(),
            owner: None,
        };
        assert_eq!(
            b.apply(&Command::Append {
                entry: e,
                timestamp: "t".into()
            })
            .unwrap(),
            Outcome::Appended { index: 2 }
        );
    }

    #[test]
    fn a_batch_applies_in_order_with_one_outcome_each() {
        let dir = tempfile::tempdir().unwrap();
        let db = MetaDb::open(&dir.path().join("m.redb")).unwrap();
        let e = |c: &str| Command::Append {
            entry: NewEntry {
                session: "b".into(),
                input_heap: None,
                output_heap: heap(1),
                code: c.into(),
                owner: None,
            },
            timestamp: "t".into(),
        };
        let tags: Tags = [("k".to_string(), "v".to_string())].into();
        let batch = Command::Batch {
            commands: vec![
                e("x"),
                e("y"),
                Command::SetTags {
                    owner: None,
                    heap: heap(3),
                    tags,
                },
            ],
        };
        let out = db.apply(&batch).unwrap();
        let want = vec![
            Outcome::Appended { index: 0 },
            Outcome::Appended { index: 1 },
            Outcome::Done,
        ];
        assert_eq!(out, Outcome::Batch { outcomes: want });
        let codes: Vec<String> = db
            .list_entries("b", None)
            .unwrap()
            .into_iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(codes, ["x", "y"]);
    }
}
