//! The custom resources the operator owns: `McpV8Cluster` (an executor deployment) and
//! `WasmModule` (a verified WebAssembly module that clusters preload). The Rust types are
//! the single source of the CRD schemas that `crdgen` writes to `crds/`.

pub mod cluster;
pub mod cluster_status;
pub mod common;
pub mod wasm_module;

pub use cluster::{McpV8Cluster, McpV8ClusterSpec, McpV8ClusterStatus};
pub use wasm_module::{WasmModule, WasmModuleSpec, WasmModuleStatus};

/// API group of every resource here.
pub const GROUP: &str = "mcpv8.dev";
/// Served and stored version.
pub const VERSION: &str = "v1alpha1";
