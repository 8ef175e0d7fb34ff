//! Integration tests of `mcp-v8-store`: every backend through the public API against a
//! real S3-compatible server (moto) on loopback, and the admin CLI as operators run it.

mod cache;
mod cli;
mod data;
mod dir;
mod s3;
mod suite;
