//! Raft type declarations and the node-id convention (`node3` → raft id 3).

use std::io::Cursor;

use crate::error::MetaError;
use crate::model::{Command, Outcome};

openraft::declare_raft_types!(
    /// The metadata group: commands are `Command`, answers are `Outcome`.
    pub TypeConfig:
        D = Command,
        R = Outcome,
);

pub type NodeId = u64;
pub type Node = openraft::BasicNode;
pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
pub type StorageError = openraft::StorageError<NodeId>;

/// The raft id of a node name: its trailing decimal number (`node3` → 3, `mcp-2` → 2).
/// Names without one are refused, since cluster mode needs a stable numeric id.
pub fn parse_node_id(name: &str) -> Result<NodeId, MetaError> {
    let digits: String = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    let digits: String = digits.chars().rev().collect();
    if digits.is_empty() {
        return Err(MetaError::InvalidInput(format!(
            "node id {name:?} has no trailing number; use a name like node1 (raft id 1)"
        )));
    }
    digits.parse().map_err(|_| {
        MetaError::InvalidInput(format!("node id {name:?}: trailing number is too large"))
    })
}

/// The raft id for a StatefulSet pod hostname `<sts>-<ordinal>`: ordinal + 1, so ordinal
/// 0 (the member that may initialise a new cluster) is raft id 1.
pub fn node_id_from_hostname(hostname: &str) -> Result<NodeId, MetaError> {
    let short = hostname.split('.').next().unwrap_or(hostname);
    let Some((_, ordinal)) = short.rsplit_once('-') else {
        return Err(MetaError::InvalidInput(format!(
            "hostname {hostname:?} is not a StatefulSet pod name <name>-<ordinal>; pass --node-id"
        )));
    };
    let ordinal: u64 = ordinal.parse().map_err(|_| {
        MetaError::InvalidInput(format!(
            "hostname {hostname:?} has no ordinal; pass --node-id"
        ))
    })?;
    Ok(ordinal + 1)
}

pub(crate) fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_come_from_trailing_numbers() {
        assert_eq!(parse_node_id("node1").unwrap(), 1);
        assert_eq!(parse_node_id("node42").unwrap(), 42);
        assert_eq!(parse_node_id("7").unwrap(), 7);
        assert!(parse_node_id("leader").is_err());
        assert!(parse_node_id("node1x").is_err());
    }

    #[test]
    fn hostnames_map_ordinal_to_id_plus_one() {
        assert_eq!(node_id_from_hostname("mcp-v8-0").unwrap(), 1);
        assert_eq!(
            node_id_from_hostname("mcp-v8-4.mcp-v8-raft.ns.svc").unwrap(),
            5
        );
        assert!(node_id_from_hostname("laptop").is_err());
    }
}
