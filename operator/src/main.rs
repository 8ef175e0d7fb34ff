//! `mcp-v8-operator`: serves metrics and health, optionally waits for the leader Lease,
//! then runs the controllers until SIGTERM/SIGINT or until leadership is lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use mcp_v8_operator::controller;
use mcp_v8_operator::http::{Health, router};
use mcp_v8_operator::leader::{self, LeaseConfig};
use mcp_v8_operator::metrics::Metrics;
use mcp_v8_operator::reconcile::Context;
use mcp_v8_operator::reconcile::render::Settings;
use tokio::sync::watch;
use tracing::{error, info};

/// Kubernetes operator for mcp-v8 executor clusters.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address of /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "MCP_V8_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    metrics_addr: SocketAddr,
    /// Elect a leader through a Lease (needed with more than one replica).
    #[arg(long, env = "MCP_V8_OPERATOR_LEADER_ELECT")]
    leader_elect: bool,
    /// Lease name.
    #[arg(
        long,
        env = "MCP_V8_OPERATOR_LEASE_NAME",
        default_value = "mcp-v8-operator"
    )]
    lease_name: String,
    /// Namespace the operator runs in (Lease, NetworkPolicy admission).
    #[arg(long, env = "POD_NAMESPACE", default_value = "mcp-v8-system")]
    namespace: String,
    /// Watch and reconcile only this namespace (the chart's namespaced mode); unset watches
    /// every namespace.
    #[arg(long, env = "MCP_V8_OPERATOR_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// This replica's identity in the Lease.
    #[arg(long, env = "POD_NAME", default_value = "mcp-v8-operator")]
    identity: String,
    /// Cluster DNS domain.
    #[arg(
        long,
        env = "MCP_V8_OPERATOR_CLUSTER_DOMAIN",
        default_value = "cluster.local"
    )]
    cluster_domain: String,
    /// Log format: json or text.
    #[arg(long, env = "MCP_V8_OPERATOR_LOG_FORMAT", default_value = "json")]
    log_format: String,
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = ctrl_c.await;
            return;
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if args.log_format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %e, "operator stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let health = Health {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    let listener = tokio::net::TcpListener::bind(args.metrics_addr).await?;
    info!(addr = %args.metrics_addr, "serving /metrics, /healthz, /readyz");

    // One stop signal for everything: SIGTERM/SIGINT, or loss of leadership.
    let (stop_tx, stop_rx) = watch::channel(false);
    let wait_stop = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let http = tokio::spawn(
        axum::serve(listener, router(health))
            .with_graceful_shutdown(wait_stop(stop_rx.clone()))
            .into_future(),
    );
    let signal_tx = stop_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("termination signal received");
        let _ = signal_tx.send(true);
    });

    let mut lease = None;
    let client = Client::try_default().await.map_err(|e| {
        format!("cannot reach the Kubernetes API ({e}); run in a pod with a ServiceAccount or set KUBECONFIG")
    })?;
    if args.leader_elect {
        let cfg = LeaseConfig {
            name: args.lease_name.clone(),
            namespace: args.namespace.clone(),
            identity: args.identity.clone(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        };
        let api: Api<Lease> = Api::namespaced(client.clone(), &args.namespace);
        tokio::select! {
            _ = leader::acquire(&api, &cfg) => {},
            _ = wait_stop(stop_rx.clone()) => { let _ = http.await; return Ok(()); },
        }
        metrics.leader.set(1);
        let lost_tx = stop_tx.clone();
        let leader_metrics = metrics.clone();
        let (keep_api, keep_cfg) = (api.clone(), cfg.clone());
        tokio::spawn(async move {
            leader::keep(&keep_api, &keep_cfg).await;
            leader_metrics.leader.set(0);
            let _ = lost_tx.send(true);
        });
        lease = Some((api, cfg));
    }
    let settings = Settings {
        cluster_domain: args.cluster_domain,
        operator_namespace: args.namespace,
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        settings,
        metrics,
        Some(args.identity),
    ));
    ready.store(true, Ordering::Relaxed);
    let watch_namespace = args.watch_namespace.filter(|ns| !ns.is_empty());
    info!(
        namespace = watch_namespace.as_deref().unwrap_or("<all>"),
        "watching"
    );
    controller::run(client, ctx, watch_namespace, wait_stop(stop_rx)).await;
    ready.store(false, Ordering::Relaxed);
    if let Some((api, cfg)) = lease
        && let Err(e) = leader::release(&api, &cfg).await
    {
        error!(error = %e, "could not release the Lease; the next leader waits for it to expire");
    }
    let _ = stop_tx.send(true);
    http.await??;
    info!("operator stopped cleanly");
    Ok(())
}
