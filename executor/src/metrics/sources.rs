//! Families read from other components when `/metrics` is scraped: the S3 heap cache's
//! statistics and this node's view of the raft group (openraft's metrics watch). Reading
//! at scrape time keeps those components free of Prometheus and costs nothing between
//! scrapes.

use std::sync::{Arc, Mutex};

use mcp_v8_cluster::RaftNode;
use mcp_v8_store::{CacheStats, CachedStore};
use prometheus::{IntCounter, IntGauge, Registry};

/// Something that updates its series just before they are gathered.
pub trait Source: Send + Sync {
    fn refresh(&self);
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("static metric definition");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("static metric definition");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

/// Advances a Prometheus counter to a monotonic total kept elsewhere.
fn advance(c: &IntCounter, total: u64) {
    let now = c.get();
    if total > now {
        c.inc_by(total - now);
    }
}

/// The write-through cache in front of S3.
pub struct Cache {
    store: CachedStore,
    hits: IntCounter,
    misses: IntCounter,
    evictions: IntCounter,
    corrupt: IntCounter,
    bytes: IntGauge,
    entries: IntGauge,
    max_bytes: IntGauge,
    /// Serializes refreshes so two scrapes cannot both add the same delta.
    refreshing: Mutex<()>,
}

impl Cache {
    pub fn new(registry: &Registry, store: CachedStore) -> Self {
        Self {
            store,
            hits: counter(
                registry,
                "mcpv8_heap_cache_hits_total",
                "Heap reads served by the local cache",
            ),
            misses: counter(
                registry,
                "mcpv8_heap_cache_misses_total",
                "Heap reads the local cache had to fetch from S3",
            ),
            evictions: counter(
                registry,
                "mcpv8_heap_cache_evictions_total",
                "Heaps evicted from the local cache to stay under its bound",
            ),
            corrupt: counter(
                registry,
                "mcpv8_heap_cache_corrupt_total",
                "Cache entries found corrupt and dropped",
            ),
            bytes: gauge(
                registry,
                "mcpv8_heap_cache_bytes",
                "Bytes held by the local heap cache",
            ),
            entries: gauge(
                registry,
                "mcpv8_heap_cache_entries",
                "Heaps held by the local heap cache",
            ),
            max_bytes: gauge(
                registry,
                "mcpv8_heap_cache_max_bytes",
                "Bound of the local heap cache in bytes",
            ),
            refreshing: Mutex::default(),
        }
    }
}

impl Source for Cache {
    fn refresh(&self) {
        let _one = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
        let s: CacheStats = self.store.stats();
        advance(&self.hits, s.hits);
        advance(&self.misses, s.misses);
        advance(&self.evictions, s.evictions);
        advance(&self.corrupt, s.corrupt);
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.bytes.set(clamp(s.bytes));
        self.entries.set(clamp(s.entries as u64));
        self.max_bytes.set(clamp(s.max_bytes));
    }
}

/// This node's raft state. openraft 0.9 does not publish the commit index; the applied
/// index trails it by at most the entries being applied, and `apply_lag` is how far the
/// applied index trails this node's log.
pub struct Raft {
    node: Arc<RaftNode>,
    term: IntGauge,
    is_leader: IntGauge,
    leader_id: IntGauge,
    last_log: IntGauge,
    applied: IntGauge,
    lag: IntGauge,
    voters: IntGauge,
}

impl Raft {
    pub fn new(registry: &Registry, node: Arc<RaftNode>) -> Self {
        Self {
            node,
            term: gauge(registry, "mcpv8_raft_term", "Current raft term"),
            is_leader: gauge(
                registry,
                "mcpv8_raft_is_leader",
                "1 while this node is the raft leader",
            ),
            leader_id: gauge(
                registry,
                "mcpv8_raft_leader_id",
                "Raft id of the leader this node knows (0: none)",
            ),
            last_log: gauge(
                registry,
                "mcpv8_raft_last_log_index",
                "Index of the last entry in this node's raft log",
            ),
            applied: gauge(
                registry,
                "mcpv8_raft_applied_index",
                "Index of the last committed entry applied to the state machine",
            ),
            lag: gauge(
                registry,
                "mcpv8_raft_apply_lag",
                "Log entries not yet applied on this node (last log index - applied index)",
            ),
            voters: gauge(
                registry,
                "mcpv8_raft_voters",
                "Voting members in the raft membership",
            ),
        }
    }
}

impl Source for Raft {
    fn refresh(&self) {
        let m = self.node.raft().metrics().borrow().clone();
        let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let last_log = m.last_log_index.unwrap_or(0);
        let applied = m.last_applied.map_or(0, |l| l.index);
        self.term.set(clamp(m.current_term));
        self.is_leader
            .set(i64::from(m.current_leader == Some(m.id)));
        self.leader_id.set(clamp(m.current_leader.unwrap_or(0)));
        self.last_log.set(clamp(last_log));
        self.applied.set(clamp(applied));
        self.lag.set(clamp(last_log.saturating_sub(applied)));
        self.voters.set(clamp(
            m.membership_config.membership().voter_ids().count() as u64
        ));
    }
}
