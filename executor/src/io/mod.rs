//! Controlled I/O: everything a sandboxed program may reach outside its isolate —
//! ES module imports, `fetch()`, the `fs` global — each gate explicit. The server
//! resolves the flags into one [`IoConfig`] at startup ([`args`]); every worker reads
//! it from a private file and enforces it in the ops and the module loader.

pub mod args;
pub mod fetch;
pub mod fs;
pub mod headers;
pub mod hosts;
pub mod module_cache;
pub mod modules;
pub mod netguard;
pub mod opa;
pub mod wasm;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use headers::{HeaderRule, HeaderValue};
pub use hosts::HostPort;

/// What runs may reach, shared by the server and its workers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IoConfig {
    pub modules: ModulesConfig,
    /// `fetch()` exists only with an OPA URL.
    pub fetch: Option<FetchConfig>,
    /// The `fs` global exists only with a policy.
    pub fs: Option<FsConfig>,
    /// Preloaded WebAssembly modules (`--wasm-module`, `--wasm-config`).
    #[serde(default)]
    pub wasm: Vec<wasm::WasmModule>,
}

impl Default for IoConfig {
    fn default() -> Self {
        Self {
            modules: ModulesConfig::new(args::DEFAULT_CDN, &[], None)
                .expect("the default CDN is a valid URL"),
            fetch: None,
            fs: None,
            wasm: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModulesConfig {
    /// Where `npm:` and `jsr:` specifiers point (no trailing slash).
    pub cdn: String,
    /// Hosts imports may come from; every redirect hop is checked too.
    pub allow: Vec<HostPort>,
    /// Disk cache shared by the workers (None: memory only).
    pub cache_dir: Option<PathBuf>,
    pub max_module_bytes: u64,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchConfig {
    /// OPA base URL, without a trailing slash.
    pub opa_url: String,
    /// Policy path under `/v1/data/`, e.g. `mcp/fetch`.
    pub policy: String,
    pub header_rules: Vec<HeaderRule>,
    pub timeout_ms: u64,
    pub max_request_bytes: u64,
    pub max_response_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FsConfig {
    /// Where the policy came from (for messages).
    pub rego_path: PathBuf,
    /// The policy's source, read once by the server.
    pub rego: String,
    /// The rule that must evaluate to `true`, e.g. `data.mcp.fs.allow`.
    pub query: String,
}
