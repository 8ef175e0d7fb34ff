//! The PodDisruptionBudget. With raft, voluntary disruptions may never take down more
//! than a minority, so a majority stays available to commit; without raft, one pod at a
//! time. A single replica gets maxUnavailable 1 so node drains are not blocked forever.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::McpV8Cluster;

use super::naming::Names;
use super::render::owned_meta;

/// The desired PodDisruptionBudget.
pub fn render(cluster: &McpV8Cluster) -> PodDisruptionBudget {
    let names = Names::of(cluster);
    let replicas = cluster.spec.replicas;
    let (min_available, max_unavailable) = if cluster.spec.raft_enabled() && replicas >= 3 {
        (Some(IntOrString::Int(replicas / 2 + 1)), None)
    } else {
        (None, Some(IntOrString::Int(1)))
    };
    PodDisruptionBudget {
        metadata: owned_meta(cluster, &names.base),
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(names.selector()),
                ..LabelSelector::default()
            }),
            min_available,
            max_unavailable,
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::testing::cluster_from_yaml;

    #[test]
    fn raft_budget_keeps_a_majority() {
        for (replicas, majority) in [(3, 2), (5, 3), (7, 4)] {
            let c = cluster_from_yaml(&format!(
                "name: r\nspec: {{image: i, replicas: {replicas}, storage: {{stateless: {{}}}}, raft: {{clusterSecret: {{name: s, key: k}}}}}}"
            ));
            let spec = render(&c).spec.unwrap();
            assert_eq!(spec.min_available, Some(IntOrString::Int(majority)));
            assert_eq!(spec.max_unavailable, None);
        }
    }

    #[test]
    fn single_replica_does_not_block_drains() {
        let c = cluster_from_yaml("name: r\nspec: {image: i, storage: {stateless: {}}}");
        let spec = render(&c).spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert_eq!(spec.min_available, None);
    }
}
