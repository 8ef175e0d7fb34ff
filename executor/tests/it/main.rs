//! Integration tests of the executor: the real `mcp-v8` binary as worker processes,
//! real V8, a real directory heap store. One test binary (each links V8).

mod harness;
mod server;

mod auth;
mod cli;
mod cluster;
mod etcd_backend;
mod jwt;

mod errors;
mod globals;
mod hostile;
mod http_api;
mod pool;
mod s3;
mod semantics;
mod snapshots;
