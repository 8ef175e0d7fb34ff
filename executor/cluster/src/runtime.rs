//! Opening the metadata layer from the CLI: picks the backend (local, etcd, or a raft
//! member when `--cluster-port` is set), and in cluster mode serves the cluster port
//! and starts discovery. The executor and `mcp-v8-meta` both start here.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use tracing::{info, warn};

use crate::args::{ClusterArgs, MetadataBackend};
use crate::discovery::{self, Discovery};
use crate::error::MetaError;
use crate::forward::ExecutionHost;
use crate::local::LocalStore;
use crate::raft::{RaftNode, RaftSettings, RaftStore};
use crate::store::MetaStore;
use crate::tls::{ClusterTls, TlsListener};

/// The running metadata layer.
pub struct Metadata {
    pub store: Arc<dyn MetaStore>,
    /// The raft member, in cluster mode.
    pub node: Option<Arc<RaftNode>>,
    /// Where the cluster port listens, in cluster mode.
    pub cluster_addr: Option<SocketAddr>,
}

impl Metadata {
    /// The `/meta/*` + `/cluster/*` router to mount on the HTTP port.
    pub fn meta_router(&self) -> Router {
        crate::http_api::meta_router(self.store.clone(), self.node.clone())
    }
}

/// Opens the configured backend with its data under `db_dir` (`--session-db-path`).
/// `bind` is the address the cluster port listens on; `exec` answers forwarded
/// execution queries.
pub async fn start(
    args: &ClusterArgs,
    db_dir: &Path,
    bind: IpAddr,
    exec: Option<Arc<dyn ExecutionHost>>,
) -> Result<Metadata, MetaError> {
    let tls_files = args.tls_files()?;
    let Some(port) = args.cluster_port else {
        if tls_files.is_some() {
            warn!("--cluster-tls-* are ignored without --cluster-port");
        }
        let store: Arc<dyn MetaStore> = match args.metadata_backend {
            MetadataBackend::Local => Arc::new(LocalStore::open(db_dir)?),
            MetadataBackend::Etcd => Arc::new(
                crate::etcd::EtcdStore::connect(&args.etcd_endpoints, &args.etcd_prefix).await?,
            ),
        };
        info!(backend = store.backend(), "metadata store open");
        return Ok(Metadata {
            store,
            node: None,
            cluster_addr: None,
        });
    };
    if args.metadata_backend == MetadataBackend::Etcd {
        return Err(MetaError::InvalidInput(
            "--metadata-backend etcd and --cluster-port exclude each other".into(),
        ));
    }
    if args.election_timeout_min >= args.election_timeout_max
        || args.heartbeat_interval >= args.election_timeout_min
    {
        return Err(MetaError::InvalidInput(
            "need --heartbeat-interval < --election-timeout-min < --election-timeout-max".into(),
        ));
    }
    let secret = args.read_secret()?;
    if secret.is_none() {
        warn!(
            "no --cluster-secret-file: the cluster port accepts raft RPCs from anyone who can reach it"
        );
    }
    let tls = match tls_files {
        Some(files) => {
            let tls = ClusterTls::load(files)?;
            tls.spawn_reload(crate::tls::RELOAD_EVERY);
            Some(tls)
        }
        None => None,
    };
    let settings = RaftSettings {
        name: args.node_name(),
        id: args.raft_id()?,
        advertise: args.advertise(port),
        data_dir: db_dir.join("raft"),
        secret: secret.map(Arc::from),
        tls: tls.clone(),
        heartbeat_ms: args.heartbeat_interval,
        election_min_ms: args.election_timeout_min,
        election_max_ms: args.election_timeout_max,
        snapshot_every: args.raft_snapshot_every.max(2),
    };
    let node = RaftNode::start(settings).await?;
    let addr = SocketAddr::new(bind, port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        MetaError::InvalidInput(format!("cannot listen on cluster port {addr}: {e}"))
    })?;
    let router = crate::cluster_api::cluster_router(node.clone(), exec);
    match tls {
        Some(tls) => {
            let listener = TlsListener::new(listener, tls).map_err(|e| {
                MetaError::InvalidInput(format!("cannot listen on cluster port {addr}: {e}"))
            })?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    warn!(error = %e, "cluster port stopped");
                }
            });
        }
        None => {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    warn!(error = %e, "cluster port stopped");
                }
            });
        }
    }
    let discovery = if let Some(name) = &args.peer_dns {
        Discovery::Dns {
            name: name.clone(),
            port,
            server: args.peer_dns_server,
        }
    } else if let Some(seed) = &args.join {
        Discovery::Join(seed.clone())
    } else {
        let peers = args.parsed_peers()?;
        if peers.is_empty() {
            Discovery::Alone
        } else {
            Discovery::Static(peers)
        }
    };
    info!(node_id = %args.node_name(), raft_id = node.settings.id, %addr, tls = node.settings.tls.is_some(), ?discovery, "cluster member starting");
    tokio::spawn(discovery::run(node.clone(), discovery));
    let store: Arc<dyn MetaStore> = Arc::new(RaftStore::new(node.clone()));
    Ok(Metadata {
        store,
        node: Some(node),
        cluster_addr: Some(addr),
    })
}
