//! mcp-v8-operator: reconciles `McpV8Cluster` and `WasmModule` resources into mcp-v8
//! executor StatefulSets and their surroundings. `main.rs` wires the controllers to a
//! Kubernetes client; everything testable lives here.

pub mod controller;
pub mod crd;
pub mod crdgen;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod quantity;
pub mod reconcile;
