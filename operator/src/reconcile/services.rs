//! The two Services of a cluster: a headless one giving each pod a stable DNS name for raft
//! (published before pods are ready, since a joining node is not ready until it has
//! joined), and the client Service agents connect to on port `mcp`.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::McpV8Cluster;

use super::naming::{HTTP_PORT, Names, RAFT_PORT};
use super::render::owned_meta;

fn port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port,
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        app_protocol: Some("http".into()),
        ..ServicePort::default()
    }
}

/// The headless peers Service.
pub fn headless(cluster: &McpV8Cluster) -> Service {
    let names = Names::of(cluster);
    Service {
        metadata: owned_meta(cluster, &names.headless),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(names.selector()),
            ports: Some(vec![port("mcp", HTTP_PORT), port("raft", RAFT_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The client Service.
pub fn client(cluster: &McpV8Cluster) -> Service {
    let names = Names::of(cluster);
    Service {
        metadata: owned_meta(cluster, &names.base),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(names.selector()),
            ports: Some(vec![port("mcp", HTTP_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
