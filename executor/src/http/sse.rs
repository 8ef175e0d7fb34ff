//! The legacy HTTP+SSE transport (MCP 2024-11-05), which rmcp 3 does not serve:
//! `GET /sse` opens an event stream whose first event names the endpoint to POST
//! messages to (`/message?sessionId=…`); the server's messages come back as `message`
//! events on that stream. Each stream is one MCP session held by this process.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::PollSender;
use tracing::debug;

use super::api::error_body;
use crate::mcp::McpServer;

/// Client messages a session may have waiting before POSTs are refused.
const INBOX: usize = 256;

#[derive(Clone)]
pub struct SseState {
    server: McpServer,
    sessions: Arc<Mutex<HashMap<String, mpsc::Sender<ClientJsonRpcMessage>>>>,
}

impl SseState {
    pub fn new(server: McpServer) -> Self {
        Self {
            server,
            sessions: Arc::default(),
        }
    }
}

/// Removes the session when its event stream is dropped (the client went away).
struct Registration {
    id: String,
    sessions: Arc<Mutex<HashMap<String, mpsc::Sender<ClientJsonRpcMessage>>>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sessions.lock().expect("sse sessions").remove(&self.id);
        debug!(session = %self.id, "sse session closed");
    }
}

pub async fn open(
    State(state): State<SseState>,
    caller: Option<axum::Extension<super::auth::Principal>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (inbox_tx, inbox_rx) = mpsc::channel::<ClientJsonRpcMessage>(INBOX);
    let (out_tx, out_rx) = mpsc::channel::<ServerJsonRpcMessage>(INBOX);
    state
        .sessions
        .lock()
        .expect("sse sessions")
        .insert(id.clone(), inbox_tx);
    // The stream's principal owns the whole session.
    let server = state.server.connection_for(caller.map(|p| p.0.0));
    tokio::spawn(async move {
        let transport = (PollSender::new(out_tx), ReceiverStream::new(inbox_rx));
        match server.serve(transport).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => debug!(error = %e, "sse session ended before initialize"),
        }
    });
    let guard = Registration {
        id: id.clone(),
        sessions: state.sessions,
    };
    let endpoint = futures::stream::once(futures::future::ready(Ok(Event::default()
        .event("endpoint")
        .data(format!("/message?sessionId={id}")))));
    let messages = ReceiverStream::new(out_rx).map(move |msg| {
        let _keep = &guard;
        let data = serde_json::to_string(&msg).unwrap_or_default();
        Ok(Event::default().event("message").data(data))
    });
    Sse::new(endpoint.chain(messages))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[derive(Deserialize)]
pub struct SessionParam {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

/// `POST /message?sessionId=…`: 202 once queued for the session; 400 for a body that is
/// not a JSON-RPC message, 404 for an unknown session.
pub async fn message(
    State(state): State<SseState>,
    Query(param): Query<SessionParam>,
    body: Bytes,
) -> Response {
    let Some(id) = param.session_id else {
        return (
            StatusCode::BAD_REQUEST,
            error_body("missing sessionId query parameter"),
        )
            .into_response();
    };
    let msg: ClientJsonRpcMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({
                    "jsonrpc": "2.0",
                    "id": null,
                    "error": { "code": -32700, "message": format!("parse error: {e}") }
                })),
            )
                .into_response();
        }
    };
    let tx = state
        .sessions
        .lock()
        .expect("sse sessions")
        .get(&id)
        .cloned();
    let Some(tx) = tx else {
        return (
            StatusCode::NOT_FOUND,
            error_body("unknown or closed SSE session: reconnect to GET /sse"),
        )
            .into_response();
    };
    match tx.try_send(msg) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(mpsc::error::TrySendError::Full(_)) => (
            StatusCode::TOO_MANY_REQUESTS,
            error_body("too many messages waiting for this session; retry shortly"),
        )
            .into_response(),
        Err(mpsc::error::TrySendError::Closed(_)) => (
            StatusCode::NOT_FOUND,
            error_body("the SSE session has ended: reconnect to GET /sse"),
        )
            .into_response(),
    }
}
