//! The executor StatefulSet: stable pod names (the raft node id is the pod name), the
//! restricted security context, probes, and a config hash on the pod template so that a
//! change to anything the pods read at startup rolls them.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, HTTPGetAction, HTTPHeader,
    LocalObjectReference, PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, SeccompProfile, SecurityContext, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::McpV8Cluster;

use super::naming::{CONFIG_HASH_ANNOTATION, CONTAINER, HTTP_PORT, Names, RAFT_PORT};
use super::render::{ModuleInput, owned_meta};
use super::volumes::{env, pod_storage};

/// Unprivileged uid/gid of the executor (the distroless `nonroot` user).
const RUN_AS: i64 = 65532;

fn probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("mcp".into()),
            // The executor validates Host; the kubelet would send the pod IP.
            http_headers: Some(vec![HTTPHeader {
                name: "Host".into(),
                value: "localhost".into(),
            }]),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

fn container(
    cluster: &McpV8Cluster,
    args: Vec<String>,
    mounts: Vec<k8s_openapi::api::core::v1::VolumeMount>,
) -> Container {
    let spec = &cluster.spec;
    let mut ports = vec![ContainerPort {
        name: Some("mcp".into()),
        container_port: HTTP_PORT,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }];
    if spec.raft_enabled() {
        ports.push(ContainerPort {
            name: Some("raft".into()),
            container_port: RAFT_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        });
    }
    Container {
        name: CONTAINER.into(),
        image: Some(spec.image.clone()),
        image_pull_policy: spec.image_pull_policy.clone(),
        args: Some(args),
        env: Some(env(cluster)),
        ports: Some(ports),
        resources: spec.resources.clone(),
        volume_mounts: Some(mounts),
        startup_probe: Some(probe("/healthz", 2, 60)),
        liveness_probe: Some(probe("/healthz", 10, 3)),
        readiness_probe: Some(probe("/readyz", 5, 2)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

/// Spread replicas over nodes when the user gave no affinity: losing one node should cost
/// one raft member, not a quorum.
fn default_affinity(names: &Names) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        topology_key: "kubernetes.io/hostname".into(),
                        label_selector: Some(LabelSelector {
                            match_labels: Some(names.selector()),
                            ..LabelSelector::default()
                        }),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

/// The desired StatefulSet.
pub fn render(
    cluster: &McpV8Cluster,
    modules: &[ModuleInput],
    args: Vec<String>,
    config_hash: &str,
) -> StatefulSet {
    let spec = &cluster.spec;
    let names = Names::of(cluster);
    let overrides = spec.pod.clone().unwrap_or_default();
    let storage = pod_storage(cluster, modules);

    let mut pod_labels = overrides.labels.unwrap_or_default();
    pod_labels.extend(names.labels());
    let mut annotations: BTreeMap<String, String> = overrides.annotations.unwrap_or_default();
    annotations.insert(CONFIG_HASH_ANNOTATION.into(), config_hash.into());

    let pod = PodSpec {
        service_account_name: Some(names.base.clone()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        termination_grace_period_seconds: Some(30),
        containers: vec![container(cluster, args, storage.mounts)],
        volumes: Some(storage.volumes),
        image_pull_secrets: (!spec.image_pull_secrets.is_empty()).then(|| {
            spec.image_pull_secrets
                .iter()
                .map(|n| LocalObjectReference { name: n.clone() })
                .collect()
        }),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            fs_group: Some(RUN_AS),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                localhost_profile: None,
            }),
            ..PodSecurityContext::default()
        }),
        node_selector: overrides.node_selector,
        tolerations: overrides.tolerations,
        affinity: Some(
            overrides
                .affinity
                .unwrap_or_else(|| default_affinity(&names)),
        ),
        ..PodSpec::default()
    };

    StatefulSet {
        metadata: owned_meta(cluster, &names.base),
        spec: Some(StatefulSetSpec {
            replicas: Some(spec.replicas),
            service_name: Some(names.headless.clone()),
            // Parallel: after a full outage every member must come back at once to form a
            // quorum; ordered start-up would wait forever on pod 0's readiness.
            pod_management_policy: Some("Parallel".into()),
            selector: LabelSelector {
                match_labels: Some(names.selector()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            volume_claim_templates: (!storage.claims.is_empty()).then_some(storage.claims),
            // A removed raft member's state is obsolete (it left the membership), so its
            // claim goes with it; deleting the cluster keeps the data for recovery.
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_scaled: Some(
                        if spec.raft_enabled() {
                            "Delete"
                        } else {
                            "Retain"
                        }
                        .into(),
                    ),
                    when_deleted: Some("Retain".into()),
                },
            ),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::render::render as render_all;
    use crate::reconcile::testing::{cluster_from_yaml, settings};

    #[test]
    fn pod_is_restricted_and_every_writable_path_is_a_volume() {
        let c = cluster_from_yaml(
            "name: s\nspec:\n  image: img:1\n  replicas: 3\n  storage: {s3: {bucket: heaps, cacheSize: 2Gi}}\n  raft: {clusterSecret: {name: cs, key: secret}}\n",
        );
        let sts = render_all(&c, &[], &settings()).unwrap().statefulset;
        let spec = sts.spec.unwrap();
        let pod = spec.template.spec.unwrap();
        let ctr = &pod.containers[0];
        let sc = ctr.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop,
            Some(vec!["ALL".to_string()])
        );
        assert_eq!(
            pod.security_context.unwrap().seccomp_profile.unwrap().type_,
            "RuntimeDefault"
        );
        let mounts: Vec<&str> = ctr
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.mount_path.as_str())
            .collect();
        for path in [
            "/tmp",
            "/var/lib/mcp-v8",
            "/var/cache/mcp-v8",
            "/etc/mcp-v8/cluster",
        ] {
            assert!(mounts.contains(&path), "{path} not mounted: {mounts:?}");
        }
        let cache = pod
            .volumes
            .unwrap()
            .into_iter()
            .find(|v| v.name == "cache")
            .unwrap();
        assert_eq!(cache.empty_dir.unwrap().size_limit.unwrap().0, "2Gi");
        assert_eq!(
            spec.volume_claim_templates.unwrap()[0]
                .metadata
                .name
                .as_deref(),
            Some("data")
        );
        assert_eq!(spec.service_name.as_deref(), Some("s-peers"));
        let hash = &spec.template.metadata.unwrap().annotations.unwrap()[CONFIG_HASH_ANNOTATION];
        assert_eq!(hash.len(), 32);
    }

    #[test]
    fn config_hash_changes_with_module_digest_only_when_it_changes() {
        let c = cluster_from_yaml("name: h\nspec: {image: i, storage: {stateless: {}}}");
        let module = |sha: &str| ModuleInput {
            name: "m".into(),
            global_name: "m".into(),
            sha256: sha.into(),
            bytes: super::super::render::ModuleBytes::Url("https://x/m.wasm".into()),
        };
        let hash = |mods: &[ModuleInput]| {
            let sts = render_all(&c, mods, &settings()).unwrap().statefulset;
            sts.spec
                .unwrap()
                .template
                .metadata
                .unwrap()
                .annotations
                .unwrap()[CONFIG_HASH_ANNOTATION]
                .clone()
        };
        let a = hash(&[module(&"a".repeat(64))]);
        assert_eq!(a, hash(&[module(&"a".repeat(64))]));
        assert_ne!(a, hash(&[module(&"b".repeat(64))]));
        assert_ne!(a, hash(&[]));
    }
}
