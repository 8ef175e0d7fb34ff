//! Operator metrics in the Prometheus text format: reconcile counts, durations and errors
//! per resource kind, and whether this replica holds the leader Lease. Labels are bounded:
//! the kind and the error's `metric_label`, never object names.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The operator's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    reconciles: IntCounterVec,
    errors: IntCounterVec,
    duration: HistogramVec,
    /// 1 while this replica is the leader.
    pub leader: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics in their own registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let reconciles = IntCounterVec::new(
            Opts::new(
                "mcpv8_operator_reconciliations_total",
                "Reconciliations started, by resource kind",
            ),
            &["kind"],
        )
        .expect("static metric definition is valid");
        let errors = IntCounterVec::new(
            Opts::new(
                "mcpv8_operator_reconcile_errors_total",
                "Failed reconciliations, by resource kind and error",
            ),
            &["kind", "error"],
        )
        .expect("static metric definition is valid");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "mcpv8_operator_reconcile_duration_seconds",
                "Reconcile duration, by resource kind",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["kind"],
        )
        .expect("static metric definition is valid");
        let leader = IntGauge::new(
            "mcpv8_operator_leader",
            "1 while this replica holds the leader Lease",
        )
        .expect("static metric definition is valid");
        for c in [
            Box::new(reconciles.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(errors.clone()),
            Box::new(duration.clone()),
            Box::new(leader.clone()),
        ] {
            registry
                .register(c)
                .expect("each metric is registered once");
        }
        Self {
            registry,
            reconciles,
            errors,
            duration,
            leader,
        }
    }

    /// Counts a reconcile of `kind` and returns a guard recording its duration on drop.
    pub fn reconcile_started(&self, kind: &'static str) -> prometheus::HistogramTimer {
        self.reconciles.with_label_values(&[kind]).inc();
        self.duration.with_label_values(&[kind]).start_timer()
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, kind: &'static str, error: &'static str) {
        self.errors.with_label_values(&[kind, error]).inc();
    }

    /// Failed reconciles of `kind` with `error` so far.
    pub fn errors_of(&self, kind: &str, error: &str) -> u64 {
        self.errors.with_label_values(&[kind, error]).get()
    }

    /// Text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec only fails on invalid metric families, which ours are not.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders_bounded_labels() {
        let m = Metrics::new();
        drop(m.reconcile_started("McpV8Cluster"));
        m.reconcile_failed("McpV8Cluster", "kube_api");
        let text = m.render();
        assert!(
            text.contains(r#"mcpv8_operator_reconciliations_total{kind="McpV8Cluster"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcpv8_operator_reconcile_errors_total{error="kube_api",kind="McpV8Cluster"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("mcpv8_operator_reconcile_duration_seconds_count"));
        assert_eq!(m.errors_of("McpV8Cluster", "kube_api"), 1);
    }
}
