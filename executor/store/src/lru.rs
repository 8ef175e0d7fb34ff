//! `LruIndex`: the in-memory size and recency index of the local cache. Pure bookkeeping;
//! the cache keeps file mtimes in step so the order can be rebuilt after a restart.

use std::collections::{BTreeMap, HashMap};

use crate::id::HeapId;

#[derive(Clone, Copy, Debug)]
struct Entry {
    size: u64,
    tick: u64,
}

/// Least-recently-used index of cached objects by stored size.
#[derive(Debug, Default)]
pub(crate) struct LruIndex {
    entries: HashMap<HeapId, Entry>,
    /// tick → id, oldest first.
    order: BTreeMap<u64, HeapId>,
    next_tick: u64,
    total: u64,
}

impl LruIndex {
    /// Builds an index from (id, size) pairs given oldest first.
    pub(crate) fn from_oldest_first(items: impl IntoIterator<Item = (HeapId, u64)>) -> Self {
        let mut index = LruIndex::default();
        for (id, size) in items {
            index.insert(id, size);
        }
        index
    }

    /// Adds an object as most recently used (or refreshes it if present).
    pub(crate) fn insert(&mut self, id: HeapId, size: u64) {
        self.remove(&id);
        let tick = self.bump();
        self.order.insert(tick, id.clone());
        self.entries.insert(id, Entry { size, tick });
        self.total += size;
    }

    /// Marks an object as most recently used; returns false if it is not indexed.
    pub(crate) fn touch(&mut self, id: &HeapId) -> bool {
        let tick = self.bump();
        let Some(entry) = self.entries.get_mut(id) else {
            return false;
        };
        self.order.remove(&entry.tick);
        entry.tick = tick;
        self.order.insert(tick, id.clone());
        true
    }

    /// Forgets an object; returns its size if it was indexed.
    pub(crate) fn remove(&mut self, id: &HeapId) -> Option<u64> {
        let entry = self.entries.remove(id)?;
        self.order.remove(&entry.tick);
        self.total -= entry.size;
        Some(entry.size)
    }

    /// Drops least recently used objects until the total is at most `max`; returns them
    /// so the caller can delete their files.
    pub(crate) fn evict_to(&mut self, max: u64) -> Vec<HeapId> {
        let mut evicted = Vec::new();
        while self.total > max {
            let Some((_, id)) = self.order.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&id) {
                self.total -= entry.size;
            }
            evicted.push(id);
        }
        evicted
    }

    pub(crate) fn contains(&self, id: &HeapId) -> bool {
        self.entries.contains_key(id)
    }

    pub(crate) fn total_bytes(&self) -> u64 {
        self.total
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn bump(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> HeapId {
        HeapId::of(&[n])
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let mut lru = LruIndex::default();
        lru.insert(id(1), 10);
        lru.insert(id(2), 10);
        lru.insert(id(3), 10);
        assert!(lru.touch(&id(1)));
        assert_eq!(lru.total_bytes(), 30);
        assert_eq!(lru.evict_to(20), vec![id(2)]);
        assert_eq!(lru.evict_to(5), vec![id(3), id(1)]);
        assert_eq!((lru.len(), lru.total_bytes()), (0, 0));
    }

    #[test]
    fn reinsert_replaces_size_and_refreshes() {
        let mut lru = LruIndex::from_oldest_first([(id(1), 10), (id(2), 10)]);
        lru.insert(id(1), 15);
        assert_eq!(lru.total_bytes(), 25);
        assert_eq!(lru.evict_to(15), vec![id(2)]);
        assert!(lru.contains(&id(1)));
    }

    #[test]
    fn remove_and_touch_of_unknown() {
        let mut lru = LruIndex::from_oldest_first([(id(1), 7)]);
        assert!(!lru.touch(&id(9)));
        assert_eq!(lru.remove(&id(9)), None);
        assert_eq!(lru.remove(&id(1)), Some(7));
        assert_eq!(lru.total_bytes(), 0);
        assert!(lru.evict_to(0).is_empty());
    }
}
