//! Small schema types shared by both custom resources: references to keys of Secrets and
//! ConfigMaps in the resource's own namespace.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// One key of a Secret or ConfigMap in the same namespace as the resource.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    /// Name of the Secret or ConfigMap.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside it.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}
