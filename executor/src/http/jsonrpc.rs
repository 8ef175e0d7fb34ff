//! Protocol-level answers rmcp leaves as plain text: a POST to `/mcp` that is not JSON
//! (or not JSON-RPC) gets 400 with a JSON-RPC error, and any 413 gets a JSON body.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::error_body;

fn rpc_error(code: i64, message: &str) -> Response {
    let body =
        json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn is_message(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.get("jsonrpc").and_then(Value::as_str) == Some("2.0"),
        Value::Array(items) => !items.is_empty() && items.iter().all(is_message),
        _ => false,
    }
}

/// Reads a POSTed body (up to `limit`) and refuses what is not a JSON-RPC message.
pub async fn check_body(State(limit): State<usize>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large();
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Err(e) => return rpc_error(-32700, &format!("parse error: {e}")),
        Ok(v) if !is_message(&v) => {
            return rpc_error(
                -32600,
                "invalid request: expected a JSON-RPC 2.0 message with \"jsonrpc\": \"2.0\"",
            );
        }
        Ok(_) => {}
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large() -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        error_body("request body too large: raise --max-request-body or send less"),
    )
        .into_response()
}

/// Gives a plain-text 413 (from a body limit anywhere) the API's JSON error shape.
pub async fn json_413(res: Response) -> Response {
    let is_text = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/plain"));
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE && is_text {
        too_large()
    } else {
        res
    }
}
