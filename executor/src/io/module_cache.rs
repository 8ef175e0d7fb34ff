//! The module cache: in memory per worker, and on disk shared by the workers (and
//! restarts), keyed by the URL asked for. Both are bounded; disk entries expire so an
//! unversioned URL is eventually fetched again.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MEMORY_BYTES: usize = 32 << 20;
const DISK_BYTES: u64 = 256 << 20;
const DISK_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    JavaScript,
    Json,
}

/// A module ready for V8: JavaScript (TypeScript already stripped) or JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct Loaded {
    /// Where it came from after redirects (relative imports resolve against it).
    pub final_url: String,
    pub kind: Kind,
    pub code: String,
    /// Whether the module has a default export (a redirect wrapper re-exports it).
    #[serde(default)]
    pub has_default: bool,
}

#[derive(Default)]
pub struct ModuleCache {
    dir: Option<PathBuf>,
    memory: HashMap<String, Rc<Loaded>>,
    order: VecDeque<String>,
    bytes: usize,
}

fn key(url: &str) -> String {
    hex::encode(Sha256::digest(url.as_bytes()))
}

impl ModuleCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            ..Default::default()
        }
    }

    pub fn get(&mut self, url: &str) -> Option<Rc<Loaded>> {
        if let Some(m) = self.memory.get(url) {
            return Some(m.clone());
        }
        let path = self.dir.as_ref()?.join(key(url));
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < DISK_TTL);
        if !fresh {
            return None;
        }
        let loaded: Loaded = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        let loaded = Rc::new(loaded);
        self.remember(url, loaded.clone());
        Some(loaded)
    }

    pub fn put(&mut self, url: &str, loaded: Loaded) -> Rc<Loaded> {
        if let Some(dir) = &self.dir {
            // Best effort: a cache that cannot be written only costs a refetch.
            if let Err(e) = write_disk(dir, url, &loaded) {
                tracing::debug!(error = %e, "module cache write failed");
            }
        }
        let loaded = Rc::new(loaded);
        self.remember(url, loaded.clone());
        loaded
    }

    fn remember(&mut self, url: &str, loaded: Rc<Loaded>) {
        if self.memory.contains_key(url) {
            return;
        }
        self.bytes += loaded.code.len();
        self.memory.insert(url.to_owned(), loaded);
        self.order.push_back(url.to_owned());
        while self.bytes > MEMORY_BYTES
            && let Some(old) = self.order.pop_front()
        {
            if let Some(m) = self.memory.remove(&old) {
                self.bytes -= m.code.len();
            }
        }
    }
}

fn write_disk(dir: &Path, url: &str, loaded: &Loaded) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(key(url));
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(tmp.path(), serde_json::to_vec(loaded)?)?;
    tmp.persist(&path).map_err(|e| e.error)?;
    evict(dir)
}

/// Oldest entries go until the directory is under its bound.
fn evict(dir: &Path) -> std::io::Result<()> {
    let mut entries: Vec<(SystemTime, u64, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, m.len(), e.path()))
        })
        .collect();
    let mut total: u64 = entries.iter().map(|e| e.1).sum();
    entries.sort();
    for (_, len, path) in entries {
        if total <= DISK_BYTES {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_in_memory_and_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = ModuleCache::new(Some(dir.path().to_path_buf()));
        let m = Loaded {
            final_url: "https://cdn.test/x@1/index.js".into(),
            kind: Kind::JavaScript,
            code: "export default 1".into(),
            has_default: true,
        };
        a.put("https://cdn.test/x@1", m);
        assert!(a.get("https://cdn.test/x@1").is_some());
        let mut b = ModuleCache::new(Some(dir.path().to_path_buf()));
        let hit = b.get("https://cdn.test/x@1").unwrap();
        assert_eq!(hit.final_url, "https://cdn.test/x@1/index.js");
        assert!(b.get("https://cdn.test/y").is_none());
    }
}
