//! Integration tests of mcp-v8-operator: reconcile flows against an in-memory API server
//! behind kube's tower-test mock, the executor admin API and module downloads on loopback,
//! CRD freshness and CEL rules, and strict schema validation of every rendered object.

mod admin_server;
mod api_paths;
mod apiserver;
mod cluster_flows;
mod controller_flows;
mod crds;
mod endpoints;
mod fixtures;
mod leader_flows;
mod module_flows;
mod moto;
mod s3_modules;
mod secret_flows;
mod validate;
