//! `mcp-v8-meta`: one metadata member without the engine. Serves the `/meta/*` and
//! `/cluster/*` JSON API on `--http-port` over the local, etcd or raft backend (raft when
//! `--cluster-port` is set), so real multi-process clusters can be run and tested on
//! their own.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use mcp_v8_cluster::ClusterArgs;
use tracing::info;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-v8-meta",
    version,
    about = "mcp-v8 session-log and heap-tag metadata node"
)]
struct Cli {
    /// Port of the /meta and /cluster JSON API.
    #[arg(long, env = "MCP_V8_HTTP_PORT")]
    http_port: u16,

    /// Address the HTTP API and the cluster port listen on.
    #[arg(long, env = "MCP_V8_BIND_HOST", default_value = "127.0.0.1")]
    bind_host: IpAddr,

    /// Directory for this node's metadata (local database or raft log and state).
    #[arg(
        long,
        env = "MCP_V8_SESSION_DB_PATH",
        default_value = "/tmp/mcp-v8-sessions"
    )]
    session_db_path: PathBuf,

    #[command(flatten)]
    cluster: ClusterArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".parse().expect("static filter parses")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "mcp-v8-meta stopped");
            eprintln!("mcp-v8-meta: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let meta =
        mcp_v8_cluster::start(&cli.cluster, &cli.session_db_path, cli.bind_host, None).await?;
    let addr = SocketAddr::new(cli.bind_host, cli.http_port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    info!(%addr, backend = meta.store.backend(), "metadata API listening");
    axum::serve(listener, meta.meta_router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    if let Some(node) = &meta.node {
        node.shutdown().await;
    }
    Ok(())
}
