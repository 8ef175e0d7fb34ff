//! The `etcd` backend, for deployments that already run etcd. Layout under the prefix:
//! `s/<owner>/<session>` → entry count; `e/<owner>/<session>/<index:020>` → entry JSON;
//! `t/<owner>/<heap>` → tags JSON; `i/<owner>/<key>/<value>/<heap>` → "" (the tag
//! index). Path components are percent-encoded, so `a` never prefix-matches `a/b`.
//! Writes are optimistic transactions (compare the mod revision, retry on conflict), so
//! concurrent writers from several replicas never lose an update.

use std::collections::BTreeSet;

use async_trait::async_trait;
use etcd_client::{Client, Compare, CompareOp, GetOptions, SortOrder, SortTarget, Txn, TxnOp};

use crate::error::MetaError;
use crate::model::{NewEntry, SessionEntry, Tags, now_rfc3339, validate_heap_id, validate_owner};
use crate::store::{MetaStore, require_query};

const MAX_CONFLICT_RETRIES: usize = 64;

#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    prefix: String,
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(etcd_err)`
fn etcd_err(e: etcd_client::Error) -> MetaError {
    MetaError::Etcd(e.to_string())
}

fn enc(s: &str) -> String {
    s.replace('%', "%25").replace('/', "%2F")
}

fn dec(s: &str) -> String {
    s.replace("%2F", "/").replace("%25", "%")
}

fn owner_key(owner: Option<&str>) -> String {
    match owner {
        None => "_".into(),
        Some(o) => format!("u:{}", enc(o)),
    }
}

fn parse<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, MetaError> {
    serde_json::from_slice(b).map_err(|e| MetaError::Etcd(format!("corrupt record: {e}")))
}

impl EtcdStore {
    /// Connects to the endpoints (a prefix namespaces everything this store writes).
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<Self, MetaError> {
        if endpoints.is_empty() {
            return Err(MetaError::InvalidInput(
                "--metadata-backend etcd needs --etcd-endpoints".into(),
            ));
        }
        let client = Client::connect(endpoints, None).await.map_err(etcd_err)?;
        Ok(EtcdStore {
            client,
            prefix: prefix.to_string(),
        })
    }

    fn session_key(&self, o: &str, session: &str) -> String {
        format!("{}s/{o}/{}", self.prefix, enc(session))
    }

    fn entries_prefix(&self, o: &str, session: &str) -> String {
        format!("{}e/{o}/{}/", self.prefix, enc(session))
    }

    fn tags_key(&self, o: &str, heap: &str) -> String {
        format!("{}t/{o}/{heap}", self.prefix)
    }

    fn index_prefix(&self, o: &str, k: &str, v: &str) -> String {
        format!("{}i/{o}/{}/{}/", self.prefix, enc(k), enc(v))
    }

    /// Reads the heap's tags and the mod revision to compare against when replacing them.
    async fn read_tags(&self, o: &str, heap: &str) -> Result<(Tags, i64), MetaError> {
        let resp = self
            .client
            .kv_client()
            .get(self.tags_key(o, heap), None)
            .await
            .map_err(etcd_err)?;
        match resp.kvs().first() {
            Some(kv) => Ok((parse(kv.value())?, kv.mod_revision())),
            None => Ok((Tags::new(), 0)),
        }
    }

    /// Replaces a heap's tags with `update(old)`, index included, in one transaction.
    async fn update_tags(
        &self,
        heap: &str,
        owner: Option<&str>,
        update: impl Fn(&Tags) -> Tags,
    ) -> Result<(), MetaError> {
        validate_heap_id(heap)?;
        validate_owner(owner)?;
        let o = owner_key(owner);
        let key = self.tags_key(&o, heap);
        for _ in 0..MAX_CONFLICT_RETRIES {
            let (old, rev) = self.read_tags(&o, heap).await?;
            let new = update(&old);
            if new == old {
                return Ok(());
            }
            // etcd refuses a transaction touching one key twice: only changed pairs move.
            let index_key =
                |k: &String, v: &String| format!("{}{heap}", self.index_prefix(&o, k, v));
            let mut ops: Vec<TxnOp> = old
                .iter()
                .filter(|(k, v)| new.get(*k) != Some(*v))
                .map(|(k, v)| TxnOp::delete(index_key(k, v), None))
                .collect();
            ops.extend(
                new.iter()
                    .filter(|(k, v)| old.get(*k) != Some(*v))
                    .map(|(k, v)| TxnOp::put(index_key(k, v), "", None)),
            );
            if new.is_empty() {
                ops.push(TxnOp::delete(key.clone(), None));
            } else {
                let json = serde_json::to_vec(&new).expect("tags serialize");
                ops.push(TxnOp::put(key.clone(), json, None));
            }
            let txn = Txn::new()
                .when([Compare::mod_revision(key.clone(), CompareOp::Equal, rev)])
                .and_then(ops);
            if self
                .client
                .kv_client()
                .txn(txn)
                .await
                .map_err(etcd_err)?
                .succeeded()
            {
                return Ok(());
            }
        }
        Err(MetaError::Etcd(
            "too many concurrent updates of these tags; retry".into(),
        ))
    }
}

#[async_trait]
impl MetaStore for EtcdStore {
    async fn append_entry(&self, entry: NewEntry) -> Result<u64, MetaError> {
        entry.validate()?;
        let o = owner_key(entry.owner.as_deref());
        let counter = self.session_key(&o, &entry.session);
        let timestamp = now_rfc3339();
        for _ in 0..MAX_CONFLICT_RETRIES {
            let resp = self
                .client
                .kv_client()
                .get(counter.clone(), None)
                .await
                .map_err(etcd_err)?;
            let (index, rev) = match resp.kvs().first() {
                Some(kv) => (parse::<u64>(kv.value())?, kv.mod_revision()),
                None => (0, 0),
            };
            let stored = SessionEntry {
                index,
                session: entry.session.clone(),
                input_heap: entry.input_heap.clone(),
                output_heap: entry.output_heap.clone(),
                code: entry.code.clone(),
                timestamp: timestamp.clone(),
                owner: entry.owner.clone(),
            };
            let entry_key = format!("{}{index:020}", self.entries_prefix(&o, &entry.session));
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    counter.clone(),
                    CompareOp::Equal,
                    rev,
                )])
                .and_then([
                    TxnOp::put(counter.clone(), (index + 1).to_string(), None),
                    TxnOp::put(
                        entry_key,
                        serde_json::to_vec(&stored).expect("entries serialize"),
                        None,
                    ),
                ]);
            if self
                .client
                .kv_client()
                .txn(txn)
                .await
                .map_err(etcd_err)?
                .succeeded()
            {
                return Ok(index);
            }
        }
        Err(MetaError::Etcd(
            "too many concurrent appends to this session; retry".into(),
        ))
    }

    async fn list_sessions(&self, owner: Option<&str>) -> Result<Vec<String>, MetaError> {
        validate_owner(owner)?;
        let prefix = format!("{}s/{}/", self.prefix, owner_key(owner));
        let opts = GetOptions::new().with_prefix().with_keys_only();
        let resp = self
            .client
            .kv_client()
            .get(prefix.clone(), Some(opts))
            .await
            .map_err(etcd_err)?;
        let mut out: Vec<String> = resp
            .kvs()
            .iter()
            .filter_map(|kv| kv.key_str().ok()?.strip_prefix(&prefix).map(dec))
            .collect();
        out.sort();
        Ok(out)
    }

    async fn list_entries(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Vec<SessionEntry>, MetaError> {
        validate_owner(owner)?;
        let prefix = self.entries_prefix(&owner_key(owner), session);
        let opts = GetOptions::new()
            .with_prefix()
            .with_sort(SortTarget::Key, SortOrder::Ascend);
        let resp = self
            .client
            .kv_client()
            .get(prefix, Some(opts))
            .await
            .map_err(etcd_err)?;
        resp.kvs().iter().map(|kv| parse(kv.value())).collect()
    }

    async fn last_entry(
        &self,
        session: &str,
        owner: Option<&str>,
    ) -> Result<Option<SessionEntry>, MetaError> {
        validate_owner(owner)?;
        let prefix = self.entries_prefix(&owner_key(owner), session);
        let opts = GetOptions::new()
            .with_prefix()
            .with_sort(SortTarget::Key, SortOrder::Descend)
            .with_limit(1);
        let resp = self
            .client
            .kv_client()
            .get(prefix, Some(opts))
            .await
            .map_err(etcd_err)?;
        resp.kvs().first().map(|kv| parse(kv.value())).transpose()
    }

    async fn get_tags(&self, heap: &str, owner: Option<&str>) -> Result<Tags, MetaError> {
        validate_heap_id(heap)?;
        validate_owner(owner)?;
        Ok(self.read_tags(&owner_key(owner), heap).await?.0)
    }

    async fn set_tags(&self, heap: &str, tags: Tags, owner: Option<&str>) -> Result<(), MetaError> {
        crate::model::Command::SetTags {
            owner: owner.map(str::to_string),
            heap: heap.to_string(),
            tags: tags.clone(),
        }
        .validate()?;
        self.update_tags(heap, owner, |_| tags.clone()).await
    }

    async fn delete_tags(
        &self,
        heap: &str,
        keys: &[String],
        owner: Option<&str>,
    ) -> Result<(), MetaError> {
        self.update_tags(heap, owner, |old| {
            let mut t = old.clone();
            keys.iter().for_each(|k| drop(t.remove(k)));
            t
        })
        .await
    }

    async fn query_heaps(
        &self,
        tags: &Tags,
        owner: Option<&str>,
    ) -> Result<Vec<String>, MetaError> {
        require_query(tags)?;
        validate_owner(owner)?;
        let o = owner_key(owner);
        let mut result: Option<BTreeSet<String>> = None;
        for (k, v) in tags {
            let prefix = self.index_prefix(&o, k, v);
            let opts = GetOptions::new().with_prefix().with_keys_only();
            let resp = self
                .client
                .kv_client()
                .get(prefix.clone(), Some(opts))
                .await
                .map_err(etcd_err)?;
            let heaps: BTreeSet<String> = resp
                .kvs()
                .iter()
                .filter_map(|kv| kv.key_str().ok()?.strip_prefix(&prefix).map(String::from))
                .collect();
            result = Some(match result {
                None => heaps,
                Some(r) => r.intersection(&heaps).cloned().collect(),
            });
            if result.as_ref().is_some_and(BTreeSet::is_empty) {
                break;
            }
        }
        Ok(result.unwrap_or_default().into_iter().collect())
    }

    fn backend(&self) -> &'static str {
        "etcd"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_components_never_contain_a_separator() {
        assert_eq!(enc("a/b%c"), "a%2Fb%25c");
        assert_eq!(dec(&enc("a/b%2Fc")), "a/b%2Fc");
        assert_ne!(owner_key(None), owner_key(Some("_")));
    }
}
