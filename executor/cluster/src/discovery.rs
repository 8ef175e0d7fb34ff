//! How a member finds its cluster: static `--peers`, a `--join` seed, or the A records
//! of a headless Service (`--peer-dns`). Each runs as a background task that retries
//! until this node is a voter, and never initialises a cluster that may already exist:
//! only the lowest raft id (static peers) or raft id 1 (ordinal 0, DNS) initialises, and
//! only when it has no state and no peer answers as a member.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::Resolver;
use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use tracing::{info, warn};

use crate::args::Peer;
use crate::error::MetaError;
use crate::raft::RaftNode;
use crate::raft::rpc::{JoinRequest, NodeInfo};

const RETRY: Duration = Duration::from_millis(500);

/// The ways a node can find its peers.
#[derive(Debug, Clone)]
pub enum Discovery {
    /// Single node: initialise a one-member cluster when there is no state.
    Alone,
    Static(Vec<Peer>),
    Join(String),
    Dns {
        name: String,
        port: u16,
        server: Option<SocketAddr>,
    },
}

/// Runs discovery until this node is a voter (or forever retrying, logging why).
pub async fn run(node: Arc<RaftNode>, discovery: Discovery) {
    let mut attempt = 0u64;
    loop {
        if is_voter(&node) {
            info!(node_id = node.settings.id, "member of the cluster");
            return;
        }
        let r = match &discovery {
            Discovery::Alone => alone(&node).await,
            Discovery::Static(peers) => static_peers(&node, peers).await,
            Discovery::Join(seed) => join_via(&node, seed).await,
            Discovery::Dns { name, port, server } => dns(&node, name, *port, *server).await,
        };
        if let Err(e) = r {
            attempt += 1;
            if attempt % 10 == 1 {
                warn!(node_id = node.settings.id, error = %e, "not yet a cluster member; retrying");
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

fn is_voter(node: &RaftNode) -> bool {
    node.status().voters.contains(&node.settings.id)
}

fn own_join(node: &RaftNode) -> JoinRequest {
    JoinRequest {
        node_id: node.settings.id,
        addr: node.settings.advertise.clone(),
    }
}

async fn alone(node: &RaftNode) -> Result<(), MetaError> {
    if node.has_state()? {
        return Ok(());
    }
    node.initialize(BTreeMap::from([(
        node.settings.id,
        node.settings.advertise.clone(),
    )]))
    .await
}

/// Asks every address; returns the answers (unreachable peers are left out).
async fn ask_all(node: &RaftNode, addrs: &[String]) -> Vec<(String, NodeInfo)> {
    let calls = addrs
        .iter()
        .map(|a| async move { (a.clone(), node.peer_info(a).await) });
    futures::future::join_all(calls)
        .await
        .into_iter()
        .filter_map(|(a, r)| r.ok().map(|i| (a, i)))
        .filter(|(_, i)| i.node_id != node.settings.id)
        .collect()
}

async fn join_through_members(
    node: &RaftNode,
    answers: &[(String, NodeInfo)],
) -> Result<bool, MetaError> {
    let Some((addr, info)) = answers.iter().find(|(_, i)| i.member) else {
        return Ok(false);
    };
    if info.voters.contains(&node.settings.id) {
        // Already a voter (e.g. restarted with an empty disk): the leader catches us up.
        return Ok(true);
    }
    let reply: crate::raft::rpc::Reply<()> = node
        .client()
        .post(addr, "/raft/join", &own_join(node), Duration::from_secs(60))
        .await?;
    match reply {
        crate::raft::rpc::Reply::Ok(()) => Ok(true),
        crate::raft::rpc::Reply::Failed(e) => Err(e),
        crate::raft::rpc::Reply::NotLeader { .. } => {
            Err(MetaError::Unavailable("no leader yet".into()))
        }
    }
}

async fn static_peers(node: &RaftNode, peers: &[Peer]) -> Result<(), MetaError> {
    let others: Vec<&Peer> = peers
        .iter()
        .filter(|p| p.id != Some(node.settings.id) && p.addr != node.settings.advertise)
        .collect();
    let addrs: Vec<String> = others.iter().map(|p| p.addr.clone()).collect();
    let answers = ask_all(node, &addrs).await;
    if join_through_members(node, &answers).await? || node.has_state()? {
        return Ok(());
    }
    if answers.len() < others.len() {
        return Err(MetaError::Unavailable(format!(
            "{} of {} peers answered",
            answers.len(),
            others.len()
        )));
    }
    if answers.iter().any(|(_, i)| i.has_state) {
        return Err(MetaError::Unavailable(
            "a peer has state but no membership yet".into(),
        ));
    }
    let mut members = BTreeMap::from([(node.settings.id, node.settings.advertise.clone())]);
    for (_, i) in &answers {
        members.insert(i.node_id, i.addr.clone());
    }
    if members.keys().next() != Some(&node.settings.id) {
        return Ok(()); // the lowest id initialises; we wait to be contacted
    }
    info!(node_id = node.settings.id, members = ?members.keys().collect::<Vec<_>>(), "initialising a new cluster");
    node.initialize(members).await
}

async fn join_via(node: &RaftNode, seed: &str) -> Result<(), MetaError> {
    let info = node.peer_info(seed).await?;
    join_through_members(node, &[(seed.to_string(), info)])
        .await
        .map(drop)
}

/// Resolves `name` to its IPv4 addresses (all pods behind a headless Service).
pub async fn resolve(
    name: &str,
    server: Option<SocketAddr>,
) -> Result<Vec<std::net::IpAddr>, MetaError> {
    let mut opts = ResolverOpts::default();
    opts.ip_strategy = LookupIpStrategy::Ipv4Only;
    // Membership changes as pods come and go: never answer from a cache.
    opts.cache_size = 0;
    let builder = match server {
        Some(addr) => {
            let mut cfg = ResolverConfig::new();
            cfg.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
            Resolver::builder_with_config(cfg, TokioConnectionProvider::default())
        }
        None => Resolver::builder_tokio()
            .map_err(|e| MetaError::Unavailable(format!("system DNS config: {e}")))?,
    };
    let resolver = builder.with_options(opts).build();
    let ips = resolver
        .lookup_ip(name)
        .await
        .map_err(|e| MetaError::Unavailable(format!("DNS lookup of {name}: {e}")))?;
    Ok(ips.iter().collect())
}

async fn dns(
    node: &RaftNode,
    name: &str,
    port: u16,
    server: Option<SocketAddr>,
) -> Result<(), MetaError> {
    let ips = resolve(name, server).await?;
    let addrs: Vec<String> = ips
        .iter()
        .map(|ip| SocketAddr::new(*ip, port).to_string())
        .collect();
    let answers = ask_all(node, &addrs).await;
    if join_through_members(node, &answers).await? {
        return Ok(());
    }
    // Ordinal 0 starts a new cluster, alone, only when nobody answers as a member;
    // the others join it as it appears in DNS.
    if node.settings.id == 1 && !node.has_state()? {
        info!(
            node_id = node.settings.id,
            peers = answers.len(),
            "no member answered; initialising a new cluster"
        );
        return alone(node).await;
    }
    Err(MetaError::Unavailable(format!(
        "no member among {} DNS peers answered",
        addrs.len()
    )))
}
