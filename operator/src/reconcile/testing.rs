//! Unit-test helpers: clusters built from compact YAML, as a user would write them.

use crate::crd::McpV8Cluster;

use super::render::Settings;

/// A cluster in namespace `ns` from YAML with `name:` and `spec:` keys.
pub fn cluster_from_yaml(yaml: &str) -> McpV8Cluster {
    let doc: serde_json::Value = serde_yaml::from_str(yaml).expect("test YAML parses");
    let name = doc["name"].as_str().expect("test YAML has a name");
    let spec =
        serde_json::from_value(doc["spec"].clone()).expect("test spec matches the CRD types");
    let mut c = McpV8Cluster::new(name, spec);
    c.metadata.namespace = Some("ns".into());
    c.metadata.uid = Some(format!("uid-{name}"));
    c.metadata.generation = Some(1);
    c
}

/// Default operator settings.
pub fn settings() -> Settings {
    Settings::default()
}
