//! The operator's own HTTP endpoints, served on loopback as the binary serves them:
//! `/healthz` always answers, `/readyz` only once the controllers run (after winning the
//! Lease), `/metrics` exposes the reconcile metrics in the Prometheus text format.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mcp_v8_operator::http::{Health, router};
use mcp_v8_operator::metrics::Metrics;

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let app = router(Health {
        metrics: metrics.clone(),
        ready: ready.clone(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let not_ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(not_ready.status(), 503, "not ready before leading");
    ready.store(true, Ordering::Relaxed);
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    drop(metrics.reconcile_started("WasmModule"));
    metrics.reconcile_failed("WasmModule", "kube_api");
    let resp = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains(r#"mcpv8_operator_reconciliations_total{kind="WasmModule"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"mcpv8_operator_reconcile_errors_total{error="kube_api",kind="WasmModule"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("mcpv8_operator_leader 0"), "{text}");
    server.abort();
}
