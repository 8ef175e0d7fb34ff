//! The `/meta/*` and `/cluster/*` JSON API over any `MetaStore` (served by
//! `mcp-v8-meta` and, later, by `mcp-v8 --http-port`). Errors are
//! `{"error": message, "kind": label}` with the status of `MetaError::http_status`.
//! Writes on a follower go through the leader, so every member answers alike.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::error::MetaError;
use crate::model::{EntryFields, NewEntry, Tags};
use crate::raft::RaftNode;
use crate::raft::rpc::{bearer, secret_matches};
use crate::store::MetaStore;

#[derive(Clone)]
struct ApiState {
    store: Arc<dyn MetaStore>,
    node: Option<Arc<RaftNode>>,
}

impl IntoResponse for MetaError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(serde_json::json!({"error": self.to_string(), "kind": self.metric_label()})),
        )
            .into_response()
    }
}

/// The metadata API router. `node` is the raft member in cluster mode (for
/// `/cluster/status` and `/cluster/remove`); without it those answer 404.
pub fn meta_router(store: Arc<dyn MetaStore>, node: Option<Arc<RaftNode>>) -> Router {
    Router::new()
        .route("/meta/sessions", get(list_sessions))
        .route(
            "/meta/sessions/{session}/entries",
            post(append).get(list_entries),
        )
        .route("/meta/tags/query", post(query))
        .route(
            "/meta/tags/{heap}",
            get(get_tags).put(set_tags).delete(delete_tags),
        )
        .route("/cluster/status", get(status))
        .route("/cluster/remove/{node_id}", post(remove))
        .with_state(ApiState { store, node })
}

/// A JSON body, with a malformed one answered as a JSON 400 like every other error.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, MetaError> {
    b.map(|Json(v)| v)
        .map_err(|e| MetaError::InvalidInput(format!("bad JSON body: {}", e.body_text())))
}

#[derive(Deserialize)]
struct AppendBody {
    input_heap: Option<String>,
    output_heap: String,
    code: String,
}

async fn append(
    State(s): State<ApiState>,
    Path(session): Path<String>,
    b: Result<Json<AppendBody>, JsonRejection>,
) -> Result<Json<serde_json::Value>, MetaError> {
    let b = body(b)?;
    let entry = NewEntry {
        session,
        input_heap: b.input_heap,
        output_heap: b.output_heap,
        code: b.code,
        owner: None,
    };
    let index = s.store.append_entry(entry).await?;
    Ok(Json(serde_json::json!({ "index": index })))
}

async fn list_sessions(State(s): State<ApiState>) -> Result<Json<Vec<String>>, MetaError> {
    Ok(Json(s.store.list_sessions(None).await?))
}

#[derive(Deserialize)]
struct FieldsQuery {
    fields: Option<String>,
}

async fn list_entries(
    State(s): State<ApiState>,
    Path(session): Path<String>,
    Query(q): Query<FieldsQuery>,
) -> Result<Json<Vec<serde_json::Value>>, MetaError> {
    let fields = EntryFields::parse(q.fields.as_deref())?;
    let entries = s.store.list_entries(&session, None).await?;
    Ok(Json(entries.iter().map(|e| fields.project(e)).collect()))
}

async fn get_tags(
    State(s): State<ApiState>,
    Path(heap): Path<String>,
) -> Result<Json<Tags>, MetaError> {
    Ok(Json(s.store.get_tags(&heap, None).await?))
}

async fn set_tags(
    State(s): State<ApiState>,
    Path(heap): Path<String>,
    tags: Result<Json<Tags>, JsonRejection>,
) -> Result<Json<Tags>, MetaError> {
    let tags = body(tags)?;
    s.store.set_tags(&heap, tags.clone(), None).await?;
    Ok(Json(tags))
}

#[derive(Deserialize)]
struct KeysQuery {
    keys: Option<String>,
}

async fn delete_tags(
    State(s): State<ApiState>,
    Path(heap): Path<String>,
    Query(q): Query<KeysQuery>,
) -> Result<StatusCode, MetaError> {
    let keys: Vec<String> = q
        .keys
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(String::from)
        .collect();
    if keys.is_empty() {
        return Err(MetaError::InvalidInput(
            "pass the tag keys to delete as ?keys=a,b".into(),
        ));
    }
    s.store.delete_tags(&heap, &keys, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn query(
    State(s): State<ApiState>,
    tags: Result<Json<Tags>, JsonRejection>,
) -> Result<Json<Vec<String>>, MetaError> {
    let tags = body(tags)?;
    Ok(Json(s.store.query_heaps(&tags, None).await?))
}

fn cluster_node(s: &ApiState) -> Result<&Arc<RaftNode>, MetaError> {
    s.node
        .as_ref()
        .ok_or_else(|| MetaError::NotFound("not in cluster mode; start with --cluster-port".into()))
}

async fn status(State(s): State<ApiState>) -> Result<Response, MetaError> {
    Ok(Json(cluster_node(&s)?.status()).into_response())
}

async fn remove(
    State(s): State<ApiState>,
    Path(node_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, MetaError> {
    let node = cluster_node(&s)?;
    // Removing a voter is an admin action: it always needs the cluster secret.
    let presented = bearer(headers.get("authorization").and_then(|v| v.to_str().ok()));
    let ok = match (&node.settings.secret, presented) {
        (Some(secret), Some(p)) => secret_matches(secret, p),
        _ => false,
    };
    if !ok {
        return Err(MetaError::Unauthorized(
            "removing a member needs the cluster secret".into(),
        ));
    }
    let id = crate::raft::parse_node_id(&node_id)?;
    node.remove(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
