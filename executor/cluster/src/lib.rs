//! Session metadata and raft replication (see issue 5); filled in by its own work.
