//! What every reconcile shares: the API client, operator settings, the executor admin
//! client, an HTTP client for module downloads, the event reporter and metrics.

use std::sync::Arc;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use crate::metrics::Metrics;

use super::members::{MemberEndpoints, Members};
use super::render::Settings;

/// Shared reconcile state.
#[derive(Clone)]
pub struct Context {
    /// Kubernetes API client.
    pub client: Client,
    /// Rendering settings.
    pub settings: Settings,
    /// Executor admin API.
    pub members: Members,
    /// Module downloads.
    pub http: reqwest::Client,
    /// Publishes Events; one recorder so repeated events are aggregated into series.
    recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

impl Context {
    /// A context reaching executors through cluster DNS.
    pub fn new(
        client: Client,
        settings: Settings,
        metrics: Arc<Metrics>,
        instance: Option<String>,
    ) -> Self {
        let endpoints = MemberEndpoints::Dns {
            domain: settings.cluster_domain.clone(),
        };
        Self::with_endpoints(client, settings, metrics, instance, endpoints)
    }

    /// A context reaching executors through `endpoints`.
    pub fn with_endpoints(
        client: Client,
        settings: Settings,
        metrics: Arc<Metrics>,
        instance: Option<String>,
        endpoints: MemberEndpoints,
    ) -> Self {
        Self {
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: "mcp-v8-operator".into(),
                    instance,
                },
            ),
            client,
            settings,
            members: Members::new(endpoints),
            http: reqwest::Client::new(),
            metrics,
        }
    }

    /// An event recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}
