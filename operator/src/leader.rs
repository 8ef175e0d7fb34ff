//! Leader election with a coordination.k8s.io Lease, so that with several operator
//! replicas exactly one reconciles. Writes use the Lease's resourceVersion (optimistic
//! concurrency): two candidates racing for an expired Lease cannot both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tracing::{info, warn};

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Lease object name.
    pub name: String,
    /// Namespace of the Lease (the operator's).
    pub namespace: String,
    /// This replica's identity (its pod name).
    pub identity: String,
    /// How long a holder keeps the Lease without renewing.
    pub duration: Duration,
    /// How often the holder renews (well below `duration`).
    pub renew_every: Duration,
}

/// What to do with the Lease as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Free or expired: take it.
    Acquire,
    /// Ours: renew it.
    Renew,
    /// Someone else holds it.
    Wait {
        /// Current holder.
        holder: String,
    },
}

/// Decides from the Lease spec (None when the Lease does not exist).
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Decision {
    let Some(spec) = spec else {
        return Decision::Acquire;
    };
    let Some(holder) = spec.holder_identity.as_deref().filter(|h| !h.is_empty()) else {
        return Decision::Acquire;
    };
    if holder == me {
        return Decision::Renew;
    }
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let expired = match &spec.renew_time {
        Some(MicroTime(t)) => t
            .saturating_add(SignedDuration::from_secs(seconds))
            .is_ok_and(|end| end < now),
        None => true,
    };
    if expired {
        Decision::Acquire
    } else {
        Decision::Wait {
            holder: holder.into(),
        }
    }
}

fn lease_spec(
    cfg: &LeaseConfig,
    previous: Option<&LeaseSpec>,
    now: Timestamp,
    taking_over: bool,
) -> LeaseSpec {
    let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
    LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(cfg.duration.as_secs() as i32),
        acquire_time: if taking_over {
            Some(MicroTime(now))
        } else {
            previous.and_then(|p| p.acquire_time.clone())
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(if taking_over && previous.is_some() {
            transitions + 1
        } else {
            transitions
        }),
        ..LeaseSpec::default()
    }
}

fn lost_race(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

/// One election round: true when this replica holds the Lease afterwards.
pub async fn try_acquire_or_renew(
    api: &Api<Lease>,
    cfg: &LeaseConfig,
) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let current = api.get_opt(&cfg.name).await?;
    let spec = current.as_ref().and_then(|l| l.spec.as_ref());
    let taking_over = match decide(spec, &cfg.identity, now) {
        Decision::Wait { .. } => return Ok(false),
        Decision::Acquire => true,
        Decision::Renew => false,
    };
    let result = match current {
        Some(mut lease) => {
            // replace carries the resourceVersion we read: a concurrent writer makes it 409.
            lease.spec = Some(lease_spec(cfg, lease.spec.as_ref(), now, taking_over));
            api.replace(&cfg.name, &PostParams::default(), &lease).await
        }
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(lease_spec(cfg, None, now, true)),
            };
            api.create(&PostParams::default(), &lease).await
        }
    };
    match result {
        Ok(_) => Ok(true),
        Err(e) if lost_race(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives the Lease up on a clean shutdown so the next replica need not wait for it to
/// expire. Only clears a Lease this replica still holds.
pub async fn release(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<(), kube::Error> {
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        return Ok(());
    };
    let Some(spec) = lease.spec.as_mut() else {
        return Ok(());
    };
    if spec.holder_identity.as_deref() != Some(cfg.identity.as_str()) {
        return Ok(());
    }
    spec.holder_identity = None;
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(e) if lost_race(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Blocks until this replica holds the Lease.
pub async fn acquire(api: &Api<Lease>, cfg: &LeaseConfig) {
    loop {
        match try_acquire_or_renew(api, cfg).await {
            Ok(true) => {
                info!(lease = %cfg.name, identity = %cfg.identity, "became leader");
                return;
            }
            Ok(false) => {}
            Err(e) => warn!(lease = %cfg.name, error = %e, "leader election failed; retrying"),
        }
        tokio::time::sleep(cfg.renew_every).await;
    }
}

/// Renews the Lease until a renewal has not succeeded for a whole lease duration (then
/// another replica may already lead, so this one must stop), and returns.
pub async fn keep(api: &Api<Lease>, cfg: &LeaseConfig) {
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(cfg.renew_every).await;
        match try_acquire_or_renew(api, cfg).await {
            Ok(true) => last_ok = tokio::time::Instant::now(),
            Ok(false) => {
                warn!(lease = %cfg.name, "lost the Lease to another replica");
                return;
            }
            Err(e) => warn!(lease = %cfg.name, error = %e, "could not renew the Lease"),
        }
        if last_ok.elapsed() >= cfg.duration {
            warn!(lease = %cfg.name, "Lease not renewed within its duration; stepping down");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_secs_ago: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                Timestamp::now() - SignedDuration::from_secs(renewed_secs_ago),
            )),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn free_missing_or_expired_leases_are_acquired() {
        let now = Timestamp::now();
        assert_eq!(decide(None, "me", now), Decision::Acquire);
        assert_eq!(
            decide(Some(&LeaseSpec::default()), "me", now),
            Decision::Acquire
        );
        assert_eq!(
            decide(Some(&spec("other", 60)), "me", now),
            Decision::Acquire
        );
    }

    #[test]
    fn a_live_lease_of_another_holder_is_respected_and_ours_renewed() {
        let now = Timestamp::now();
        assert_eq!(
            decide(Some(&spec("other", 3)), "me", now),
            Decision::Wait {
                holder: "other".into()
            }
        );
        assert_eq!(decide(Some(&spec("me", 3)), "me", now), Decision::Renew);
    }

    #[test]
    fn taking_over_counts_a_transition() {
        let cfg = LeaseConfig {
            name: "l".into(),
            namespace: "ns".into(),
            identity: "me".into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
        };
        let old = LeaseSpec {
            lease_transitions: Some(2),
            ..spec("other", 60)
        };
        let now = Timestamp::now();
        let taken = lease_spec(&cfg, Some(&old), now, true);
        assert_eq!(taken.lease_transitions, Some(3));
        assert_eq!(taken.holder_identity.as_deref(), Some("me"));
        let renewed = lease_spec(&cfg, Some(&taken), now, false);
        assert_eq!(renewed.lease_transitions, Some(3));
        assert_eq!(renewed.acquire_time, taken.acquire_time);
    }
}
