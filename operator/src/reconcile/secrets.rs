//! The Secrets a cluster's pods read (auth tokens, cluster secret, S3 credentials, fetch
//! header values, signed module credentials) and a digest of the referenced keys' values.
//! The digest goes into the pod template's config hash, so changing a Secret's value rolls
//! the pods; the controller watches Secrets and maps them back to the clusters naming them.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use sha2::{Digest, Sha256};

use crate::crd::McpV8Cluster;
use crate::crd::cluster::S3Credentials;

use super::render::{ModuleBytes, ModuleInput};

fn s3_keys(creds: &S3Credentials) -> impl Iterator<Item = (String, String)> + '_ {
    [
        Some(&creds.access_key_id_key),
        Some(&creds.secret_access_key_key),
        creds.session_token_key.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|key| (creds.name.clone(), key.clone()))
}

/// (Secret name, key) of every Secret value the pods of `cluster` with `modules` read.
/// Module bytes from Secrets are left out: their verified digest is hashed already.
pub fn referenced(cluster: &McpV8Cluster, modules: &[ModuleInput]) -> BTreeSet<(String, String)> {
    let spec = &cluster.spec;
    let mut refs = BTreeSet::new();
    if let Some(auth) = &spec.auth {
        refs.insert((auth.name.clone(), auth.key.clone()));
    }
    if let Some(raft) = spec.raft.as_ref().filter(|r| r.enabled) {
        let s = &raft.cluster_secret;
        refs.insert((s.name.clone(), s.key.clone()));
    }
    if let Some(creds) = spec
        .storage
        .s3
        .as_ref()
        .and_then(|s| s.credentials_secret.as_ref())
    {
        refs.extend(s3_keys(creds));
    }
    for header in spec
        .fetch
        .iter()
        .flat_map(|f| &f.header_rules)
        .flat_map(|r| &r.headers)
    {
        if let Some(k) = &header.secret_key_ref {
            refs.insert((k.name.clone(), k.key.clone()));
        }
    }
    for m in modules {
        if let ModuleBytes::SignedS3 { credentials, .. } = &m.bytes {
            refs.extend(s3_keys(credentials));
        }
    }
    refs
}

/// Names of the Secrets the spec of `cluster` refers to (for mapping Secret watch events).
pub fn referenced_names(cluster: &McpV8Cluster) -> BTreeSet<String> {
    referenced(cluster, &[])
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// Digest over the values of `refs` in `ns` (a missing Secret or key hashes as absent, so
/// creating it later rolls the pods too). Each Secret is read once.
pub async fn digest(
    client: &Client,
    ns: &str,
    refs: &BTreeSet<(String, String)>,
) -> Result<String, kube::Error> {
    let api = Api::<Secret>::namespaced(client.clone(), ns);
    let mut secrets: BTreeMap<&str, Option<Secret>> = BTreeMap::new();
    for (name, _) in refs {
        if !secrets.contains_key(name.as_str()) {
            secrets.insert(name, api.get_opt(name).await?);
        }
    }
    let mut h = Sha256::new();
    for (name, key) in refs {
        let value = secrets
            .get(name.as_str())
            .and_then(Option::as_ref)
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get(key));
        h.update(name.as_bytes());
        h.update([0]);
        h.update(key.as_bytes());
        match value {
            Some(v) => {
                h.update([1]);
                h.update(Sha256::digest(&v.0));
            }
            None => h.update([2]),
        }
    }
    Ok(hex::encode(&h.finalize()[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::testing::cluster_from_yaml;

    #[test]
    fn every_secret_the_pods_read_is_referenced() {
        let c = cluster_from_yaml(
            "name: c\nspec:\n  image: i\n  replicas: 3\n  storage: {s3: {bucket: heaps, credentialsSecret: {name: s3, sessionTokenKey: token}}}\n  raft: {clusterSecret: {name: raft, key: secret}}\n  auth: {name: auth, key: tokens.json}\n  fetch: {opaUrl: 'http://opa:8181', headerRules: [{host: h, headers: [{name: A, secretKeyRef: {name: hdr, key: a}}, {name: B, value: v}]}]}\n",
        );
        let refs: Vec<String> = referenced(&c, &[])
            .into_iter()
            .map(|(n, k)| format!("{n}/{k}"))
            .collect();
        assert_eq!(
            refs,
            [
                "auth/tokens.json",
                "hdr/a",
                "raft/secret",
                "s3/AWS_ACCESS_KEY_ID",
                "s3/AWS_SECRET_ACCESS_KEY",
                "s3/token"
            ]
        );
        assert_eq!(
            referenced_names(&c).into_iter().collect::<Vec<_>>(),
            ["auth", "hdr", "raft", "s3"]
        );
    }
}
