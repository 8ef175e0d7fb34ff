//! The `mcp-v8` command line. Flags keep the original mcp-v8's names, defaults and
//! ranges; each can also be set through an `MCP_V8_*` environment variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_v8_cluster::ClusterArgs;
use mcp_v8_store::StoreArgs;
use mcp_v8_store::parse_bytes;

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

    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub cluster: ClusterArgs,

    #[command(flatten)]
    pub io: crate::io::args::IoArgs,

    /// Log filter (tracing EnvFilter syntax), logs go to stderr [default: info; warn for exec]
    #[arg(long, env = "MCP_V8_LOG", global = true)]
    pub log: Option<String>,

    /// Log line format on stderr
    #[arg(
        long,
        env = "MCP_V8_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

impl Cli {
    /// The logging flags worker processes are started with, so their lines follow the
    /// server's filter and format.
    pub fn worker_log_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(filter) = &self.log {
            args.extend(["--log".to_owned(), filter.clone()]);
        }
        if self.log_format == LogFormat::Json {
            args.extend(["--log-format".to_owned(), "json".to_owned()]);
        }
        args
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Transports, HTTP hardening, the execution registry and prompt overrides.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Serve MCP over Streamable HTTP at /mcp, plus the plain API (/api/*), probes and
    /// /meta/*, on this port [default: stdio, no HTTP]
    #[arg(long, env = "MCP_V8_HTTP_PORT", conflicts_with = "sse_port")]
    pub http_port: Option<u16>,

    /// Serve MCP over the legacy HTTP+SSE transport (GET /sse, POST /message), plus the
    /// plain API, on this port
    #[arg(long, env = "MCP_V8_SSE_PORT", conflicts_with = "http_port")]
    pub sse_port: Option<u16>,

    /// Address the HTTP (and cluster) ports listen on; 0.0.0.0 to serve other machines
    #[arg(long, env = "MCP_V8_BIND_HOST", default_value = "127.0.0.1")]
    pub bind_host: std::net::IpAddr,

    /// Host header values accepted, comma-separated (name or name:port; `*.domain` for
    /// every name under it; `*` for any). Add the names clients use, e.g. a Service name
    #[arg(
        long,
        env = "MCP_V8_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1,[::1]"
    )]
    pub allowed_hosts: Vec<String>,

    /// JSON file `{"<token>": "<principal>"}`: every request except the probes must
    /// carry `Authorization: Bearer <token>`, and sees only its principal's sessions,
    /// executions and tags. Re-read when it changes
    #[arg(long, env = "MCP_V8_AUTH_TOKENS_FILE", value_name = "FILE")]
    pub auth_tokens_file: Option<PathBuf>,

    /// JWT authentication: URL of the issuer's JWKS (e.g. https://idp/.well-known/jwks.json),
    /// fetched at start, every --jwks-refresh-secs, and when a token names an unknown
    /// key id. A bearer not in --auth-tokens-file must then be a JWT signed by one of
    /// its keys; the principal is the `sub` claim
    #[arg(long, env = "MCP_V8_JWKS_URL", value_name = "URL", group = "jwks", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwks_url: Option<String>,

    /// JWT authentication with the JWKS in this file (re-read when it changes) instead
    /// of --jwks-url
    #[arg(long, env = "MCP_V8_JWKS_FILE", value_name = "FILE", group = "jwks", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwks_file: Option<PathBuf>,

    /// The `iss` every JWT must carry (required with --jwks-url / --jwks-file)
    #[arg(long, env = "MCP_V8_JWT_ISSUER", requires = "jwks")]
    pub jwt_issuer: Option<String>,

    /// Accepted `aud` values, comma-separated; a JWT must name one of them (required with
    /// --jwks-url / --jwks-file)
    #[arg(
        long,
        env = "MCP_V8_JWT_AUDIENCE",
        value_delimiter = ',',
        requires = "jwks"
    )]
    pub jwt_audience: Vec<String>,

    /// Seconds between scheduled re-fetches of --jwks-url
    #[arg(long, env = "MCP_V8_JWKS_REFRESH_SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    pub jwks_refresh_secs: u64,

    /// Least seconds between fetches of --jwks-url caused by tokens naming unknown key ids
    /// (and between retries while no keys could be fetched)
    #[arg(long, env = "MCP_V8_JWKS_MIN_REFRESH_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub jwks_min_refresh_secs: u64,

    /// Browser Origins accepted besides those on an allowed host, comma-separated
    /// (e.g. https://app.example.com; `*` for any)
    #[arg(long, env = "MCP_V8_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Serve /metrics on this port instead of the HTTP port (bound to --bind-host, no
    /// Host check or authentication, for a scraper on a separate network path)
    #[arg(long, env = "MCP_V8_METRICS_PORT")]
    pub metrics_port: Option<u16>,

    /// Largest request body accepted, in bytes or with a unit (KiB, MiB); larger gets 413
    #[arg(long, env = "MCP_V8_MAX_REQUEST_BODY", default_value = "4MiB", value_parser = parse_bytes)]
    pub max_request_body: u64,

    /// Directory owned by the executor for its databases (execution records, console
    /// output, session logs and tags, raft data); used in every mode
    #[arg(
        long,
        env = "MCP_V8_SESSION_DB_PATH",
        default_value = "/tmp/mcp-v8-sessions"
    )]
    pub session_db_path: PathBuf,

    /// On SIGTERM, how long requests in flight may take to finish before streams are
    /// closed and the process exits (keep it below the pod's termination grace period)
    #[arg(long, env = "MCP_V8_SHUTDOWN_GRACE_SECS", default_value_t = 25)]
    pub shutdown_grace_secs: u64,

    /// Finished executions kept (records and output); the oldest go first
    #[arg(long, env = "MCP_V8_EXECUTION_RETENTION", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub execution_retention: u64,

    /// Seconds a finished execution is kept at most (at least 600)
    #[arg(long, env = "MCP_V8_EXECUTION_RETENTION_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(600..))]
    pub execution_retention_secs: u64,

    /// Override the server instructions sent at initialize: text, or @path to read it
    /// from a file (@@ for a literal leading @)
    #[arg(long, env = "MCP_V8_INSTRUCTIONS", value_name = "TEXT_OR_@FILE")]
    pub instructions: Option<String>,

    /// Override the run_js tool description: text, or @path to read it from a file
    #[arg(
        long = "run-js-description",
        env = "MCP_V8_RUN_JS_DESCRIPTION",
        value_name = "TEXT_OR_@FILE"
    )]
    pub run_js_description: Option<String>,
}

/// Reads a `TEXT_OR_@FILE` value.
pub fn text_or_file(flag: &str, v: &str) -> anyhow::Result<String> {
    if let Some(rest) = v.strip_prefix("@@") {
        return Ok(format!("@{rest}"));
    }
    match v.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {flag} file {path}: {e}")),
        None => Ok(v.to_owned()),
    }
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
        #[arg(long)]
        io_config: Option<PathBuf>,
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

    /// Heap limit of a run that does not ask for one, in MB [default: --heap-memory-max]
    #[arg(long, env = "MCP_V8_HEAP_MEMORY_DEFAULT", value_parser = clap::value_parser!(u32).range(4..=64))]
    pub heap_memory_default: Option<u32>,

    /// Timeout of a run that does not ask for one, in seconds [default: --execution-timeout]
    #[arg(long, env = "MCP_V8_EXECUTION_TIMEOUT_DEFAULT", value_parser = clap::value_parser!(u32).range(1..=300))]
    pub execution_timeout_default: Option<u32>,

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
    /// Checks that the defaults lie within the maxima.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(d) = self
            .heap_memory_default
            .filter(|d| *d > self.heap_memory_max)
        {
            return Err(format!(
                "--heap-memory-default {d} is above --heap-memory-max {}",
                self.heap_memory_max
            ));
        }
        if let Some(d) = self
            .execution_timeout_default
            .filter(|d| *d > self.execution_timeout)
        {
            return Err(format!(
                "--execution-timeout-default {d} is above --execution-timeout {}",
                self.execution_timeout
            ));
        }
        Ok(())
    }

    /// Heap MB of a run that does not ask.
    pub fn default_heap_mb(&self) -> u32 {
        self.heap_memory_default.unwrap_or(self.heap_memory_max)
    }

    /// Timeout of a run that does not ask.
    pub fn default_timeout_secs(&self) -> u32 {
        self.execution_timeout_default
            .unwrap_or(self.execution_timeout)
    }

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
        assert_eq!(
            cli.server.session_db_path,
            PathBuf::from("/tmp/mcp-v8-sessions")
        );
        assert!(cli.server.http_port.is_none() && cli.server.sse_port.is_none());
        assert_eq!(cli.cluster.heartbeat_interval, 100);
    }

    #[test]
    fn transports_conflict_and_stateless_keeps_the_session_db() {
        let e = Cli::try_parse_from(["mcp-v8", "--http-port", "1", "--sse-port", "2"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be used with"), "{e}");
        let cli = Cli::try_parse_from([
            "mcp-v8",
            "--stateless",
            "--session-db-path",
            "/tmp/x",
            "--allowed-hosts",
            "a,b.ns.svc",
        ])
        .unwrap();
        assert_eq!(cli.server.allowed_hosts, ["a", "b.ns.svc"]);
        assert_eq!(text_or_file("--instructions", "@@x").unwrap(), "@x");
        let cli = Cli::try_parse_from([
            "mcp-v8",
            "--heap-memory-max",
            "16",
            "--heap-memory-default",
            "32",
        ])
        .unwrap();
        assert!(
            cli.engine
                .validate()
                .unwrap_err()
                .contains("above --heap-memory-max 16")
        );
        let cli = Cli::try_parse_from(["mcp-v8", "--execution-timeout-default", "5"]).unwrap();
        assert_eq!(
            (
                cli.engine.default_timeout_secs(),
                cli.engine.default_heap_mb()
            ),
            (5, 8)
        );
    }

    #[test]
    fn jwt_flags_need_issuer_and_audience_and_one_jwks() {
        let e = Cli::try_parse_from(["mcp-v8", "--jwks-file", "k.json"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--jwt-issuer") && e.contains("--jwt-audience"),
            "{e}"
        );
        let e = Cli::try_parse_from(["mcp-v8", "--jwt-issuer", "i"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("required"), "{e}");
        let both = [
            "mcp-v8",
            "--jwks-file",
            "k",
            "--jwks-url",
            "http://x",
            "--jwt-issuer",
            "i",
            "--jwt-audience",
            "a",
        ];
        assert!(Cli::try_parse_from(both).is_err());
        let cli = Cli::try_parse_from([
            "mcp-v8",
            "--jwks-url",
            "http://x",
            "--jwt-issuer",
            "i",
            "--jwt-audience",
            "a,b",
        ])
        .unwrap();
        assert_eq!(cli.server.jwt_audience, ["a", "b"]);
        assert_eq!(
            (
                cli.server.jwks_refresh_secs,
                cli.server.jwks_min_refresh_secs
            ),
            (600, 30)
        );
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
