//! `mcp-v8`: JavaScript and TypeScript in V8 isolates, with persistent content-addressed
//! heap snapshots. The modules read in the order a run flows through them:
//! [`runner`] (limits, heaps) → [`pool`] (queue, supervised worker processes) →
//! [`ipc`] → [`worker`] (the worker process) → [`engine`] (V8 through deno_core).

pub mod config;
pub mod engine;
pub mod executions;
pub mod http;
pub mod io;
pub mod ipc;
pub mod mcp;
pub mod metrics;
pub mod pool;
pub mod registry;
pub mod runner;
pub mod server;
pub mod worker;
