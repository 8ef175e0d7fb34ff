//! The execution record of the interface contract, and the form it is stored in.

use serde::{Deserialize, Serialize};

use crate::pool::Status;

/// Status of an execution, as every transport reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl ExecStatus {
    pub const ALL: [ExecStatus; 6] = [
        ExecStatus::Queued,
        ExecStatus::Running,
        ExecStatus::Completed,
        ExecStatus::Failed,
        ExecStatus::Cancelled,
        ExecStatus::TimedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExecStatus::Queued => "queued",
            ExecStatus::Running => "running",
            ExecStatus::Completed => "completed",
            ExecStatus::Failed => "failed",
            ExecStatus::Cancelled => "cancelled",
            ExecStatus::TimedOut => "timed_out",
        }
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, ExecStatus::Queued | ExecStatus::Running)
    }

    /// Parses a status name, with an error listing the valid ones.
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown status {s:?}: use one of {}", names.join(", "))
            })
    }
}

impl From<Status> for ExecStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Completed => ExecStatus::Completed,
            Status::Failed => ExecStatus::Failed,
            Status::Cancelled => ExecStatus::Cancelled,
            Status::TimedOut => ExecStatus::TimedOut,
        }
    }
}

/// `{execution_id, status, result?, error?, heap?, started_at, completed_at?}`; `heap`
/// is always present once known to be absent (null), so "completed without a heap"
/// reads unambiguously.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub execution_id: String,
    pub status: ExecStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub heap: Option<String>,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The session the run belongs to, when it named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// A record as the registry database keeps it: the record plus what paging its output
/// and pruning old records need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub record: Record,
    /// Insertion order (the ORDER table's key).
    pub seq: u64,
    pub started_ms: u64,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub lines: u64,
    #[serde(default)]
    pub bytes: u64,
    /// Byte offset at which each output page starts.
    #[serde(default)]
    pub page_starts: Vec<u64>,
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format).unwrap_or_else(|_| now.to_string())
}

pub fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_named() {
        for s in ExecStatus::ALL {
            assert_eq!(ExecStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let e = ExecStatus::parse("done").unwrap_err();
        assert!(e.contains("timed_out"), "{e}");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z') && t.len() == 24, "{t}");
        time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).unwrap();
    }
}
