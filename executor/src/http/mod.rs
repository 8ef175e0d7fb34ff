//! The HTTP server: Streamable HTTP at `/mcp` (stateless, so replicas behind a Service
//! need no sticky routing), or the legacy SSE transport, plus the plain API, probes,
//! and the `/meta/*` + `/cluster/*` metadata API — all behind Host/Origin validation
//! and a request body limit.

pub mod api;
pub mod auth;
pub mod exec_body;
pub mod guard;
mod jsonrpc;
pub mod jwks;
pub mod jwt;
pub mod sse;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::executions::Executions;
use crate::mcp::McpServer;
use guard::Guard;

/// Which MCP transport the port serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    StreamableHttp,
    Sse,
}

pub struct HttpConfig {
    pub transport: Transport,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// /metrics is served on its own port ([`metrics_router`]) rather than this one.
    pub separate_metrics: bool,
    /// Bearer tokens and/or JWT verification, when authentication is on.
    pub auth: Option<Arc<auth::Auth>>,
}

/// `--metrics-port`: only `/metrics`, for a scraper.
pub fn metrics_router(exec: Arc<Executions>) -> Router {
    Router::new()
        .route("/metrics", get(api::metrics))
        .with_state(exec)
}

/// The whole HTTP surface of one executor.
pub fn router(
    exec: Arc<Executions>,
    mcp: &McpServer,
    meta: Option<Router>,
    config: &HttpConfig,
    shutdown: &CancellationToken,
) -> Router {
    let api = Router::new()
        .route("/api/exec", post(api::exec))
        .route("/api/executions", get(api::list))
        .route("/api/executions/{id}", get(api::get))
        .route("/api/executions/{id}/output", get(api::output))
        .route("/api/executions/{id}/cancel", post(api::cancel))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz));
    let api = if config.separate_metrics {
        api
    } else {
        api.route("/metrics", get(api::metrics))
    }
    .with_state(exec.clone());
    let transport = match config.transport {
        Transport::StreamableHttp => {
            let server = mcp.clone();
            let service = StreamableHttpService::new(
                move || Ok(server.connection()),
                Arc::new(LocalSessionManager::default()),
                StreamableHttpServerConfig::default()
                    .with_legacy_session_mode(false)
                    // Checked for every route by `guard` below.
                    .disable_allowed_hosts()
                    .disable_allowed_origins()
                    .with_max_request_body_bytes(config.max_body_bytes)
                    .with_sse_keep_alive(Some(Duration::from_secs(15)))
                    .with_cancellation_token(shutdown.child_token()),
            );
            Router::new()
                .nest_service("/mcp", service)
                .layer(axum::middleware::from_fn_with_state(
                    config.max_body_bytes,
                    jsonrpc::check_body,
                ))
        }
        Transport::Sse => Router::new()
            .route("/sse", get(sse::open))
            .route("/message", post(sse::message))
            .with_state(sse::SseState::new(mcp.clone())),
    };
    let mut app = api.merge(transport);
    if let Some(meta) = meta {
        app = app.merge(meta);
    }
    let guard = Arc::new(Guard::new(&config.allowed_hosts, &config.allowed_origins));
    let mut app = app
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::map_response(jsonrpc::json_413));
    if let Some(authn) = &config.auth {
        app = app.layer(axum::middleware::from_fn_with_state(
            authn.clone(),
            auth::layer,
        ));
    }
    app.layer(axum::middleware::from_fn_with_state(guard, guard::layer))
        .layer(axum::middleware::from_fn_with_state(exec, api::count))
}
