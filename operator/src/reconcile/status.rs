//! Status conditions. The pure `cluster_conditions` turns what the operator observed into
//! Ready/Progressing/Degraded, keeping each condition's lastTransitionTime while its
//! status stays the same, so `kubectl wait` and alerting see real transitions only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// What the operator saw of the StatefulSet this reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Desired replicas (the spec).
    pub desired: i32,
    /// Pods the StatefulSet has.
    pub replicas: i32,
    /// Ready pods.
    pub ready: i32,
    /// Pods on the current revision.
    pub updated: i32,
    /// The StatefulSet controller has seen the latest StatefulSet spec.
    pub rollout_observed: bool,
    /// Reconcile failure, if any (becomes Degraded).
    pub error: Option<(String, String)>,
}

/// A condition with its fields filled.
pub fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: Time(Timestamp::now()),
    }
}

/// Replace or add `new` in `conditions`, keeping the old transition time when the status
/// did not change.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status {
                new.last_transition_time = old.last_transition_time.clone();
            }
            *old = new;
        }
        None => conditions.push(new),
    }
}

/// Ready/Progressing/Degraded for a cluster.
pub fn cluster_conditions(
    previous: &[Condition],
    seen: &Observed,
    generation: Option<i64>,
) -> Vec<Condition> {
    let mut out = previous.to_vec();
    let settled = seen.rollout_observed
        && seen.replicas == seen.desired
        && seen.updated == seen.desired
        && seen.ready == seen.desired;
    let ready = seen.ready >= seen.desired && seen.desired > 0 && seen.error.is_none();
    set_condition(
        &mut out,
        if ready {
            condition(
                "Ready",
                true,
                "AllReplicasReady",
                format!("{}/{} replicas ready", seen.ready, seen.desired),
                generation,
            )
        } else if seen.desired == 0 {
            condition(
                "Ready",
                false,
                "ScaledToZero",
                "the cluster has no replicas".into(),
                generation,
            )
        } else {
            condition(
                "Ready",
                false,
                "ReplicasNotReady",
                format!("{}/{} replicas ready", seen.ready, seen.desired),
                generation,
            )
        },
    );
    set_condition(
        &mut out,
        if settled {
            condition(
                "Progressing",
                false,
                "RolloutComplete",
                "all replicas run the current spec".into(),
                generation,
            )
        } else {
            condition(
                "Progressing",
                true,
                "RollingOut",
                format!(
                    "{} of {} replicas updated, {} running",
                    seen.updated, seen.desired, seen.replicas
                ),
                generation,
            )
        },
    );
    set_condition(
        &mut out,
        match &seen.error {
            Some((reason, message)) => {
                condition("Degraded", true, reason, message.clone(), generation)
            }
            None => condition(
                "Degraded",
                false,
                "ReconcileSucceeded",
                "the last reconcile succeeded".into(),
                generation,
            ),
        },
    );
    out
}

/// Whether `type_` is True in `conditions`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(desired: i32, ready: i32, updated: i32) -> Observed {
        Observed {
            desired,
            replicas: desired,
            ready,
            updated,
            rollout_observed: true,
            error: None,
        }
    }

    #[test]
    fn all_ready_and_updated_is_ready_and_not_progressing() {
        let c = cluster_conditions(&[], &seen(3, 3, 3), Some(2));
        assert!(is_true(&c, "Ready"));
        assert!(!is_true(&c, "Progressing"));
        assert!(!is_true(&c, "Degraded"));
        assert!(c.iter().all(|c| c.observed_generation == Some(2)));
    }

    #[test]
    fn rollout_in_progress_is_progressing() {
        let c = cluster_conditions(&[], &seen(3, 2, 1), Some(1));
        assert!(!is_true(&c, "Ready"));
        assert!(is_true(&c, "Progressing"));
        assert_eq!(
            c.iter().find(|c| c.type_ == "Ready").unwrap().reason,
            "ReplicasNotReady"
        );
    }

    #[test]
    fn errors_degrade_and_transition_times_survive_unchanged_status() {
        let mut failing = seen(3, 3, 3);
        failing.error = Some(("MissingSecret".into(), "Secret ns/x has no key `k`".into()));
        let first = cluster_conditions(&[], &failing, Some(1));
        let degraded = first
            .iter()
            .find(|c| c.type_ == "Degraded")
            .unwrap()
            .clone();
        assert_eq!(degraded.status, "True");
        assert_eq!(degraded.reason, "MissingSecret");
        let again = cluster_conditions(&first, &failing, Some(1));
        let still = again.iter().find(|c| c.type_ == "Degraded").unwrap();
        assert_eq!(still.last_transition_time, degraded.last_transition_time);
        assert_eq!(again.len(), 3);
    }
}
