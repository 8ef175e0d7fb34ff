//! `Writer`: applying commands inside one `MetaDb` write transaction, keeping the tag
//! index in step with the tags, and loading a whole `Dump` (raft snapshot install).

use redb::ReadableTable;

use super::{Dump, ENTRIES, META, SESSIONS, TAG_INDEX, TAGS, Writer, json, ns, parse};
use crate::error::MetaError;
use crate::model::{Command, Outcome, SessionEntry, Tags};

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
    use crate::db::MetaDb;
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
