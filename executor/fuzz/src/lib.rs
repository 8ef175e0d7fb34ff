//! The executor's request decoding, compiled without the engine: the modules below are
//! the executor's own source files. `decode_*` do what the server does with a request
//! body before anything runs; the fuzz targets call them, the tests pin regressions.

#![allow(dead_code)]

#[path = "../../src/http/exec_body.rs"]
pub mod exec_body;
#[path = "../../src/mcp/tools.rs"]
pub mod tools;

use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn args<T: DeserializeOwned>(v: Value) -> Result<(), String> {
    serde_json::from_value::<T>(v)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A tool call's arguments decoded into that tool's type, by name as
/// `McpServer::dispatch` does (an unknown name is an error result there too).
pub fn decode_tool_args(name: &str, v: Value) -> Result<(), String> {
    use tools::*;
    match name {
        "run_js" => args::<RunJs>(v),
        "get_execution" | "cancel_execution" => args::<ExecutionId>(v),
        "get_execution_output" => args::<GetOutput>(v),
        "list_executions" => args::<ListExecutions>(v),
        "list_sessions" => args::<NoArgs>(v),
        "list_session_snapshots" => args::<SessionSnapshots>(v),
        "get_heap_tags" => args::<Heap>(v),
        "set_heap_tags" => args::<SetTags>(v),
        "delete_heap_tags" => args::<DeleteTags>(v),
        "query_heaps_by_tags" => args::<QueryTags>(v),
        "rebuild_session" => args::<Session>(v),
        _ => Err(format!("unknown tool {name}")),
    }
}

/// A POSTed `/mcp` body: JSON, then rmcp's client message (one, or a batch), then the
/// arguments of every `tools/call` in it.
pub fn decode_jsonrpc(body: &[u8]) -> Result<usize, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let messages = match v {
        Value::Array(items) => items,
        one => vec![one],
    };
    let mut calls = 0;
    for m in messages {
        let msg: ClientJsonRpcMessage = serde_json::from_value(m).map_err(|e| e.to_string())?;
        if let JsonRpcMessage::Request(r) = msg
            && let ClientRequest::CallToolRequest(call) = r.request
        {
            let arguments = Value::Object(call.params.arguments.unwrap_or_default());
            let _ = decode_tool_args(&call.params.name, arguments);
            calls += 1;
        }
    }
    Ok(calls)
}

/// A `POST /api/exec` body.
pub fn decode_exec_body(body: &[u8]) -> Result<(), String> {
    exec_body::decode(body).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_decode() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run_js","arguments":{"code":"1"}}}"#;
        assert_eq!(decode_jsonrpc(call), Ok(1));
        assert!(decode_tool_args("run_js", serde_json::json!({"code": 1})).is_err());
        assert!(decode_exec_body(br#"{"code":"1"}"#).is_ok());
    }
}
