//! Leader election against the fake API server: one of two replicas wins the Lease, the
//! other waits while it is renewed, takes over once it expires, and a stale write loses to
//! a concurrent one through the resourceVersion check.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use mcp_v8_operator::leader::{LeaseConfig, release, try_acquire_or_renew};
use serde_json::json;

use super::fixtures::*;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";

fn cfg(identity: &str) -> LeaseConfig {
    LeaseConfig {
        name: "mcp-v8-operator".into(),
        namespace: NS.into(),
        identity: identity.into(),
        duration: Duration::from_secs(15),
        renew_every: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn one_replica_leads_and_the_other_takes_over_after_expiry() {
    let h = harness().await;
    let api: Api<Lease> = Api::namespaced(h.client.clone(), NS);
    assert!(
        try_acquire_or_renew(&api, &cfg("op-a")).await.unwrap(),
        "first candidate creates the Lease"
    );
    assert!(
        !try_acquire_or_renew(&api, &cfg("op-b")).await.unwrap(),
        "second waits"
    );
    assert!(
        try_acquire_or_renew(&api, &cfg("op-a")).await.unwrap(),
        "holder renews"
    );
    let lease = h.api.get(LEASES, "mcp-v8-operator").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "op-a");

    // op-a stops renewing: backdate its renewTime past the lease duration.
    h.api.edit(LEASES, "mcp-v8-operator", |l| {
        l["spec"]["renewTime"] = json!("2020-01-01T00:00:00.000000Z");
    });
    assert!(
        try_acquire_or_renew(&api, &cfg("op-b")).await.unwrap(),
        "expired Lease is taken over"
    );
    let lease = h.api.get(LEASES, "mcp-v8-operator").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "op-b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    assert!(
        !try_acquire_or_renew(&api, &cfg("op-a")).await.unwrap(),
        "old leader does not get it back"
    );
}

#[tokio::test]
async fn a_concurrent_write_makes_the_stale_candidate_lose() {
    let h = harness().await;
    let api: Api<Lease> = Api::namespaced(h.client.clone(), NS);
    assert!(try_acquire_or_renew(&api, &cfg("op-a")).await.unwrap());
    h.api.edit(LEASES, "mcp-v8-operator", |l| {
        l["spec"]["renewTime"] = json!("2020-01-01T00:00:00.000000Z");
    });
    // op-b reads the expired Lease, but another write lands before its replace.
    h.api.fail("PUT", "/leases/mcp-v8-operator", 409, 1);
    assert!(
        !try_acquire_or_renew(&api, &cfg("op-b")).await.unwrap(),
        "conflict means someone else won"
    );
    assert_eq!(
        h.api.get(LEASES, "mcp-v8-operator").unwrap()["spec"]["holderIdentity"],
        "op-a"
    );
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once_and_only_the_holder_releases() {
    let h = harness().await;
    let api: Api<Lease> = Api::namespaced(h.client.clone(), NS);
    assert!(try_acquire_or_renew(&api, &cfg("op-a")).await.unwrap());
    release(&api, &cfg("op-b")).await.unwrap();
    assert_eq!(
        h.api.get(LEASES, "mcp-v8-operator").unwrap()["spec"]["holderIdentity"],
        "op-a",
        "a non-holder cannot release"
    );
    release(&api, &cfg("op-a")).await.unwrap();
    assert!(
        try_acquire_or_renew(&api, &cfg("op-b")).await.unwrap(),
        "no wait for expiry after a release"
    );
    assert_eq!(
        h.api.get(LEASES, "mcp-v8-operator").unwrap()["spec"]["holderIdentity"],
        "op-b"
    );
}
