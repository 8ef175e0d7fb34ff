//! Reconciliation of both resources. The per-object files (serviceaccount, services,
//! configmap, statefulset with args and volumes, pdb, networkpolicy) are pure functions
//! from a spec to the desired object, assembled by `render`; `apply` is the thin
//! server-side-apply layer; `cluster` and `wasm_module` are the two reconcile loops.

pub mod apply;
pub mod args;
pub mod cluster;
pub mod configmap;
pub mod context;
pub mod error;
pub mod members;
pub mod module_bytes;
pub mod module_s3;
pub mod modules;
pub mod naming;
pub mod networkpolicy;
pub mod pdb;
pub mod render;
pub mod secrets;
pub mod serviceaccount;
pub mod services;
pub mod statefulset;
pub mod status;
pub mod volumes;
pub mod wasm_module;

#[cfg(test)]
pub(crate) mod testing;

pub use context::Context;
pub use error::Error;
