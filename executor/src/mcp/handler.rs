//! `McpServer`: rmcp's `ServerHandler` for the tools. Arguments are parsed here so that
//! bad ones come back as tool errors (`isError`) with a one-line message, as the
//! interface contract says; only an unknown tool is a protocol error.

// MCP logging is deprecated by the 2026-07-28 spec (SEP-2577) but still how clients of
// 2025-* show a run's console live, which the issue asks for.
#![allow(deprecated)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, LoggingLevel, LoggingMessageNotificationParam, PaginatedRequestParams,
    ProgressNotificationParam, ServerCapabilities, ServerConfig, SetLevelRequestParams, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::tools::{self, *};
use crate::executions::{ExecError, Executions, MAX_WAIT_MS, RunSpec, Started};
use crate::registry::Live;

const INSTRUCTIONS: &str = "mcp-v8 runs JavaScript and TypeScript in V8 isolates. Call run_js with wait_ms \
(e.g. 10000) to run code and get its result in one call; long runs return an execution_id to poll with \
get_execution and get_execution_output. Keep state between runs by passing the returned heap id back as `heap`, \
or by naming a `session`.";

/// One client's view of the server (the log level is per connection).
#[derive(Clone)]
pub struct McpServer {
    shared: Arc<Shared>,
    level: Arc<AtomicU8>,
    /// The principal a connection is bound to (legacy SSE: the one that opened it).
    owner: Option<String>,
}

struct Shared {
    exec: Arc<Executions>,
    tools: Vec<Tool>,
    instructions: String,
}

impl McpServer {
    /// `instructions` and `run_js_description` replace the built-in texts when given.
    pub fn new(
        exec: Arc<Executions>,
        instructions: Option<String>,
        run_js_description: Option<String>,
    ) -> Self {
        let tools = tools::list(exec.runner().is_stateful(), run_js_description);
        let instructions = instructions.unwrap_or_else(|| INSTRUCTIONS.into());
        Self {
            shared: Arc::new(Shared {
                exec,
                tools,
                instructions,
            }),
            level: Arc::new(AtomicU8::new(level_rank(LoggingLevel::Info))),
            owner: None,
        }
    }

    /// A handler for a new connection, sharing the service but not the log level.
    pub fn connection(&self) -> Self {
        self.connection_for(None)
    }

    /// A connection bound to `owner` for all its calls.
    pub fn connection_for(&self, owner: Option<String>) -> Self {
        Self {
            shared: self.shared.clone(),
            level: Arc::new(AtomicU8::new(level_rank(LoggingLevel::Info))),
            owner,
        }
    }

    /// The caller: the connection's principal, or the one authenticated on this HTTP
    /// request (Streamable HTTP).
    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Option<String> {
        self.owner.clone().or_else(|| {
            ctx.extensions
                .get::<axum::http::request::Parts>()
                .and_then(|p| p.extensions.get::<crate::http::auth::Principal>())
                .map(|p| p.0.clone())
        })
    }

    async fn dispatch(
        &self,
        name: &str,
        args: Value,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Result<Value, String>, ErrorData> {
        let exec = &self.shared.exec;
        let caller = self.caller(ctx);
        let owner = caller.as_deref();
        let out = match name {
            "run_js" => match parse::<RunJs>(name, args) {
                Ok(a) => self.run_js(a, owner, ctx).await,
                Err(e) => return Ok(Err(e)),
            },
            "get_execution" => {
                with(name, args, |a: ExecutionId| async move {
                    exec.get(&a.execution_id, owner).await
                })
                .await
            }
            "get_execution_output" => {
                with(name, args, |a: GetOutput| async move {
                    let q = mcp_v8_cluster::OutputQuery {
                        line_offset: a.line_offset,
                        line_limit: a.line_limit,
                        byte_offset: a.byte_offset,
                        byte_limit: a.byte_limit,
                    };
                    exec.output(&a.execution_id, &q, owner).await
                })
                .await
            }
            "cancel_execution" => {
                with(name, args, |a: ExecutionId| async move {
                    exec.cancel(&a.execution_id, owner).await
                })
                .await
            }
            "list_executions" => {
                with(name, args, |a: ListExecutions| async move {
                    let list = exec.list(a.status.as_deref(), a.limit, owner).await?;
                    Ok(json!({ "executions": list }))
                })
                .await
            }
            "list_sessions" => {
                with(name, args, |_: NoArgs| async move {
                    Ok(json!({ "sessions": exec.list_sessions(owner).await? }))
                })
                .await
            }
            "list_session_snapshots" => {
                with(name, args, |a: SessionSnapshots| async move {
                    let entries = exec
                        .list_session_snapshots(&a.session, a.fields.as_deref(), owner)
                        .await?;
                    Ok(json!({ "entries": entries }))
                })
                .await
            }
            "get_heap_tags" => {
                with(name, args, |a: Heap| async move {
                    let tags = exec.get_tags(&a.heap, owner).await?;
                    Ok(json!({ "heap": a.heap, "tags": tags }))
                })
                .await
            }
            "set_heap_tags" => {
                with(name, args, |a: SetTags| async move {
                    exec.set_tags(&a.heap, a.tags.clone(), owner).await?;
                    Ok(json!({ "heap": a.heap, "tags": a.tags }))
                })
                .await
            }
            "delete_heap_tags" => {
                with(name, args, |a: DeleteTags| async move {
                    exec.delete_tags(&a.heap, &a.keys, owner).await?;
                    let tags = exec.get_tags(&a.heap, owner).await?;
                    Ok(json!({ "heap": a.heap, "tags": tags }))
                })
                .await
            }
            "query_heaps_by_tags" => {
                with(name, args, |a: QueryTags| async move {
                    Ok(json!({ "heaps": exec.query_heaps(&a.tags, owner).await? }))
                })
                .await
            }
            "rebuild_session" => {
                with(name, args, |a: Session| async move {
                    exec.rebuild_session(&a.session, owner).await
                })
                .await
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "unknown tool {other:?}: call tools/list for the tools this server offers"
                    ),
                    None,
                ));
            }
        };
        Ok(out)
    }

    async fn run_js(
        &self,
        a: RunJs,
        owner: Option<&str>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<Value, String> {
        if let Some(w) = a.wait_ms.filter(|w| *w > MAX_WAIT_MS) {
            return Err(format!(
                "wait_ms must be between 0 and {MAX_WAIT_MS}, got {w}"
            ));
        }
        let spec = RunSpec {
            code: a.code,
            heap: a.heap,
            session: a.session,
            heap_memory_max_mb: a.heap_memory_max_mb,
            execution_timeout_secs: a.execution_timeout_secs,
            owner: owner.map(str::to_owned),
        };
        let started = self
            .shared
            .exec
            .start(spec)
            .await
            .map_err(|e| one_line(&e))?;
        let Some(wait) = a.wait_ms else {
            return Ok(json!({ "execution_id": started.id }));
        };
        let live = started.live.clone();
        self.stream_until_done(started, Duration::from_millis(wait), ctx)
            .await;
        Ok(record_or_pending(&live))
    }

    /// Sends console lines as log (and progress) notifications until the run ends, the
    /// wait is over, or the client gives up on the request.
    async fn stream_until_done(
        &self,
        mut started: Started,
        wait: Duration,
        ctx: &RequestContext<RoleServer>,
    ) {
        let (_, mut done) = started.live.subscribe();
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        let token = ctx.meta.get_progress_token();
        let mut sent = 0u64;
        loop {
            tokio::select! {
                biased;
                line = started.lines.recv() => match line {
                    Ok(line) => {
                        sent += 1;
                        self.notify_line(&started.id, &line, token.as_ref(), sent, ctx).await;
                    }
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                },
                _ = async { done.wait_for(|d| *d).await.is_ok() } => break,
                () = &mut deadline => return,
                () = ctx.ct.cancelled() => return,
            }
        }
        while let Ok(line) = started.lines.try_recv() {
            sent += 1;
            self.notify_line(&started.id, &line, token.as_ref(), sent, ctx)
                .await;
        }
    }

    async fn notify_line(
        &self,
        id: &str,
        line: &str,
        token: Option<&rmcp::model::ProgressToken>,
        n: u64,
        ctx: &RequestContext<RoleServer>,
    ) {
        if self.level.load(Ordering::Relaxed) <= level_rank(LoggingLevel::Info) {
            let msg = LoggingMessageNotificationParam::new(
                LoggingLevel::Info,
                json!({ "execution_id": id, "line": line }),
            )
            .with_logger("console");
            let _ = ctx.peer.notify_logging_message(msg).await;
        }
        if let Some(token) = token {
            let p = ProgressNotificationParam::new(token.clone(), n as f64).with_message(line);
            let _ = ctx.peer.notify_progress(p).await;
        }
    }
}

fn record_or_pending(live: &Live) -> Value {
    let record = live.record();
    if record.status.is_terminal() {
        json!(record)
    } else {
        json!({ "execution_id": record.execution_id, "status": record.status })
    }
}

fn parse<T: DeserializeOwned>(tool: &str, args: Value) -> Result<T, String> {
    serde_json::from_value(args).map_err(|e| format!("invalid arguments for {tool}: {e}"))
}

async fn with<T, F, Fut>(tool: &str, args: Value, f: F) -> Result<Value, String>
where
    T: DeserializeOwned,
    F: FnOnce(T) -> Fut,
    Fut: Future<Output = Result<Value, ExecError>>,
{
    let a = parse::<T>(tool, args)?;
    f(a).await.map_err(|e| one_line(&e))
}

fn one_line(e: &ExecError) -> String {
    e.to_string().replace(['\n', '\r'], " ")
}

fn level_rank(level: LoggingLevel) -> u8 {
    level as u8
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .build(),
        )
        .with_server_info(Implementation::new("mcp-v8", env!("CARGO_PKG_VERSION")))
        .with_instructions(self.shared.instructions.clone())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.shared.tools.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = Value::Object(request.arguments.unwrap_or_default());
        let result = match self.dispatch(&request.name, args, &context).await? {
            Ok(v) => CallToolResult::structured(v),
            Err(msg) => {
                let mut r = CallToolResult::error(vec![ContentBlock::text(msg.clone())]);
                r.structured_content = Some(json!({ "error": msg }));
                r
            }
        };
        Ok(result.into())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.level
            .store(level_rank(request.level), Ordering::Relaxed);
        Ok(())
    }
}
