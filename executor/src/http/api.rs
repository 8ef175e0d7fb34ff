//! The plain HTTP API of the interface contract: `POST /api/exec` (waits for the run,
//! or `?async=true`), the execution endpoints, and the probes.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mcp_v8_cluster::OutputQuery;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use crate::executions::{ExecError, Executions, RunSpec};

/// The caller's principal when authentication is on.
type Caller = Option<axum::Extension<Principal>>;

fn owner(caller: &Caller) -> Option<&str> {
    caller.as_ref().map(|p| p.0.0.as_str())
}

/// The longest a synchronous `/api/exec` waits: the longest timeout plus slack for
/// queueing and saving the heap.
const EXEC_WAIT: Duration = Duration::from_secs(330);

pub fn error_body(msg: &str) -> Json<Value> {
    Json(json!({ "error": msg.replace(['\n', '\r'], " ") }))
}

pub struct ApiError(ExecError);

impl From<ExecError> for ApiError {
    fn from(e: ExecError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, error_body(&self.0.to_string())).into_response()
    }
}

fn bad_request(msg: String) -> ApiError {
    ApiError(ExecError::InvalidArgument(msg))
}

#[derive(Debug, Deserialize, Default)]
pub struct ExecParams {
    #[serde(default, rename = "async")]
    is_async: bool,
}

/// `POST /api/exec`: 200 with the record plus `output` once the run ended, or 202
/// `{execution_id}` with `?async=true`.
pub async fn exec(
    State(exec): State<Arc<Executions>>,
    caller: Caller,
    params: Result<Query<ExecParams>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| bad_request(e.body_text()))?;
    let body = super::exec_body::decode(&body).map_err(bad_request)?;
    let started = exec
        .start(RunSpec {
            code: body.code,
            heap: body.heap,
            session: body.session,
            heap_memory_max_mb: body.heap_memory_max_mb,
            execution_timeout_secs: body.execution_timeout_secs,
            owner: owner(&caller).map(str::to_owned),
        })
        .await?;
    if params.is_async {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "execution_id": started.id })),
        )
            .into_response());
    }
    let record = Executions::wait(&started.live, EXEC_WAIT).await;
    let mut v = json!(record);
    v["output"] = started.live.text().into();
    Ok(Json(v).into_response())
}

pub async fn get(
    State(exec): State<Arc<Executions>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(exec.get(&id, owner(&caller)).await?))
}

pub async fn output(
    State(exec): State<Arc<Executions>>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<Query<OutputQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| bad_request(e.body_text()))?;
    Ok(Json(exec.output(&id, &q, owner(&caller)).await?))
}

pub async fn cancel(
    State(exec): State<Arc<Executions>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(exec.cancel(&id, owner(&caller)).await?))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    status: Option<String>,
    limit: Option<u64>,
}

pub async fn list(
    State(exec): State<Arc<Executions>>,
    caller: Caller,
    query: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| bad_request(e.body_text()))?;
    let list = exec
        .list(q.status.as_deref(), q.limit, owner(&caller))
        .await?;
    Ok(Json(json!({ "executions": list })))
}

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the heap store answers and the worker pool has live workers.
pub async fn readyz(State(exec): State<Arc<Executions>>) -> Response {
    if exec.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reason": "shutting down: finishing runs in flight" })),
        )
            .into_response();
    }
    if let Some(store) = exec.runner().store()
        && let Err(e) = store.check_ready().await
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reason": e.to_string() })),
        )
            .into_response();
    }
    if exec.runner().pool().live_workers() == 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "reason": "no worker process is up yet" })),
        )
            .into_response();
    }
    Json(json!({ "status": "ready" })).into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(exec): State<Arc<Executions>>) -> Response {
    let pool = exec.runner().pool();
    let text = exec
        .metrics
        .render(pool.queued(), pool.in_flight(), pool.live_workers());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Counts every request by route template (never the raw path) and status.
pub async fn count(
    State(exec): State<Arc<Executions>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(
            || {
                if req.uri().path().starts_with("/mcp") {
                    "/mcp".to_owned()
                } else {
                    "unmatched".to_owned()
                }
            },
            |m| m.as_str().to_owned(),
        );
    let res = next.run(req).await;
    exec.metrics.http(&route, res.status().as_u16());
    res
}
