//! The `mcp-v8` command line. Flags keep the original mcp-v8's names, defaults and
//! ranges; each can also be set through an `MCP_V8_*` environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mcp_v8_store::StoreArgs;

#[derive(Parser, Debug)]
#[command(
    name = "mcp-v8",
    version,
    about = "Run JavaScript and TypeScript in V8 isolates with persistent, content-addressed heap snapshots",
    long_about = None
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Log filter (tracing EnvFilter syntax), logs go to stderr [default: info; warn for exec]
    #[arg(long, env = "MCP_V8_LOG", global = true)]
    pub log: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one piece of code through the worker pool and print its execution record as JSON
    Exec(ExecArgs),
    /// Internal: a worker process (started by the server)
    #[command(name = "__worker", hide = true)]
    Worker {
        #[arg(long)]
        startup_snapshot: PathBuf,
        #[arg(long)]
        snapshotting: bool,
        #[arg(long, default_value_t = 512)]
        recycle_above_mb: u64,
    },
    /// Internal: build the startup snapshot (started by the server)
    #[command(name = "__snapshot", hide = true)]
    Snapshot {
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        webassembly_global: bool,
    },
}

/// Engine and worker pool settings.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Largest V8 heap a run may use, in MB (1-64); runs ask for less with heap_memory_max_mb
    #[arg(long, env = "MCP_V8_HEAP_MEMORY_MAX", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub heap_memory_max: u32,

    /// Longest a run may take, in seconds (1-300), time spent queued included
    #[arg(long, env = "MCP_V8_EXECUTION_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub execution_timeout: u32,

    /// Worker processes, i.e. runs executing in parallel [default: number of CPUs]
    #[arg(long, env = "MCP_V8_MAX_CONCURRENT_EXECUTIONS", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_concurrent_executions: Option<u32>,

    /// Runs that may wait for a free worker; beyond this, requests get "server busy"
    #[arg(long, env = "MCP_V8_MAX_QUEUED_EXECUTIONS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_queued_executions: u32,

    /// Replace a worker process whose memory stays this many MB above its start after a run
    #[arg(long, env = "MCP_V8_WORKER_RECYCLE_MB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(16..))]
    pub worker_recycle_mb: u64,

    /// Console output kept per run, in bytes; later lines are dropped with a note
    #[arg(long, env = "MCP_V8_MAX_OUTPUT_BYTES", default_value_t = 10 << 20)]
    pub max_output_bytes: usize,
}

impl EngineArgs {
    pub fn workers(&self) -> usize {
        self.max_concurrent_executions
            .map(|n| n as usize)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

#[derive(Args, Debug, Clone)]
pub struct ExecArgs {
    /// The code to run; `-` (or nothing) reads it from stdin
    pub code: Option<String>,
    /// Resume this heap (64 lowercase hex characters, printed by an earlier run)
    #[arg(long)]
    pub heap: Option<String>,
    /// Heap limit of this run in MB (4-64, at most --heap-memory-max)
    #[arg(long)]
    pub heap_memory_max_mb: Option<u32>,
    /// Timeout of this run in seconds (1-300, at most --execution-timeout)
    #[arg(long)]
    pub execution_timeout_secs: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_original() {
        let cli = Cli::try_parse_from(["mcp-v8"]).unwrap();
        assert_eq!(cli.engine.heap_memory_max, 8);
        assert_eq!(cli.engine.execution_timeout, 30);
        assert!(!cli.store.stateless);
    }

    #[test]
    fn out_of_range_limits_are_refused_naming_the_range() {
        let e = Cli::try_parse_from(["mcp-v8", "--heap-memory-max", "65"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("1..=64"), "{e}");
        let e = Cli::try_parse_from(["mcp-v8", "--execution-timeout", "0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("1..=300"), "{e}");
    }
}
