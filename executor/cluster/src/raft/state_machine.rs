//! The raft state machine: committed commands applied to a `MetaDb` (`raft-sm.redb`),
//! with the last applied log id and the membership written in the same transaction, so
//! the applied state and its position never disagree after a crash. Snapshots are the
//! whole database as JSON, kept in `raft-snapshot.json` (written to a temporary file,
//! fsynced, then renamed) so a restarted node can still serve its latest snapshot.

// openraft's storage traits fix `StorageError` (large) as the error type, and the
// blocking closures return it or redb's error as they are; boxing would only add
// conversions at every call.
#![allow(clippy::result_large_err)]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};

use super::types::{
    Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig, io_err,
};
use crate::db::{Dump, MetaDb};
use crate::model::Outcome;

const LAST_APPLIED: &str = "raft_last_applied";
const MEMBERSHIP: &str = "raft_membership";
const SNAPSHOT_FILE: &str = "raft-snapshot.json";

/// A snapshot as stored and sent: its raft meta and the database contents.
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    dump: Dump,
}

fn sm_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_state_machine(&io_err(e)).into()
}

fn snap_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_snapshot(None, &io_err(e)).into()
}

/// The state machine; clones share the database (the snapshot builder is a clone).
#[derive(Clone)]
pub struct StateMachine {
    db: MetaDb,
    dir: PathBuf,
}

impl StateMachine {
    pub fn open(dir: &Path) -> Result<Self, crate::MetaError> {
        Ok(StateMachine {
            db: MetaDb::open(&dir.join("raft-sm.redb"))?,
            dir: dir.to_path_buf(),
        })
    }

    /// The database reads are served from.
    pub fn db(&self) -> &MetaDb {
        &self.db
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        dump_meta: &[(String, Vec<u8>)],
        key: &str,
    ) -> Option<T> {
        dump_meta
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| serde_json::from_slice(v).ok())
    }

    fn persist_snapshot(&self, bytes: &[u8]) -> Result<(), StorageError> {
        let tmp = self.dir.join(format!("{SNAPSHOT_FILE}.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(snap_err)?;
        f.write_all(bytes).map_err(snap_err)?;
        f.sync_all().map_err(snap_err)?;
        std::fs::rename(&tmp, self.dir.join(SNAPSHOT_FILE)).map_err(snap_err)?;
        // The rename is durable only once the directory entry is.
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(snap_err)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            // One read transaction: the data and the log id it reflects always match.
            let dump = this.db.dump().map_err(snap_err)?;
            let last_log_id: Option<LogId> = Self::read_meta(&dump.meta, LAST_APPLIED);
            let membership: StoredMembership =
                Self::read_meta(&dump.meta, MEMBERSHIP).unwrap_or_default();
            let snapshot_id = match last_log_id {
                Some(l) => format!(
                    "{}-{}-{}",
                    l.leader_id.term,
                    l.index,
                    chrono::Utc::now().timestamp_millis()
                ),
                None => format!("empty-{}", chrono::Utc::now().timestamp_millis()),
            };
            let meta = SnapshotMeta {
                last_log_id,
                last_membership: membership,
                snapshot_id,
            };
            let bytes = serde_json::to_vec(&SnapshotFile {
                meta: meta.clone(),
                dump,
            })
            .map_err(snap_err)?;
            this.persist_snapshot(&bytes)?;
            Ok(Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(bytes)),
            })
        })
        .await
        .map_err(snap_err)?
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let get =
            |k| -> Result<Option<Vec<u8>>, StorageError> { self.db.get_meta(k).map_err(sm_err) };
        let last = get(LAST_APPLIED)?
            .map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(sm_err)?;
        let membership = get(MEMBERSHIP)?
            .map(|b| serde_json::from_slice(&b))
            .transpose()
            .map_err(sm_err)?;
        Ok((last, membership.unwrap_or_default()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            // The whole batch and its position commit together (one fsync).
            db.write(|w| {
                let mut out = Vec::with_capacity(entries.len());
                let mut membership = None;
                for e in &entries {
                    match &e.payload {
                        EntryPayload::Blank => out.push(Outcome::Done),
                        EntryPayload::Normal(cmd) => out.push(w.apply(cmd)?),
                        EntryPayload::Membership(m) => {
                            membership = Some(StoredMembership::new(Some(e.log_id), m.clone()));
                            out.push(Outcome::Done);
                        }
                    }
                }
                let last = entries.last().map(|e| e.log_id);
                w.put_meta(
                    LAST_APPLIED,
                    &serde_json::to_vec(&last).expect("log ids serialize"),
                )?;
                if let Some(m) = membership {
                    w.put_meta(
                        MEMBERSHIP,
                        &serde_json::to_vec(&m).expect("memberships serialize"),
                    )?;
                }
                Ok(out)
            })
            .map_err(sm_err)
        })
        .await
        .map_err(sm_err)?
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let this = self.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = snapshot.into_inner();
            let mut file: SnapshotFile = serde_json::from_slice(&bytes).map_err(snap_err)?;
            // The receiver's position is the snapshot's, whatever the sender's meta said.
            file.dump
                .meta
                .retain(|(k, _)| k != LAST_APPLIED && k != MEMBERSHIP);
            file.dump.meta.push((
                LAST_APPLIED.into(),
                serde_json::to_vec(&meta.last_log_id).map_err(snap_err)?,
            ));
            file.dump.meta.push((
                MEMBERSHIP.into(),
                serde_json::to_vec(&meta.last_membership).map_err(snap_err)?,
            ));
            this.db.write(|w| w.load(&file.dump)).map_err(sm_err)?;
            file.meta = meta;
            let bytes = serde_json::to_vec(&file).map_err(snap_err)?;
            this.persist_snapshot(&bytes)
        })
        .await
        .map_err(sm_err)?
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let path = self.dir.join(SNAPSHOT_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(snap_err(e)),
        };
        let file: SnapshotFile = serde_json::from_slice(&bytes).map_err(snap_err)?;
        Ok(Some(Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
