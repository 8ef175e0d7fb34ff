//! The executor pods' ServiceAccount. The executor never calls the Kubernetes API, so the
//! account has no roles and its token is not mounted.

use k8s_openapi::api::core::v1::ServiceAccount;

use crate::crd::McpV8Cluster;

use super::naming::Names;
use super::render::owned_meta;

/// The desired ServiceAccount.
pub fn render(cluster: &McpV8Cluster) -> ServiceAccount {
    ServiceAccount {
        metadata: owned_meta(cluster, &Names::of(cluster).base),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}
