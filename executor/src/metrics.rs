//! The executor's Prometheus metrics (`GET /metrics`, text format). Labels are bounded:
//! statuses, modes, route templates and error labels — never ids, code or session names.

mod sources;
mod store;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::pool::RunOutcome;
pub use sources::Source;
pub use store::StoreMetrics;

pub struct Metrics {
    registry: Registry,
    executions: IntCounterVec,
    duration: HistogramVec,
    refused: IntCounterVec,
    http: IntCounterVec,
    queued: IntGauge,
    running: IntGauge,
    workers: IntGauge,
    queue_wait: Histogram,
    isolate_create: Histogram,
    snapshot_restore: Histogram,
    snapshot_create: Histogram,
    snapshot_bytes: Histogram,
    /// Components read at scrape time (heap cache, raft).
    sources: Mutex<Vec<Box<dyn Source>>>,
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("static metric definition");
    registry
        .register(Box::new(h.clone()))
        .expect("unique metric");
    h
}

/// Latency buckets from 0.5 ms to 30 s.
fn seconds() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "mcpv8_execution_duration_seconds",
                "Time from accepting a run to its record being final, by mode",
            )
            .buckets(vec![
                0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                300.0,
            ]),
            &["mode"],
        )
        .expect("static metric definition");
        registry
            .register(Box::new(duration.clone()))
            .expect("unique metric");
        Self {
            executions: counter(
                &registry,
                "mcpv8_executions_total",
                "Finished runs by final status and mode (stateless|stateful)",
                &["status", "mode"],
            ),
            refused: counter(
                &registry,
                "mcpv8_runs_refused_total",
                "Runs refused before they were queued, by reason",
                &["reason"],
            ),
            http: counter(
                &registry,
                "mcpv8_http_requests_total",
                "HTTP requests by route template and status code",
                &["route", "status"],
            ),
            queued: gauge(&registry, "mcpv8_queued_runs", "Runs waiting for a worker"),
            running: gauge(
                &registry,
                "mcpv8_running_runs",
                "Runs executing in a worker",
            ),
            workers: gauge(&registry, "mcpv8_workers", "Live worker processes"),
            queue_wait: histogram(
                &registry,
                "mcpv8_queue_wait_seconds",
                "Time runs waited for a worker (runs that got one)",
                seconds(),
            ),
            isolate_create: histogram(
                &registry,
                "mcpv8_isolate_create_seconds",
                "Time to create a run's isolate from the startup snapshot",
                seconds(),
            ),
            snapshot_restore: histogram(
                &registry,
                "mcpv8_snapshot_restore_seconds",
                "Time to create a run's isolate from a session heap snapshot",
                seconds(),
            ),
            snapshot_create: histogram(
                &registry,
                "mcpv8_snapshot_create_seconds",
                "Time to snapshot the heap after a completed stateful run",
                seconds(),
            ),
            snapshot_bytes: histogram(
                &registry,
                "mcpv8_snapshot_bytes",
                "Size of heap snapshots produced by completed stateful runs (uncompressed)",
                prometheus::exponential_buckets(256.0 * 1024.0, 2.0, 11).expect("static buckets"),
            ),
            sources: Mutex::default(),
            duration,
            registry,
        }
    }

    /// Registers the heap store families (the store is wrapped before this exists).
    pub fn add_store(&self, store: &StoreMetrics) {
        for c in [
            Box::new(store.ops.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(store.secs.clone()),
        ] {
            self.registry
                .register(c)
                .expect("store metrics registered once");
        }
    }

    /// Publishes the S3 heap cache's statistics.
    pub fn watch_cache(&self, cache: mcp_v8_store::CachedStore) {
        self.add_source(Box::new(sources::Cache::new(&self.registry, cache)));
    }

    /// Publishes this node's raft state.
    pub fn watch_raft(&self, node: Arc<mcp_v8_cluster::RaftNode>) {
        self.add_source(Box::new(sources::Raft::new(&self.registry, node)));
    }

    fn add_source(&self, source: Box<dyn Source>) {
        if let Ok(mut s) = self.sources.lock() {
            s.push(source);
        }
    }

    /// What the pool and the worker measured about one run.
    pub fn run_timings(&self, outcome: &RunOutcome) {
        if let Some(wait) = outcome.queue_wait {
            self.queue_wait.observe(wait.as_secs_f64());
        }
        let t = &outcome.timings;
        if let Some(secs) = t.isolate_secs {
            let h = if t.restored {
                &self.snapshot_restore
            } else {
                &self.isolate_create
            };
            h.observe(secs);
        }
        if let Some(secs) = t.snapshot_secs {
            self.snapshot_create.observe(secs);
        }
        if let Some(bytes) = &outcome.snapshot {
            self.snapshot_bytes.observe(bytes.len() as f64);
        }
    }

    pub fn finished(&self, status: &str, stateful: bool, took: Duration) {
        let mode = if stateful { "stateful" } else { "stateless" };
        self.executions.with_label_values(&[status, mode]).inc();
        self.duration
            .with_label_values(&[mode])
            .observe(took.as_secs_f64());
    }

    pub fn refused(&self, reason: &str) {
        self.refused.with_label_values(&[reason]).inc();
    }

    pub fn http(&self, route: &str, status: u16) {
        self.http
            .with_label_values(&[route, &status.to_string()])
            .inc();
    }

    /// The text exposition, with the pool gauges read now.
    pub fn render(&self, queued: usize, running: usize, workers: usize) -> String {
        let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.queued.set(as_i64(queued));
        self.running.set(as_i64(running));
        self.workers.set(as_i64(workers));
        if let Ok(sources) = self.sources.lock() {
            for s in sources.iter() {
                s.refresh();
            }
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_bounded_series() {
        let m = Metrics::new();
        m.finished("completed", true, Duration::from_millis(30));
        m.refused("busy");
        m.http("/api/exec", 200);
        let text = m.render(2, 1, 2);
        for line in [
            "mcpv8_executions_total{mode=\"stateful\",status=\"completed\"} 1",
            "mcpv8_runs_refused_total{reason=\"busy\"} 1",
            "mcpv8_http_requests_total{route=\"/api/exec\",status=\"200\"} 1",
            "mcpv8_queued_runs 2",
            "mcpv8_workers 2",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn worker_timings_go_to_their_histograms() {
        let m = Metrics::new();
        let mut o = RunOutcome::from_ending(
            crate::ipc::Ending::Completed,
            None,
            None,
            Some(vec![0; 1000]),
        );
        o.queue_wait = Some(Duration::from_millis(3));
        o.timings = crate::ipc::Timings {
            isolate_secs: Some(0.004),
            restored: true,
            snapshot_secs: Some(0.02),
        };
        m.run_timings(&o);
        let text = m.render(0, 0, 1);
        for line in [
            "mcpv8_queue_wait_seconds_count 1",
            "mcpv8_snapshot_restore_seconds_count 1",
            "mcpv8_isolate_create_seconds_count 0",
            "mcpv8_snapshot_create_seconds_count 1",
            "mcpv8_snapshot_bytes_sum 1000",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}
