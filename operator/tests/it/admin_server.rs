//! A loopback HTTP server standing in for the executor's cluster admin endpoints
//! (`/cluster/status`, `/cluster/remove/{node}` with the bearer secret) and for a module
//! host serving `.wasm` files. It records what it was asked.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Default)]
pub struct AdminState {
    pub secret: String,
    pub removed: Vec<String>,
    pub unauthorized: usize,
    pub fail_removals: bool,
    pub leader: Value,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Handle on a running server.
#[derive(Clone)]
pub struct AdminServer {
    pub url: String,
    pub state: Arc<Mutex<AdminState>>,
}

async fn remove(
    State(st): State<Arc<Mutex<AdminState>>>,
    Path(node): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let mut st = st.lock().unwrap_or_else(|e| e.into_inner());
    let expected = format!("Bearer {}", st.secret);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        st.unauthorized += 1;
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"missing or bad cluster secret"}"#.into(),
        );
    }
    if st.fail_removals {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"no leader"}"#.into(),
        );
    }
    st.removed.push(node);
    (StatusCode::OK, "{}".into())
}

async fn status(State(st): State<Arc<Mutex<AdminState>>>) -> axum::Json<Value> {
    let st = st.lock().unwrap_or_else(|e| e.into_inner());
    axum::Json(
        json!({"node_id": "c-0", "leader": st.leader, "term": 4, "voters": [1, 2, 3], "learners": [], "commit_index": 10}),
    )
}

async fn file(
    State(st): State<Arc<Mutex<AdminState>>>,
    Path(name): Path<String>,
) -> (StatusCode, Vec<u8>) {
    let st = st.lock().unwrap_or_else(|e| e.into_inner());
    match st.files.iter().find(|(n, _)| *n == name) {
        Some((_, bytes)) => (StatusCode::OK, bytes.clone()),
        None => (StatusCode::NOT_FOUND, Vec::new()),
    }
}

/// Starts the server on a free loopback port; it stops when the test's runtime ends.
pub async fn start(secret: &str) -> AdminServer {
    let state = Arc::new(Mutex::new(AdminState {
        secret: secret.into(),
        leader: json!(2),
        ..AdminState::default()
    }));
    let app = Router::new()
        .route("/cluster/remove/{node}", post(remove))
        .route("/cluster/status", get(status))
        .route("/files/{name}", get(file))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    AdminServer {
        url: format!("http://{addr}"),
        state,
    }
}
