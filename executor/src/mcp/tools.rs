//! The MCP tools: their arguments (with JSON schemas generated from these types) and
//! descriptions written for a model that has only them to go on.

use std::collections::BTreeMap;

use rmcp::handler::server::common::schema_for_type;
use rmcp::model::Tool;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RunJs {
    /// JavaScript or TypeScript source, run as an ES module; the value of the last
    /// expression statement is the result. Top-level await works.
    pub code: String,
    /// Heap to resume (a 64-hex-character id returned by an earlier run). Omit it to
    /// continue `session` or to start fresh.
    pub heap: Option<String>,
    /// Session name: with no `heap`, the session's latest heap is resumed; each run
    /// that leaves a heap is logged under it.
    pub session: Option<String>,
    /// V8 heap limit of this run in MB (at most the server's --heap-memory-max).
    pub heap_memory_max_mb: Option<u32>,
    /// Timeout of this run in seconds, time queued included (at most the server's
    /// --execution-timeout).
    pub execution_timeout_secs: Option<u32>,
    /// Wait up to this many milliseconds (0-30000) for the run to end and return its
    /// whole record; console lines stream as log notifications meanwhile.
    pub wait_ms: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExecutionId {
    /// An execution_id returned by run_js.
    pub execution_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetOutput {
    /// An execution_id returned by run_js.
    pub execution_id: String,
    /// First line to return (line mode, the default), from 0.
    pub line_offset: Option<u64>,
    /// Most lines to return (1-10000, default 1000).
    pub line_limit: Option<u64>,
    /// First byte to return (byte mode), from 0.
    pub byte_offset: Option<u64>,
    /// Most bytes to return (1-1048576, default 65536).
    pub byte_limit: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListExecutions {
    /// Only this status: queued, running, completed, failed, cancelled or timed_out.
    pub status: Option<String>,
    /// Most executions to return, newest first (1-1000, default 50).
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SessionSnapshots {
    /// Exact session name.
    pub session: String,
    /// Comma-separated fields among index, input_heap, output_heap, code, timestamp
    /// (default: all).
    pub fields: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Heap {
    /// A heap id (64 lowercase hex characters).
    pub heap: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SetTags {
    /// A heap id (64 lowercase hex characters).
    pub heap: String,
    /// The heap's new tags; replaces all its current tags.
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteTags {
    /// A heap id (64 lowercase hex characters).
    pub heap: String,
    /// Tag keys to remove.
    pub keys: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct QueryTags {
    /// Tags every returned heap must carry (all pairs must match).
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct Session {
    /// Exact session name.
    pub session: String,
}

/// The run_js description's fixed part; `description::run_js_text` completes it with
/// what this server's gates let runs reach.
pub const RUN_JS: &str = "Run JavaScript or TypeScript in a fresh V8 isolate and get an execution_id at once. \
The value of the last expression is the result (as a string); console output is captured. \
Give wait_ms (up to 30000) to get the finished record {execution_id, status, result, error, heap, started_at, completed_at} \
in the same call when the run ends in time; otherwise poll get_execution and read output with get_execution_output. \
State: top-level variables and globalThis persist only through heaps. Each completed run returns `heap`, \
a snapshot id; pass it as `heap` to continue from that state (chain heaps run after run), or name a `session` \
and omit `heap` to continue the session's latest heap automatically. Without either, the run starts from a fresh heap. \
Limits: heap_memory_max_mb and execution_timeout_secs cannot exceed the server's maxima (out-of-range values are refused); \
a run that exceeds them ends failed (heap limit) or timed_out. Statuses: queued, running, completed, failed, cancelled, timed_out. \
Globals: console, setTimeout/setInterval, URL, URLSearchParams, TextEncoder/TextDecoder, atob/btoa, crypto.getRandomValues, performance.now, structuredClone, WebAssembly";

const STATEFUL_NOTE: &str = " (Stateful servers only.)";

/// The tools this server offers; the session and tag tools only when it keeps heaps.
pub fn list(stateful: bool, run_js_description: Option<String>) -> Vec<Tool> {
    let mut tools = vec![
        tool::<RunJs>("run_js", run_js_description.unwrap_or_else(|| RUN_JS.into())),
        tool::<ExecutionId>(
            "get_execution",
            "Get an execution's record: {execution_id, status, result?, error?, heap?, started_at, completed_at?}. \
             Poll it until status is no longer queued or running."
                .into(),
        ),
        tool::<GetOutput>(
            "get_execution_output",
            "Read an execution's console output, also while it runs. Line mode (line_offset, line_limit) or byte mode \
             (byte_offset, byte_limit). Returns {data, total_lines, total_bytes, next_line_offset, next_byte_offset, has_more}; \
             continue from next_line_offset / next_byte_offset."
                .into(),
        ),
        tool::<ExecutionId>(
            "cancel_execution",
            "Cancel a queued or running execution; returns its record (status cancelled once it stopped). \
             A finished execution is left as it is."
                .into(),
        ),
        tool::<ListExecutions>(
            "list_executions",
            "List this server's recent executions, newest first: {executions: [record, …]}.".into(),
        ),
    ];
    if stateful {
        tools.extend([
            tool::<NoArgs>(
                "list_sessions",
                format!("List session names: {{sessions: [name, …]}}.{STATEFUL_NOTE}"),
            ),
            tool::<SessionSnapshots>(
                "list_session_snapshots",
                format!(
                    "List a session's log in order: {{entries: [{{index, input_heap, output_heap, code, timestamp}}, …]}}; \
                     each entry is one run that produced output_heap from input_heap (null: a fresh start).{STATEFUL_NOTE}"
                ),
            ),
            tool::<Heap>(
                "get_heap_tags",
                format!("Get a heap's tags: {{heap, tags: {{key: value}}}}.{STATEFUL_NOTE}"),
            ),
            tool::<SetTags>(
                "set_heap_tags",
                format!("Set a heap's tags, replacing all its tags. Use tags to find heaps later with query_heaps_by_tags.{STATEFUL_NOTE}"),
            ),
            tool::<DeleteTags>(
                "delete_heap_tags",
                format!("Remove some tag keys from a heap.{STATEFUL_NOTE}"),
            ),
            tool::<QueryTags>(
                "query_heaps_by_tags",
                format!("Find heaps carrying all the given tags: {{heaps: [id, …]}}.{STATEFUL_NOTE}"),
            ),
            tool::<Session>(
                "rebuild_session",
                format!(
                    "After a server upgrade, a session's heaps may carry another engine's fingerprint and refuse to load. \
                     This replays the session's logged code in order to make new heaps and appends them to the session, \
                     so the session resumes from the rebuilt state: {{session, replayed, heap}}.{STATEFUL_NOTE}"
                ),
            ),
        ]);
    }
    tools
}

fn tool<T: JsonSchema + 'static>(name: &'static str, description: String) -> Tool {
    Tool::new(name, description, schema_for_type::<T>())
}
