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
mod hostile_floods;
mod hostile_server;
mod http_api;
mod io_fetch;
mod io_fs;
mod io_modules;
mod io_servers;
mod leaks;
mod metrics;
mod overload;
mod pool;
mod s3;
mod semantics;
mod snapshots;
mod sqlite_wasm;
mod wasm;
mod wasm_s3;
