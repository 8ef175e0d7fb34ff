//! The controlled-I/O flags and their resolution into an [`IoConfig`].

use std::path::{Path, PathBuf};

use clap::Args;
use mcp_v8_store::parse_bytes;
use serde::Deserialize;

use super::headers::{self, HeaderRule};
use super::{FetchConfig, FsConfig, HostPort, IoConfig, ModulesConfig};

pub const DEFAULT_CDN: &str = "https://esm.sh";
/// The original mcp-v8's documented module sources besides the CDN.
const DEFAULT_EXTRA_HOSTS: &[&str] = &["deno.land"];
const MAX_MODULE_BYTES: u64 = 10 << 20;
const MODULE_TIMEOUT_MS: u64 = 15_000;
const MAX_FETCH_REQUEST_BYTES: u64 = 10 << 20;

#[derive(Args, Debug, Clone)]
pub struct IoArgs {
    /// Where `npm:` and `jsr:` imports are fetched from (`npm:pkg` → <cdn>/pkg,
    /// `jsr:pkg` → <cdn>/jsr/pkg)
    #[arg(long, env = "MCP_V8_MODULE_CDN", default_value = DEFAULT_CDN)]
    pub module_cdn: String,

    /// Host (any port) or host:port imports may be loaded from, repeatable; every
    /// redirect hop is checked. The CDN's host is always allowed [default: the CDN
    /// host and deno.land]
    #[arg(
        long = "module-allow-host",
        env = "MCP_V8_MODULE_ALLOW_HOSTS",
        value_delimiter = ',',
        value_name = "HOST[:PORT]"
    )]
    pub module_allow_hosts: Vec<String>,

    /// Directory for the shared module cache [default: <session-db-path>/module-cache]
    #[arg(long, env = "MCP_V8_MODULE_CACHE_DIR")]
    pub module_cache_dir: Option<PathBuf>,

    /// OPA server every fetch() request is checked against; without it there is no
    /// fetch() global
    #[arg(long, env = "MCP_V8_OPA_URL", value_name = "URL")]
    pub opa_url: Option<String>,

    /// OPA policy path deciding fetch() requests (POST {opa-url}/v1/data/<path>)
    #[arg(
        long,
        env = "MCP_V8_OPA_FETCH_POLICY",
        default_value = "mcp/fetch",
        requires = "opa_url"
    )]
    pub opa_fetch_policy: String,

    /// Add a header to fetch() requests: "host=<h>,header=<n>,value=<v>[,methods=GET;POST]"
    /// (host exact or *.domain), repeatable; headers set by the code win
    #[arg(
        long = "fetch-header",
        env = "MCP_V8_FETCH_HEADERS",
        value_delimiter = '\n',
        requires = "opa_url",
        value_name = "RULE"
    )]
    pub fetch_headers: Vec<String>,

    /// JSON header rules: {"rules": [{"host", "methods", "headers": {name: value |
    /// {"value_file": path}}}]}, merged after --fetch-header
    #[arg(
        long,
        env = "MCP_V8_FETCH_HEADER_CONFIG",
        requires = "opa_url",
        value_name = "FILE"
    )]
    pub fetch_header_config: Option<PathBuf>,

    /// Longest a fetch() request may take, redirects included, in seconds
    #[arg(long, env = "MCP_V8_FETCH_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub fetch_timeout_secs: u64,

    /// Largest fetch() response body, in bytes or with a unit (KiB, MiB)
    #[arg(long, env = "MCP_V8_FETCH_MAX_RESPONSE_BYTES", default_value = "10MiB", value_parser = parse_bytes)]
    pub fetch_max_response_bytes: u64,

    /// JSON file naming the policies of optional globals: {"fs": {"rego": "<file>",
    /// "query": "data.mcp.fs.allow"}}; with an fs entry, runs get an `fs` global
    #[arg(long, env = "MCP_V8_POLICIES_JSON", value_name = "FILE")]
    pub policies_json: Option<PathBuf>,

    /// Preload a WebAssembly module, repeatable: without imports it is instantiated
    /// for every run as the global `name` (its exports); every module is also the
    /// global `__wasm_name` (a WebAssembly.Module)
    #[arg(
        long = "wasm-module",
        env = "MCP_V8_WASM_MODULES",
        value_delimiter = ',',
        value_name = "NAME=PATH"
    )]
    pub wasm_modules: Vec<String>,

    /// JSON file of modules, merged with --wasm-module (a name twice is an error):
    /// {"name": "path" | {"url": "…", "sha256": "…"[, "s3": {"region",
    /// "access_key_id_file", "secret_access_key_file"[, "session_token_file"]}]}}
    #[arg(long, env = "MCP_V8_WASM_CONFIG", value_name = "FILE")]
    pub wasm_config: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Policies {
    fs: Option<FsPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FsPolicy {
    rego: PathBuf,
    #[serde(default = "default_fs_query")]
    query: String,
}

fn default_fs_query() -> String {
    "data.mcp.fs.allow".into()
}

impl IoArgs {
    /// Checks every flag and reads the files they name, so mistakes stop startup.
    pub fn resolve(&self, session_db_path: &Path) -> Result<IoConfig, String> {
        let cache_dir = self
            .module_cache_dir
            .clone()
            .unwrap_or_else(|| session_db_path.join("module-cache"));
        let modules =
            ModulesConfig::new(&self.module_cdn, &self.module_allow_hosts, Some(cache_dir))?;
        let fetch = self
            .opa_url
            .as_deref()
            .map(|opa| self.fetch(opa))
            .transpose()?;
        let fs = self
            .policies_json
            .as_deref()
            .map(read_policies)
            .transpose()?
            .flatten();
        let wasm = super::wasm::resolve(
            &self.wasm_modules,
            self.wasm_config.as_deref(),
            &session_db_path.join("wasm"),
        )?;
        Ok(IoConfig {
            modules,
            fetch,
            fs,
            wasm,
        })
    }

    fn fetch(&self, opa: &str) -> Result<FetchConfig, String> {
        let url = url::Url::parse(opa).map_err(|e| format!("--opa-url {opa:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("--opa-url {opa:?} must be http:// or https://"));
        }
        let policy = self.opa_fetch_policy.trim_matches('/').to_owned();
        if policy.is_empty()
            || policy
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(format!(
                "--opa-fetch-policy {:?} must be a path like mcp/fetch",
                self.opa_fetch_policy
            ));
        }
        let mut header_rules: Vec<HeaderRule> = self
            .fetch_headers
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| headers::parse_flag(s))
            .collect::<Result<_, _>>()?;
        if let Some(path) = &self.fetch_header_config {
            header_rules.extend(headers::read_config(path)?);
        }
        Ok(FetchConfig {
            opa_url: opa.trim_end_matches('/').to_owned(),
            policy,
            header_rules,
            timeout_ms: self.fetch_timeout_secs * 1000,
            max_request_bytes: MAX_FETCH_REQUEST_BYTES,
            max_response_bytes: self.fetch_max_response_bytes,
        })
    }
}

fn read_policies(path: &Path) -> Result<Option<FsConfig>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --policies-json {}: {e}", path.display()))?;
    let doc: Policies = serde_json::from_str(&text).map_err(|e| {
        format!(
            "--policies-json {} must be {{\"fs\": {{\"rego\": \"<file>\", \"query\": \"data.mcp.fs.allow\"}}}}: {e}",
            path.display()
        )
    })?;
    let Some(fs) = doc.fs else { return Ok(None) };
    let rego_path = path.parent().unwrap_or(Path::new(".")).join(&fs.rego);
    let rego = std::fs::read_to_string(&rego_path)
        .map_err(|e| format!("cannot read the fs policy {}: {e}", rego_path.display()))?;
    let config = FsConfig {
        rego_path,
        rego,
        query: fs.query,
    };
    super::fs::Policy::compile(&config)?;
    Ok(Some(config))
}

impl ModulesConfig {
    pub fn new(cdn: &str, allow: &[String], cache_dir: Option<PathBuf>) -> Result<Self, String> {
        let parsed = url::Url::parse(cdn).map_err(|e| format!("--module-cdn {cdn:?}: {e}"))?;
        let cdn_host = match (parsed.scheme(), parsed.host_str()) {
            ("http" | "https", Some(h)) => h.to_owned(),
            _ => {
                return Err(format!(
                    "--module-cdn {cdn:?} must be an http(s) URL with a host"
                ));
            }
        };
        let mut hosts = vec![HostPort {
            host: cdn_host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_ascii_lowercase(),
            port: parsed.port(),
        }];
        let given: Vec<&str> = allow
            .iter()
            .map(String::as_str)
            .filter(|s| !s.trim().is_empty())
            .collect();
        let extra = if given.is_empty() {
            DEFAULT_EXTRA_HOSTS.to_vec()
        } else {
            given
        };
        for h in extra {
            hosts.push(HostPort::parse(h).map_err(|e| format!("--module-allow-host: {e}"))?);
        }
        Ok(Self {
            cdn: cdn.trim_end_matches('/').to_owned(),
            allow: hosts,
            cache_dir,
            max_module_bytes: MAX_MODULE_BYTES,
            timeout_ms: MODULE_TIMEOUT_MS,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::Cli;

    fn resolve(args: &[&str]) -> Result<super::IoConfig, String> {
        let cli = Cli::try_parse_from([&["mcp-v8"], args].concat()).map_err(|e| e.to_string())?;
        cli.io.resolve(std::path::Path::new("/tmp/db"))
    }

    #[test]
    fn defaults_allow_the_cdn_and_deno_land_and_nothing_else_is_on() {
        let io = resolve(&[]).unwrap();
        let hosts: Vec<String> = io.modules.allow.iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["esm.sh", "deno.land"]);
        assert_eq!(
            io.modules.cache_dir.unwrap(),
            std::path::Path::new("/tmp/db/module-cache")
        );
        assert!(io.fetch.is_none() && io.fs.is_none());
        let io = resolve(&[
            "--module-cdn",
            "http://127.0.0.1:9000/",
            "--module-allow-host",
            "a.test,b.test:8443",
        ])
        .unwrap();
        let hosts: Vec<String> = io.modules.allow.iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["127.0.0.1:9000", "a.test", "b.test:8443"]);
        assert_eq!(io.modules.cdn, "http://127.0.0.1:9000");
    }

    #[test]
    fn fetch_flags_need_opa_and_are_validated() {
        for flags in [
            &["--opa-fetch-policy", "x"][..],
            &["--fetch-header", "host=a,header=h,value=v"],
        ] {
            assert!(
                resolve(flags).unwrap_err().contains("--opa-url"),
                "{flags:?}"
            );
        }
        let io = resolve(&[
            "--opa-url",
            "http://opa:8181/",
            "--fetch-header",
            "host=a.test,header=X-K,value=v",
        ])
        .unwrap();
        let fetch = io.fetch.unwrap();
        assert_eq!(
            (fetch.opa_url.as_str(), fetch.policy.as_str()),
            ("http://opa:8181", "mcp/fetch")
        );
        assert_eq!(fetch.header_rules.len(), 1);
        assert!(
            resolve(&["--opa-url", "ftp://x"])
                .unwrap_err()
                .contains("http")
        );
        assert!(resolve(&["--opa-url", "http://x", "--opa-fetch-policy", "../x"]).is_err());
    }

    #[test]
    fn the_example_policies_load() {
        let io = resolve(&["--policies-json", "../examples/policies/policies.json"]).unwrap();
        let fs = io.fs.unwrap();
        assert_eq!(fs.query, "data.mcp.fs.allow");
        assert!(fs.rego.contains("package mcp.fs"));
        assert!(
            resolve(&["--policies-json", "/nonexistent.json"])
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
