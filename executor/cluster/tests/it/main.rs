//! The crate's one integration-test binary: the shared `MetaStore` suite run against
//! every backend, and real multi-process `mcp-v8-meta` clusters on loopback.

mod cluster;
mod dns;
mod etcd;
mod harness;
mod http_api;
mod local;
mod raft_single;
mod suite;
mod tls;
