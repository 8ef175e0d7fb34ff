//! The optional NetworkPolicy: when `spec.allowedClients` is set, only those clients reach
//! the MCP port; the cluster's own pods reach each other on both ports (raft, and
//! forwarding of execution lookups), and the operator reaches the MCP port for member
//! removal and status. Egress is left alone (fetch() is governed by OPA).

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::McpV8Cluster;

use super::naming::{HTTP_PORT, Names, RAFT_PORT};
use super::render::{Settings, owned_meta};

/// Label the operator's own pods carry (set by its Helm chart and manifests).
pub const OPERATOR_POD_LABEL: (&str, &str) = ("app.kubernetes.io/name", "mcp-v8-operator");

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..NetworkPolicyPort::default()
    }
}

fn labels(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector {
        match_labels: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..LabelSelector::default()
    }
}

/// The desired NetworkPolicy, or None when clients are not restricted.
pub fn render(cluster: &McpV8Cluster, settings: &Settings) -> Option<NetworkPolicy> {
    let clients = cluster.spec.allowed_clients.as_ref()?;
    let names = Names::of(cluster);
    let own_pods = LabelSelector {
        match_labels: Some(names.selector()),
        ..LabelSelector::default()
    };
    let mut client_peers: Vec<NetworkPolicyPeer> = clients
        .iter()
        .map(|c| NetworkPolicyPeer {
            namespace_selector: c.namespace_selector.clone(),
            pod_selector: c.pod_selector.clone(),
            ..NetworkPolicyPeer::default()
        })
        .collect();
    client_peers.push(NetworkPolicyPeer {
        namespace_selector: Some(labels(&[(
            "kubernetes.io/metadata.name",
            &settings.operator_namespace,
        )])),
        pod_selector: Some(labels(&[OPERATOR_POD_LABEL])),
        ..NetworkPolicyPeer::default()
    });
    let peers = NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(own_pods.clone()),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(vec![tcp(HTTP_PORT), tcp(RAFT_PORT)]),
    };
    let clients = NetworkPolicyIngressRule {
        from: Some(client_peers),
        ports: Some(vec![tcp(HTTP_PORT)]),
    };
    Some(NetworkPolicy {
        metadata: owned_meta(cluster, &names.base),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(own_pods),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![clients, peers]),
            ..NetworkPolicySpec::default()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::testing::{cluster_from_yaml, settings};

    #[test]
    fn no_policy_without_allowed_clients() {
        let c = cluster_from_yaml("name: n\nspec: {image: i, storage: {stateless: {}}}");
        assert!(render(&c, &settings()).is_none());
    }

    #[test]
    fn clients_get_mcp_port_only_and_peers_get_raft() {
        let c = cluster_from_yaml(
            "name: n\nspec:\n  image: i\n  storage: {stateless: {}}\n  allowedClients:\n  - podSelector: {matchLabels: {role: agent}}\n",
        );
        let spec = render(&c, &settings()).unwrap().spec.unwrap();
        let rules = spec.ingress.unwrap();
        let client_rule = &rules[0];
        assert_eq!(client_rule.ports.as_ref().unwrap().len(), 1);
        assert_eq!(
            client_rule.ports.as_ref().unwrap()[0].port,
            Some(IntOrString::Int(8080))
        );
        let from = client_rule.from.as_ref().unwrap();
        assert_eq!(
            from[0]
                .pod_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()["role"],
            "agent"
        );
        let operator = from.last().unwrap();
        assert_eq!(
            operator
                .namespace_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref()
                .unwrap()["kubernetes.io/metadata.name"],
            "mcp-v8-system"
        );
        let peer_ports: Vec<_> = rules[1]
            .ports
            .as_ref()
            .unwrap()
            .iter()
            .map(|p| p.port.clone())
            .collect();
        assert!(peer_ports.contains(&Some(IntOrString::Int(7000))));
    }
}
