//! Volumes, mounts, claim templates and environment of the executor pod. Every writable
//! path is a volume (the root filesystem is read-only) and every secret arrives as a
//! mounted file or an env var from a Secret, never through the ConfigMap.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EmptyDirVolumeSource, EnvVar, EnvVarSource, KeyToPath,
    ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec, SecretKeySelector,
    SecretVolumeSource, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::crd::McpV8Cluster;

use super::args::{AUTH_FILE, CLUSTER_SECRET_FILE};
use super::configmap::{
    MODULE_FILE, S3_ACCESS_KEY_FILE, S3_SECRET_KEY_FILE, S3_SESSION_TOKEN_FILE, module_dir,
};
use super::naming::{
    AUTH_DIR, CACHE_DIR, CLUSTER_SECRET_DIR, CONFIG_DIR, DATA_DIR, FETCH_SECRETS_DIR, Names,
};
use super::render::{ModuleBytes, ModuleInput};

/// Files from Secrets are readable by the pod's group (fsGroup) only.
const SECRET_MODE: i32 = 0o440;
/// `/tmp` is scratch space for the executor and V8; it never needs much.
const TMP_SIZE: &str = "256Mi";

/// What the pod spec needs from this module.
#[derive(Debug, Default)]
pub struct PodStorage {
    /// Pod volumes.
    pub volumes: Vec<Volume>,
    /// Mounts of the executor container.
    pub mounts: Vec<VolumeMount>,
    /// StatefulSet volumeClaimTemplates (the `data` volume when it must survive restarts).
    pub claims: Vec<PersistentVolumeClaim>,
}

impl PodStorage {
    fn add(&mut self, volume: Volume, path: &str) {
        self.mounts.push(VolumeMount {
            name: volume.name.clone(),
            mount_path: path.into(),
            read_only: Some(volume.empty_dir.is_none()),
            ..VolumeMount::default()
        });
        self.volumes.push(volume);
    }
}

fn empty_dir(name: &str, size: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(size.into())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn secret_volume(name: &str, secret: &str, items: Vec<(String, String)>) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            default_mode: Some(SECRET_MODE),
            items: Some(
                items
                    .into_iter()
                    .map(|(key, path)| KeyToPath {
                        key,
                        path,
                        mode: None,
                    })
                    .collect(),
            ),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn claim(size: &str, class: Option<&String>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".into()),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: class.cloned(),
            resources: Some(VolumeResourceRequirements {
                requests: Some([("storage".to_string(), Quantity(size.into()))].into()),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

/// Volumes, mounts and claims for `cluster` with `modules`.
pub fn pod_storage(cluster: &McpV8Cluster, modules: &[ModuleInput]) -> PodStorage {
    let spec = &cluster.spec;
    let names = Names::of(cluster);
    let mut out = PodStorage::default();
    out.add(empty_dir("tmp", TMP_SIZE), "/tmp");

    // The data directory must outlive the pod when it holds heaps or raft state.
    let persistent = match (
        &spec.storage.local,
        spec.raft.as_ref().filter(|r| r.enabled),
    ) {
        (Some(local), _) => Some(claim(&local.size, local.storage_class_name.as_ref())),
        (None, Some(raft)) => Some(claim(&raft.storage_size, raft.storage_class_name.as_ref())),
        (None, None) => None,
    };
    match persistent {
        Some(pvc) => {
            out.claims.push(pvc);
            out.mounts.push(VolumeMount {
                name: "data".into(),
                mount_path: DATA_DIR.into(),
                ..VolumeMount::default()
            });
        }
        None => out.add(empty_dir("data", "1Gi"), DATA_DIR),
    }
    if let Some(s3) = &spec.storage.s3 {
        out.add(empty_dir("cache", &s3.cache_size), CACHE_DIR);
    }
    out.add(
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: names.config,
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        CONFIG_DIR,
    );
    if let Some(auth) = &spec.auth {
        out.add(
            secret_volume(
                "auth",
                &auth.name,
                vec![(auth.key.clone(), AUTH_FILE.into())],
            ),
            AUTH_DIR,
        );
    }
    if let Some(raft) = spec.raft.as_ref().filter(|r| r.enabled) {
        let s = &raft.cluster_secret;
        out.add(
            secret_volume(
                "cluster-secret",
                &s.name,
                vec![(s.key.clone(), CLUSTER_SECRET_FILE.into())],
            ),
            CLUSTER_SECRET_DIR,
        );
    }
    // One volume per Secret referenced by header rules, holding only the referenced keys.
    let header_refs: BTreeSet<(String, String)> = spec
        .fetch
        .iter()
        .flat_map(|f| &f.header_rules)
        .flat_map(|r| &r.headers)
        .filter_map(|h| h.secret_key_ref.as_ref())
        .map(|k| (k.name.clone(), k.key.clone()))
        .collect();
    let secrets: BTreeSet<&String> = header_refs.iter().map(|(name, _)| name).collect();
    for (i, secret) in secrets.into_iter().enumerate() {
        let items = header_refs
            .iter()
            .filter(|(name, _)| name == secret)
            .map(|(_, key)| (key.clone(), key.clone()))
            .collect();
        out.add(
            secret_volume(&format!("fetch-{i}"), secret, items),
            &format!("{FETCH_SECRETS_DIR}/{secret}"),
        );
    }
    for (i, m) in modules.iter().enumerate() {
        let name = format!("wasm-{i}");
        let volume = match &m.bytes {
            ModuleBytes::Secret { name: secret, key } => {
                secret_volume(&name, secret, vec![(key.clone(), MODULE_FILE.into())])
            }
            ModuleBytes::ConfigMap { name: cm, key } => Volume {
                name: name.clone(),
                config_map: Some(ConfigMapVolumeSource {
                    name: cm.clone(),
                    items: Some(vec![KeyToPath {
                        key: key.clone(),
                        path: MODULE_FILE.into(),
                        mode: None,
                    }]),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            ModuleBytes::SignedS3 { credentials, .. } => {
                let mut items = vec![
                    (
                        credentials.access_key_id_key.clone(),
                        S3_ACCESS_KEY_FILE.into(),
                    ),
                    (
                        credentials.secret_access_key_key.clone(),
                        S3_SECRET_KEY_FILE.into(),
                    ),
                ];
                if let Some(key) = &credentials.session_token_key {
                    items.push((key.clone(), S3_SESSION_TOKEN_FILE.into()));
                }
                secret_volume(&name, &credentials.name, items)
            }
            ModuleBytes::Url(_) => continue,
        };
        out.add(volume, &module_dir(m));
    }
    out
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// Environment of the executor container. POD_NAME must come first: args refer to it.
pub fn env(cluster: &McpV8Cluster) -> Vec<EnvVar> {
    let mut env = vec![
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
    ];
    if let Some(s3) = &cluster.spec.storage.s3 {
        if let Some(creds) = &s3.credentials_secret {
            env.push(secret_env(
                "AWS_ACCESS_KEY_ID",
                &creds.name,
                &creds.access_key_id_key,
            ));
            env.push(secret_env(
                "AWS_SECRET_ACCESS_KEY",
                &creds.name,
                &creds.secret_access_key_key,
            ));
            if let Some(key) = &creds.session_token_key {
                env.push(secret_env("AWS_SESSION_TOKEN", &creds.name, key));
            }
        }
        if let Some(region) = &s3.region {
            env.push(EnvVar {
                name: "AWS_REGION".into(),
                value: Some(region.clone()),
                ..EnvVar::default()
            });
        }
    }
    env
}
