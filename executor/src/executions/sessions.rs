//! Sessions and heap tags (stateful mode only): reads and writes through the metadata
//! store, and rebuilding a session's heaps by replaying its log after an engine change.

use std::collections::HashMap;

use mcp_v8_cluster::model::EntryFields;
use mcp_v8_cluster::{NewEntry, Tags, validate_heap_id};
use serde_json::{Value, json};

use super::{ExecError, Executions};
use crate::pool::Status;
use crate::runner::RunRequest;

impl Executions {
    fn require_stateful(&self, tool: &str) -> Result<(), ExecError> {
        if self.runner().is_stateful() {
            Ok(())
        } else {
            Err(ExecError::InvalidArgument(format!(
                "{tool} needs stored heaps, and this server runs with --stateless"
            )))
        }
    }

    pub async fn list_sessions(&self, owner: Option<&str>) -> Result<Vec<String>, ExecError> {
        self.require_stateful("list_sessions")?;
        Ok(self.meta().list_sessions(owner).await?)
    }

    pub async fn list_session_snapshots(
        &self,
        session: &str,
        fields: Option<&str>,
        owner: Option<&str>,
    ) -> Result<Vec<Value>, ExecError> {
        self.require_stateful("list_session_snapshots")?;
        mcp_v8_cluster::model::validate_name("session", session)?;
        let fields = EntryFields::parse(fields)?;
        let entries = self.meta().list_entries(session, owner).await?;
        Ok(entries.iter().map(|e| fields.project(e)).collect())
    }

    pub async fn get_tags(&self, heap: &str, owner: Option<&str>) -> Result<Tags, ExecError> {
        self.require_stateful("get_heap_tags")?;
        validate_heap_id(heap)?;
        Ok(self.meta().get_tags(heap, owner).await?)
    }

    pub async fn set_tags(
        &self,
        heap: &str,
        tags: Tags,
        owner: Option<&str>,
    ) -> Result<(), ExecError> {
        self.require_stateful("set_heap_tags")?;
        validate_heap_id(heap)?;
        Ok(self.meta().set_tags(heap, tags, owner).await?)
    }

    pub async fn delete_tags(
        &self,
        heap: &str,
        keys: &[String],
        owner: Option<&str>,
    ) -> Result<(), ExecError> {
        self.require_stateful("delete_heap_tags")?;
        validate_heap_id(heap)?;
        Ok(self.meta().delete_tags(heap, keys, owner).await?)
    }

    pub async fn query_heaps(
        &self,
        tags: &Tags,
        owner: Option<&str>,
    ) -> Result<Vec<String>, ExecError> {
        self.require_stateful("query_heaps_by_tags")?;
        Ok(self.meta().query_heaps(tags, owner).await?)
    }

    /// Re-runs a session's logged code in log order on this engine, each entry from the
    /// rebuilt heap of its logged input, and appends the rebuilt entries to the session
    /// (so it resumes from the new heaps). Nothing is appended unless every entry
    /// replays.
    pub async fn rebuild_session(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Value, ExecError> {
        self.require_stateful("rebuild_session")?;
        mcp_v8_cluster::model::validate_name("session", session)?;
        let entries = self.meta().list_entries(session, owner).await?;
        if entries.is_empty() {
            return Err(ExecError::NotFound(format!(
                "session {session:?} has no snapshots"
            )));
        }
        let mut rebuilt: HashMap<String, String> = HashMap::new();
        let mut new = Vec::with_capacity(entries.len());
        for e in &entries {
            let input = match &e.input_heap {
                None => None,
                Some(old) => Some(rebuilt.get(old).cloned().ok_or_else(|| {
                    ExecError::InvalidArgument(format!(
                        "entry {} of session {session:?} starts from heap {old}, which the session did not make; it cannot be replayed",
                        e.index
                    ))
                })?),
            };
            let finished = self
                .runner()
                .run(RunRequest {
                    code: e.code.clone(),
                    heap: input.clone(),
                    ..RunRequest::default()
                })
                .await?;
            let (Status::Completed, Some(heap)) = (&finished.status, finished.heap) else {
                return Err(ExecError::InvalidArgument(format!(
                    "entry {} of session {session:?} failed on replay ({}): {}; nothing was changed",
                    e.index,
                    finished.status.as_str(),
                    finished.error.unwrap_or_default()
                )));
            };
            rebuilt.insert(e.output_heap.clone(), heap.clone());
            new.push(NewEntry {
                session: session.to_owned(),
                input_heap: input,
                output_heap: heap,
                code: e.code.clone(),
                owner: owner.map(str::to_owned),
            });
        }
        let last = new.last().map(|n| n.output_heap.clone());
        let replayed = new.len();
        for entry in new {
            self.meta().append_entry(entry).await?;
        }
        Ok(json!({ "session": session, "replayed": replayed, "heap": last }))
    }
}
