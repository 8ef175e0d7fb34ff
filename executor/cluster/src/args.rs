//! `ClusterArgs`: the cluster and metadata flags shared by `mcp-v8` (which flattens
//! them into its CLI) and `mcp-v8-meta`; each is also settable as `MCP_V8_<FLAG>`.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::error::MetaError;
use crate::raft::{NodeId, parse_node_id};

/// Where session logs and tags live when not in cluster mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetadataBackend {
    /// redb file inside --session-db-path.
    Local,
    /// An existing etcd cluster (--etcd-endpoints).
    Etcd,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Port for raft RPCs between replicas; setting it enables cluster mode.
    #[arg(long, env = "MCP_V8_CLUSTER_PORT")]
    pub cluster_port: Option<u16>,

    /// This node's name; its trailing number is the raft id (node3 → 3). With
    /// --peer-dns and no --node-id, the pod hostname `<sts>-<ordinal>` gives raft id
    /// ordinal + 1 [default: node1].
    #[arg(long, env = "MCP_V8_NODE_ID")]
    pub node_id: Option<String>,

    /// Static members, `id@host:port` or `host:port`, comma-separated.
    #[arg(long, env = "MCP_V8_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,

    /// A member's cluster address (host:port) to join through.
    #[arg(long, env = "MCP_V8_JOIN")]
    pub join: Option<String>,

    /// host:port other members reach this node at [default: <node-id>:<cluster-port>].
    #[arg(long, env = "MCP_V8_ADVERTISE_ADDR")]
    pub advertise_addr: Option<String>,

    /// Raft heartbeat interval in milliseconds.
    #[arg(long, env = "MCP_V8_HEARTBEAT_INTERVAL", default_value_t = 100)]
    pub heartbeat_interval: u64,

    /// Minimum raft election timeout in milliseconds.
    #[arg(long, env = "MCP_V8_ELECTION_TIMEOUT_MIN", default_value_t = 300)]
    pub election_timeout_min: u64,

    /// Maximum raft election timeout in milliseconds.
    #[arg(long, env = "MCP_V8_ELECTION_TIMEOUT_MAX", default_value_t = 500)]
    pub election_timeout_max: u64,

    /// File holding the shared secret raft RPCs must carry (without it the cluster port
    /// is open to anyone who can reach it).
    #[arg(long, env = "MCP_V8_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,

    /// PEM certificate (chain) of this member for TLS on the cluster port; it must name
    /// the --advertise-addr host (DNS or IP SAN). With --cluster-tls-key and
    /// --cluster-tls-ca the cluster port serves HTTPS only, with mutual TLS.
    #[arg(long, env = "MCP_V8_CLUSTER_TLS_CERT")]
    pub cluster_tls_cert: Option<PathBuf>,

    /// PEM private key of --cluster-tls-cert.
    #[arg(long, env = "MCP_V8_CLUSTER_TLS_KEY")]
    pub cluster_tls_key: Option<PathBuf>,

    /// PEM CA bundle: peers' certificates (server and client) must chain to it; no
    /// other roots are trusted.
    #[arg(long, env = "MCP_V8_CLUSTER_TLS_CA")]
    pub cluster_tls_ca: Option<PathBuf>,

    /// Headless Service name whose A records are the peers (Kubernetes discovery).
    #[arg(long, env = "MCP_V8_PEER_DNS")]
    pub peer_dns: Option<String>,

    /// DNS server (ip:port) to resolve --peer-dns with, instead of the system's.
    #[arg(long, env = "MCP_V8_PEER_DNS_SERVER", hide = true)]
    pub peer_dns_server: Option<SocketAddr>,

    /// Build a raft snapshot and compact the log every this many entries.
    #[arg(long, env = "MCP_V8_RAFT_SNAPSHOT_EVERY", default_value_t = 1000)]
    pub raft_snapshot_every: u64,

    /// Metadata backend outside cluster mode.
    #[arg(
        long,
        env = "MCP_V8_METADATA_BACKEND",
        value_enum,
        default_value = "local"
    )]
    pub metadata_backend: MetadataBackend,

    /// etcd client URLs for --metadata-backend etcd, comma-separated.
    #[arg(long, env = "MCP_V8_ETCD_ENDPOINTS", value_delimiter = ',')]
    pub etcd_endpoints: Vec<String>,

    /// Key prefix for everything mcp-v8 stores in etcd.
    #[arg(long, env = "MCP_V8_ETCD_PREFIX", default_value = "mcp-v8/")]
    pub etcd_prefix: String,
}

/// A `--peers` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: Option<NodeId>,
    pub addr: String,
}

pub fn parse_peer(s: &str) -> Result<Peer, MetaError> {
    let s = s.trim();
    let (id, addr) = match s.split_once('@') {
        Some((id, addr)) => (Some(parse_node_id(id)?), addr),
        None => (None, s),
    };
    if !addr
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
    {
        return Err(MetaError::InvalidInput(format!(
            "peer {s:?} must be id@host:port or host:port"
        )));
    }
    Ok(Peer {
        id,
        addr: addr.to_string(),
    })
}

impl ClusterArgs {
    /// This node's name as status reports it.
    pub fn node_name(&self) -> String {
        match (&self.node_id, &self.peer_dns) {
            (Some(n), _) => n.clone(),
            (None, Some(_)) => hostname(),
            (None, None) => "node1".into(),
        }
    }

    /// The raft id: from --node-id, or from the StatefulSet hostname under --peer-dns.
    pub fn raft_id(&self) -> Result<NodeId, MetaError> {
        match (&self.node_id, &self.peer_dns) {
            (None, Some(_)) => crate::raft::types::node_id_from_hostname(&hostname()),
            _ => parse_node_id(&self.node_name()),
        }
    }

    pub fn advertise(&self, cluster_port: u16) -> String {
        self.advertise_addr
            .clone()
            .unwrap_or_else(|| format!("{}:{cluster_port}", self.node_name()))
    }

    pub fn parsed_peers(&self) -> Result<Vec<Peer>, MetaError> {
        self.peers
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| parse_peer(p))
            .collect()
    }

    /// Reads the secret file (trimmed); `None` without the flag.
    pub fn read_secret(&self) -> Result<Option<String>, MetaError> {
        let Some(path) = &self.cluster_secret_file else {
            return Ok(None);
        };
        let s = std::fs::read_to_string(path).map_err(|e| {
            MetaError::InvalidInput(format!(
                "cannot read --cluster-secret-file {}: {e}",
                path.display()
            ))
        })?;
        let s = s.trim().to_string();
        if s.is_empty() {
            return Err(MetaError::InvalidInput(format!(
                "--cluster-secret-file {} is empty",
                path.display()
            )));
        }
        Ok(Some(s))
    }
}

impl ClusterArgs {
    /// The `--cluster-tls-*` files: `None` without them, an error when only some are set.
    pub fn tls_files(&self) -> Result<Option<crate::tls::TlsFiles>, MetaError> {
        Ok(crate::tls::TlsFiles::from_flags(
            self.cluster_tls_cert.as_deref(),
            self.cluster_tls_key.as_deref(),
            self.cluster_tls_ca.as_deref(),
        )?)
    }
}

/// The pod's hostname (`HOSTNAME`, else the kernel's), short form.
fn hostname() -> String {
    let h = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    h.trim().split('.').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cluster: ClusterArgs,
    }

    #[test]
    fn defaults_match_the_original() {
        let cli = Cli::parse_from(["x"]);
        let c = cli.cluster;
        assert_eq!(c.node_name(), "node1");
        assert_eq!(c.raft_id().unwrap(), 1);
        assert_eq!(
            (
                c.heartbeat_interval,
                c.election_timeout_min,
                c.election_timeout_max
            ),
            (100, 300, 500)
        );
        assert_eq!(c.cluster_port, None);
        assert_eq!(c.advertise(7000), "node1:7000");
        assert_eq!(c.metadata_backend, MetadataBackend::Local);
    }

    #[test]
    fn peers_parse_with_and_without_ids() {
        let cli = Cli::parse_from(["x", "--peers", "node2@10.0.0.2:7000,host3:7000"]);
        let peers = cli.cluster.parsed_peers().unwrap();
        assert_eq!(
            peers[0],
            Peer {
                id: Some(2),
                addr: "10.0.0.2:7000".into()
            }
        );
        assert_eq!(
            peers[1],
            Peer {
                id: None,
                addr: "host3:7000".into()
            }
        );
        assert!(parse_peer("nohostport").is_err());
        assert!(parse_peer("bad@h:1").is_err());
    }
}
