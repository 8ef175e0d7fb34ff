//! Starting the server from the command line: heap store, worker pool, metadata
//! (local, etcd, or a raft member), execution registry, then the transport — stdio by
//! default, or HTTP (`--http-port` / `--sse-port`) until SIGTERM or Ctrl-C.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use mcp_v8_cluster::{ExecForwarder, ExecutionHost, MetaError, OutputQuery};
use mcp_v8_store::StoreConfig;
use rmcp::ServiceExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{Cli, text_or_file};
use crate::executions::{Executions, LocalHost};
use crate::http::auth::{Auth, Tokens};
use crate::http::jwks::Jwks;
use crate::http::jwt::JwtAuth;
use crate::http::{HttpConfig, Transport};
use crate::mcp::McpServer;
use crate::pool::{Pool, PoolConfig};
use crate::registry::{Registry, Retention};
use crate::runner::Runner;

pub async fn serve(cli: &Cli) -> anyhow::Result<()> {
    let s = &cli.server;
    let port = s.http_port.or(s.sse_port);
    if cli.cluster.cluster_port.is_some() && port.is_none() {
        anyhow::bail!(
            "--cluster-port needs --http-port or --sse-port (cluster members serve HTTP)"
        );
    }
    let instructions = s
        .instructions
        .as_deref()
        .map(|v| text_or_file("--instructions", v))
        .transpose()?;
    let io = cli
        .io
        .resolve(&s.session_db_path)
        .map_err(anyhow::Error::msg)?;
    let run_js_description = match s.run_js_description.as_deref() {
        Some(v) => text_or_file("--run-js-description", v)?,
        None => crate::mcp::description::run_js_text(&io),
    };
    cli.engine.validate().map_err(anyhow::Error::msg)?;
    let store_config = cli.store.validate()?;
    let opened = store_config.open_backend().await?;
    let cache = match &opened {
        Some(mcp_v8_store::OpenedStore::Cached(c)) => Some(c.clone()),
        _ => None,
    };
    let store_metrics = crate::metrics::StoreMetrics::new();
    let store = opened.map(|o| store_metrics.instrument(o.into_dyn()));
    let pool = Pool::start(PoolConfig {
        workers: cli.engine.workers(),
        queue_capacity: cli.engine.max_queued_executions as usize,
        stateful: !matches!(store_config, StoreConfig::Stateless),
        worker_exe: std::env::current_exe()?,
        recycle_above_mb: cli.engine.worker_recycle_mb,
        io,
        log_args: cli.worker_log_args(),
    })
    .await?;
    let runner = Runner::new(pool, store, cli.engine.clone());

    // The cluster port answers forwarded queries from the moment it listens; the
    // registry it serves exists only once the metadata store is open.
    let host = Arc::new(LateHost::default());
    let metadata = mcp_v8_cluster::start(
        &cli.cluster,
        &s.session_db_path,
        s.bind_host,
        Some(host.clone() as Arc<dyn ExecutionHost>),
    )
    .await?;
    let raft_id = match metadata.node {
        Some(_) => cli.cluster.raft_id()?,
        None => 0,
    };
    let registry = Registry::open(
        &s.session_db_path,
        Retention {
            max_records: s.execution_retention,
            max_age_secs: s.execution_retention_secs,
        },
        &cli.cluster.node_name(),
        raft_id,
    )
    .with_context(|| {
        format!(
            "opening the execution registry in {} (is another mcp-v8 using this --session-db-path?)",
            s.session_db_path.display()
        )
    })?;
    let forwarder = metadata.node.clone().map(ExecForwarder::new);
    let exec = Executions::new(runner, registry, metadata.store.clone(), forwarder);
    exec.metrics.add_store(&store_metrics);
    if let Some(cache) = cache {
        exec.metrics.watch_cache(cache);
    }
    if let Some(node) = &metadata.node {
        exec.metrics.watch_raft(node.clone());
    }
    let _ = host.0.set(LocalHost(exec.clone()));
    let mcp = McpServer::new(exec.clone(), instructions, Some(run_js_description));

    let Some(port) = port else {
        info!("serving MCP on stdio");
        let running = mcp.serve(rmcp::transport::stdio()).await?;
        running.waiting().await?;
        return Ok(());
    };
    let config = HttpConfig {
        transport: if s.sse_port.is_some() {
            Transport::Sse
        } else {
            Transport::StreamableHttp
        },
        allowed_hosts: s.allowed_hosts.clone(),
        allowed_origins: s.allowed_origins.clone(),
        max_body_bytes: usize::try_from(s.max_request_body).unwrap_or(usize::MAX),
        auth: auth(s).await?,
        separate_metrics: s.metrics_port.is_some(),
    };
    if let Some(metrics_port) = s.metrics_port {
        let addr = std::net::SocketAddr::new(s.bind_host, metrics_port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} (--metrics-port)"))?;
        info!(%addr, "serving /metrics");
        let app = crate::http::metrics_router(exec.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the metrics port stopped");
            }
        });
    }
    let shutdown = CancellationToken::new();
    let app = crate::http::router(
        exec.clone(),
        &mcp,
        Some(metadata.meta_router()),
        &config,
        &shutdown,
    );
    let addr = std::net::SocketAddr::new(s.bind_host, port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    info!(%addr, transport = ?config.transport, "serving HTTP");
    let grace = std::time::Duration::from_secs(s.shutdown_grace_secs);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            wait_for_signal().await;
            // New connections stop here; requests in flight (a run_js waiting for its
            // run, an /api/exec) finish and answer. Long-lived streams end at the grace.
            info!(
                grace_secs = grace.as_secs(),
                "draining: finishing requests in flight"
            );
            exec.start_draining();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                info!("grace period over: closing the remaining streams");
                shutdown.cancel();
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                std::process::exit(0);
            });
        })
        .await?;
    info!("all requests answered; exiting");
    Ok(())
}

/// The authentication configured by the flags, if any.
async fn auth(s: &crate::config::ServerArgs) -> anyhow::Result<Option<Arc<Auth>>> {
    let tokens = s
        .auth_tokens_file
        .as_deref()
        .map(Tokens::watch)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let jwks = match (&s.jwks_url, &s.jwks_file) {
        (Some(url), _) => Some(
            Jwks::watch_url(
                url,
                Duration::from_secs(s.jwks_refresh_secs),
                Duration::from_secs(s.jwks_min_refresh_secs),
            )
            .await,
        ),
        (None, Some(path)) => Some(Jwks::watch_file(path)?),
        (None, None) => None,
    };
    let jwt = jwks.map(|jwks| {
        let issuer = s.jwt_issuer.as_deref().unwrap_or_default();
        Arc::new(JwtAuth::new(jwks, issuer, &s.jwt_audience))
    });
    if tokens.is_none() && jwt.is_none() {
        return Ok(None);
    }
    info!(
        tokens_file = tokens.is_some(),
        jwt = jwt.is_some(),
        "authentication on"
    );
    Ok(Some(Arc::new(Auth { tokens, jwt })))
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The registry as other nodes see it, bound once it exists.
#[derive(Default)]
struct LateHost(OnceLock<LocalHost>);

impl LateHost {
    fn get(&self) -> Result<&LocalHost, MetaError> {
        self.0
            .get()
            .ok_or_else(|| MetaError::Unavailable("this node is still starting".into()))
    }
}

#[async_trait]
impl ExecutionHost for LateHost {
    async fn get_execution(&self, id: &str) -> Result<Value, MetaError> {
        self.get()?.get_execution(id).await
    }

    async fn get_execution_output(&self, id: &str, q: &OutputQuery) -> Result<Value, MetaError> {
        self.get()?.get_execution_output(id, q).await
    }

    async fn cancel_execution(&self, id: &str) -> Result<Value, MetaError> {
        self.get()?.cancel_execution(id).await
    }
}
