//! The cluster port's router: raft RPCs (`/raft/append`, `/raft/vote`,
//! `/raft/snapshot`), leader-side write/read-index/join/remove calls, member info for
//! discovery, and execution forwarding (`/exec`). Every route requires
//! `Authorization: Bearer <cluster secret>` when a secret is configured.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};

use crate::error::MetaError;
use crate::forward::{ExecRequest, ExecutionHost, serve};
use crate::model::Command;
use crate::raft::rpc::{JoinRequest, Reply, bearer, secret_matches};
use crate::raft::{NodeId, RaftNode, TypeConfig};

#[derive(Clone)]
struct ClusterState {
    node: Arc<RaftNode>,
    exec: Option<Arc<dyn ExecutionHost>>,
}

/// Raft log batches and snapshot chunks can be large; the port is authenticated.
const CLUSTER_BODY_LIMIT: usize = 256 * 1024 * 1024;

/// The router to serve on `--cluster-port`. `exec` answers forwarded execution queries
/// (the executor passes its registry; `None` answers them "not found").
pub fn cluster_router(node: Arc<RaftNode>, exec: Option<Arc<dyn ExecutionHost>>) -> Router {
    let secret = node.settings.secret.clone();
    let state = ClusterState { node, exec };
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/write", post(write))
        .route("/raft/read_index", post(read_index))
        .route("/raft/join", post(join))
        .route("/raft/remove", post(remove))
        .route("/raft/info", get(info))
        .route("/exec", post(exec_call))
        .layer(DefaultBodyLimit::max(CLUSTER_BODY_LIMIT))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let secret = secret.clone();
            async move {
                if let Some(secret) = secret {
                    let header = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok());
                    if !bearer(header).is_some_and(|p| secret_matches(&secret, p)) {
                        return unauthorized();
                    }
                }
                next.run(req).await
            }
        }))
        .with_state(state)
}

fn unauthorized() -> Response {
    let e = MetaError::Unauthorized("the cluster port needs the shared secret".into());
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({"error": e.to_string(), "kind": e.metric_label()})),
    )
        .into_response()
}

async fn append(
    State(s): State<ClusterState>,
    Json(rpc): Json<AppendEntriesRequest<TypeConfig>>,
) -> Response {
    Json(s.node.raft().append_entries(rpc).await).into_response()
}

async fn vote(State(s): State<ClusterState>, Json(rpc): Json<VoteRequest<NodeId>>) -> Response {
    Json(s.node.raft().vote(rpc).await).into_response()
}

async fn snapshot(
    State(s): State<ClusterState>,
    Json(rpc): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Response {
    Json(s.node.raft().install_snapshot(rpc).await).into_response()
}

async fn write(State(s): State<ClusterState>, Json(cmd): Json<Command>) -> Response {
    Json(s.node.write_here(cmd).await).into_response()
}

async fn read_index(State(s): State<ClusterState>) -> Response {
    Json(s.node.read_index_here().await).into_response()
}

fn reply<T>(r: Result<T, MetaError>) -> Reply<T> {
    r.map_or_else(Reply::Failed, Reply::Ok)
}

async fn join(State(s): State<ClusterState>, Json(req): Json<JoinRequest>) -> Response {
    Json(reply(s.node.join(req).await)).into_response()
}

async fn remove(State(s): State<ClusterState>, Json(id): Json<NodeId>) -> Response {
    Json(reply(s.node.remove(id).await)).into_response()
}

async fn info(State(s): State<ClusterState>) -> Response {
    Json(s.node.info()).into_response()
}

async fn exec_call(State(s): State<ClusterState>, Json(req): Json<ExecRequest>) -> Response {
    let r = match &s.exec {
        Some(host) => serve(host.as_ref(), &req).await,
        None => Err(MetaError::NotFound("this node hosts no executions".into())),
    };
    Json(reply(r)).into_response()
}
