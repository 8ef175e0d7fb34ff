//! The executor's command line, derived from a cluster spec. Every path the executor writes
//! is a mounted volume passed as an explicit flag, because the root filesystem is read-only.

use crate::crd::McpV8Cluster;
use crate::quantity::{QuantityError, parse_bytes};

use super::naming::{
    AUTH_DIR, CACHE_DIR, CLUSTER_SECRET_DIR, CONFIG_DIR, FETCH_HEADERS_KEY, HEAP_DIR, HTTP_PORT,
    Names, RAFT_PORT, SESSION_DB_DIR, WASM_CONFIG_KEY,
};
use super::render::Settings;

/// Share of the cache emptyDir's sizeLimit the executor may fill. The kubelet evicts a pod
/// whose emptyDir exceeds its limit, and the cache overshoots briefly while it writes a heap
/// before evicting, so a tenth is left as headroom.
const CACHE_FILL_PERCENT: u64 = 90;

/// File name of the auth tokens inside [`AUTH_DIR`].
pub const AUTH_FILE: &str = "tokens.json";
/// File name of the cluster secret inside [`CLUSTER_SECRET_DIR`].
pub const CLUSTER_SECRET_FILE: &str = "secret";

/// `--cache-max-bytes` for a cache emptyDir of `size`.
pub fn cache_max_bytes(size: &str) -> Result<u64, QuantityError> {
    Ok(parse_bytes(size)? / 100 * CACHE_FILL_PERCENT)
}

/// Arguments of the executor container. `$(POD_NAME)` is expanded by the kubelet from the
/// container's env, which is how each replica learns its own node id.
pub fn executor_args(
    cluster: &McpV8Cluster,
    settings: &Settings,
    has_modules: bool,
) -> Result<Vec<String>, QuantityError> {
    let spec = &cluster.spec;
    let names = Names::of(cluster);
    let mut args: Vec<String> = Vec::new();
    let mut flag = |name: &str, value: String| {
        args.push(format!("--{name}"));
        args.push(value);
    };
    flag("http-port", HTTP_PORT.to_string());
    flag("bind-host", "0.0.0.0".into());
    // Probes come from the kubelet with the pod IP as Host; they send Host: localhost.
    let mut hosts = names.client_hosts(&settings.cluster_domain);
    hosts.extend(["localhost".to_string(), "127.0.0.1".to_string()]);
    // The operator reaches each pod's admin API (/cluster/*) by its name under the
    // headless Service.
    hosts.push(format!(
        "*.{}",
        names.headless_fqdn(&settings.cluster_domain)
    ));
    flag("allowed-hosts", hosts.join(","));
    flag("session-db-path", SESSION_DB_DIR.into());
    flag("log-format", "json".into());
    flag(
        "heap-memory-max",
        spec.limits.heap_memory_max_mb.to_string(),
    );
    flag(
        "execution-timeout",
        spec.limits.execution_timeout_max_secs.to_string(),
    );
    if let Some(mb) = spec.limits.heap_memory_default_mb {
        flag("heap-memory-default", mb.to_string());
    }
    if let Some(secs) = spec.limits.execution_timeout_default_secs {
        flag("execution-timeout-default", secs.to_string());
    }
    if let Some(n) = spec.limits.max_concurrent_executions {
        flag("max-concurrent-executions", n.to_string());
    }
    if let Some(s3) = &spec.storage.s3 {
        flag("s3-bucket", s3.bucket.clone());
        if let Some(endpoint) = &s3.endpoint {
            flag("s3-endpoint", endpoint.clone());
        }
        if let Some(prefix) = &s3.prefix {
            flag("s3-prefix", prefix.clone());
        }
        flag("cache-dir", CACHE_DIR.into());
        flag(
            "cache-max-bytes",
            cache_max_bytes(&s3.cache_size)?.to_string(),
        );
    } else if spec.storage.local.is_some() {
        flag("directory-path", HEAP_DIR.into());
    }
    if let Some(raft) = spec.raft.as_ref().filter(|r| r.enabled) {
        let headless = names.headless_fqdn(&settings.cluster_domain);
        flag("cluster-port", RAFT_PORT.to_string());
        flag("node-id", "$(POD_NAME)".into());
        flag("peer-dns", headless.clone());
        flag(
            "advertise-addr",
            format!("$(POD_NAME).{headless}:{RAFT_PORT}"),
        );
        flag(
            "cluster-secret-file",
            format!("{CLUSTER_SECRET_DIR}/{CLUSTER_SECRET_FILE}"),
        );
        if let Some(ms) = raft.heartbeat_interval_ms {
            flag("heartbeat-interval", ms.to_string());
        }
        if let Some(ms) = raft.election_timeout_min_ms {
            flag("election-timeout-min", ms.to_string());
        }
        if let Some(ms) = raft.election_timeout_max_ms {
            flag("election-timeout-max", ms.to_string());
        }
    }
    if spec.auth.is_some() {
        flag("auth-tokens-file", format!("{AUTH_DIR}/{AUTH_FILE}"));
    }
    if has_modules {
        flag("wasm-config", format!("{CONFIG_DIR}/{WASM_CONFIG_KEY}"));
    }
    if let Some(fetch) = &spec.fetch {
        flag("opa-url", fetch.opa_url.clone());
        if !fetch.header_rules.is_empty() {
            flag(
                "fetch-header-config",
                format!("{CONFIG_DIR}/{FETCH_HEADERS_KEY}"),
            );
        }
    }
    // Flags without a value are pushed after the closure's last use.
    if spec.storage.stateless.is_some() {
        args.push("--stateless".into());
    }
    if spec.storage.s3.as_ref().is_some_and(|s| s.force_path_style) {
        args.push("--s3-force-path-style".into());
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::testing::{cluster_from_yaml, settings};

    fn value_of<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
        let i = args.iter().position(|a| a == flag)?;
        args.get(i + 1).map(String::as_str)
    }

    #[test]
    fn stateless_cluster_gets_stateless_flag_and_no_raft() {
        let c = cluster_from_yaml("name: a\nspec: {image: i, storage: {stateless: {}}}");
        let args = executor_args(&c, &settings(), false).unwrap();
        assert!(args.contains(&"--stateless".to_string()));
        assert_eq!(value_of(&args, "--session-db-path"), Some(SESSION_DB_DIR));
        assert_eq!(value_of(&args, "--http-port"), Some("8080"));
        assert!(value_of(&args, "--cluster-port").is_none());
        assert!(value_of(&args, "--directory-path").is_none());
        let hosts = value_of(&args, "--allowed-hosts").unwrap();
        assert!(
            hosts.split(',').any(|h| h == "a.ns.svc.cluster.local"),
            "{hosts}"
        );
        assert!(
            hosts
                .split(',')
                .any(|h| h.starts_with("*.") && h.ends_with(".ns.svc.cluster.local")),
            "pods under the headless Service: {hosts}"
        );
    }

    #[test]
    fn s3_raft_cluster_gets_storage_cluster_and_cache_flags() {
        let c = cluster_from_yaml(
            "name: c\nspec:\n  image: i\n  replicas: 3\n  storage:\n    s3: {bucket: heaps, endpoint: 'http://minio:9000', prefix: p/, forcePathStyle: true, cacheSize: 1000Mi}\n  raft: {clusterSecret: {name: s, key: k}, heartbeatIntervalMs: 50}\n",
        );
        let args = executor_args(&c, &settings(), true).unwrap();
        assert_eq!(value_of(&args, "--s3-bucket"), Some("heaps"));
        assert_eq!(value_of(&args, "--s3-endpoint"), Some("http://minio:9000"));
        assert!(args.contains(&"--s3-force-path-style".to_string()));
        let max: u64 = value_of(&args, "--cache-max-bytes")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            max < 1000 << 20,
            "cache budget {max} must stay below the emptyDir limit"
        );
        assert!(max >= (1000 << 20) * 8 / 10);
        assert_eq!(value_of(&args, "--node-id"), Some("$(POD_NAME)"));
        assert_eq!(
            value_of(&args, "--peer-dns"),
            Some("c-peers.ns.svc.cluster.local")
        );
        assert_eq!(
            value_of(&args, "--advertise-addr"),
            Some("$(POD_NAME).c-peers.ns.svc.cluster.local:7000")
        );
        assert_eq!(value_of(&args, "--heartbeat-interval"), Some("50"));
        assert_eq!(
            value_of(&args, "--cluster-secret-file"),
            Some("/etc/mcp-v8/cluster/secret")
        );
        assert_eq!(
            value_of(&args, "--wasm-config"),
            Some("/etc/mcp-v8/config/wasm-config.json")
        );
        assert!(!args.contains(&"--stateless".to_string()));
    }

    #[test]
    fn local_storage_uses_the_heap_directory() {
        let c = cluster_from_yaml("name: l\nspec: {image: i, storage: {local: {size: 5Gi}}}");
        let args = executor_args(&c, &settings(), false).unwrap();
        assert_eq!(value_of(&args, "--directory-path"), Some(HEAP_DIR));
        assert!(value_of(&args, "--wasm-config").is_none());
        assert!(value_of(&args, "--heap-memory-default").is_none());
        assert!(value_of(&args, "--execution-timeout-default").is_none());
    }

    #[test]
    fn limit_defaults_become_their_flags() {
        let c = cluster_from_yaml(
            "name: d\nspec: {image: i, storage: {stateless: {}}, limits: {heapMemoryMaxMb: 32, heapMemoryDefaultMb: 8, executionTimeoutMaxSecs: 120, executionTimeoutDefaultSecs: 10}}",
        );
        let args = executor_args(&c, &settings(), false).unwrap();
        assert_eq!(value_of(&args, "--heap-memory-max"), Some("32"));
        assert_eq!(value_of(&args, "--heap-memory-default"), Some("8"));
        assert_eq!(value_of(&args, "--execution-timeout"), Some("120"));
        assert_eq!(value_of(&args, "--execution-timeout-default"), Some("10"));
    }
}
