//! The data the metadata layer keeps: session log entries, heap tags, the validated
//! forms of their identifiers, and the `Command`s that change them. Every backend
//! applies the same commands, so they all behave alike (and raft replicates them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::MetaError;

/// A heap's tags: an ordered string map, replaced whole by `set_tags`.
pub type Tags = BTreeMap<String, String>;

/// Longest session name, tag key or tag value accepted; keeps keys small in every backend.
pub const MAX_NAME_LEN: usize = 256;

/// Checks that `heap` is a SHA-256 in 64 lowercase hex characters before it is stored
/// anywhere (no path tricks, one spelling per heap).
pub fn validate_heap_id(heap: &str) -> Result<(), MetaError> {
    let ok = heap.len() == 64
        && heap
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(MetaError::InvalidHeapId(truncate(heap)))
    }
}

/// Checks a session name, tag key or value: non-empty, bounded, no control characters
/// (they would make log lines and etcd keys ambiguous).
pub fn validate_name(what: &str, name: &str) -> Result<(), MetaError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(MetaError::InvalidInput(format!(
            "{what} must be 1 to {MAX_NAME_LEN} bytes long"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(MetaError::InvalidInput(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}

/// Checks an owner (an authenticated principal); `None` is the anonymous namespace.
pub fn validate_owner(owner: Option<&str>) -> Result<(), MetaError> {
    match owner {
        Some(o) => validate_name("owner", o),
        None => Ok(()),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// A session log entry as a caller submits it; the store adds index and timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEntry {
    pub session: String,
    /// `None` when the run started from a fresh heap.
    pub input_heap: Option<String>,
    pub output_heap: String,
    pub code: String,
    /// The authenticated principal, `None` when authentication is off.
    #[serde(default)]
    pub owner: Option<String>,
}

impl NewEntry {
    pub fn validate(&self) -> Result<(), MetaError> {
        validate_name("session", &self.session)?;
        if let Some(h) = &self.input_heap {
            validate_heap_id(h)?;
        }
        validate_heap_id(&self.output_heap)?;
        validate_owner(self.owner.as_deref())
    }
}

/// A stored session log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEntry {
    /// Position in the session's log, from 0, gap-free.
    pub index: u64,
    pub session: String,
    pub input_heap: Option<String>,
    pub output_heap: String,
    pub code: String,
    /// RFC 3339 UTC, set by the node that accepted the write.
    pub timestamp: String,
    pub owner: Option<String>,
}

/// Which fields `list_session_snapshots` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryFields {
    pub index: bool,
    pub input_heap: bool,
    pub output_heap: bool,
    pub code: bool,
    pub timestamp: bool,
}

impl EntryFields {
    pub const ALL: EntryFields = EntryFields {
        index: true,
        input_heap: true,
        output_heap: true,
        code: true,
        timestamp: true,
    };

    /// Parses a comma-separated list among index, input_heap, output_heap, code,
    /// timestamp; `None` or an empty string selects them all.
    pub fn parse(spec: Option<&str>) -> Result<Self, MetaError> {
        let Some(spec) = spec.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Self::ALL);
        };
        let mut f = EntryFields {
            index: false,
            input_heap: false,
            output_heap: false,
            code: false,
            timestamp: false,
        };
        for name in spec.split(',').map(str::trim) {
            match name {
                "index" => f.index = true,
                "input_heap" => f.input_heap = true,
                "output_heap" => f.output_heap = true,
                "code" => f.code = true,
                "timestamp" => f.timestamp = true,
                other => {
                    return Err(MetaError::InvalidInput(format!(
                        "unknown field {:?}; choose among index, input_heap, output_heap, code, timestamp",
                        truncate(other)
                    )));
                }
            }
        }
        Ok(f)
    }

    /// The selected fields of `e` as a JSON object.
    pub fn project(&self, e: &SessionEntry) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        if self.index {
            m.insert("index".into(), e.index.into());
        }
        if self.input_heap {
            m.insert("input_heap".into(), e.input_heap.clone().into());
        }
        if self.output_heap {
            m.insert("output_heap".into(), e.output_heap.clone().into());
        }
        if self.code {
            m.insert("code".into(), e.code.clone().into());
        }
        if self.timestamp {
            m.insert("timestamp".into(), e.timestamp.clone().into());
        }
        serde_json::Value::Object(m)
    }
}

/// The current time as RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A change to the metadata. Commands are validated before they are applied, and
/// applying one is deterministic (the timestamp travels inside), so replicas agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    Append {
        entry: NewEntry,
        timestamp: String,
    },
    SetTags {
        owner: Option<String>,
        heap: String,
        tags: Tags,
    },
    DeleteTags {
        owner: Option<String>,
        heap: String,
        keys: Vec<String>,
    },
    /// Several commands applied in order as one raft entry: concurrent writes share one
    /// log entry (and its fsyncs) instead of queueing one by one.
    Batch {
        commands: Vec<Command>,
    },
}

impl Command {
    pub fn validate(&self) -> Result<(), MetaError> {
        match self {
            Command::Append { entry, .. } => entry.validate(),
            Command::SetTags { owner, heap, tags } => {
                validate_owner(owner.as_deref())?;
                validate_heap_id(heap)?;
                for (k, v) in tags {
                    validate_name("tag key", k)?;
                    validate_name("tag value", v)?;
                }
                Ok(())
            }
            Command::DeleteTags { owner, heap, keys } => {
                validate_owner(owner.as_deref())?;
                validate_heap_id(heap)?;
                keys.iter().try_for_each(|k| validate_name("tag key", k))
            }
            Command::Batch { commands } => commands.iter().try_for_each(Command::validate),
        }
    }
}

/// What applying a command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Appended {
        index: u64,
    },
    #[default]
    Done,
    /// The outcomes of a `Command::Batch`, in order.
    Batch {
        outcomes: Vec<Outcome>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn heap_ids_must_be_64_lowercase_hex() {
        assert!(validate_heap_id(H).is_ok());
        assert!(validate_heap_id(&H.to_uppercase()).is_err());
        assert!(validate_heap_id(&H[1..]).is_err());
        assert!(validate_heap_id("../../etc/passwd").is_err());
        assert!(validate_heap_id(&format!("{}g", &H[1..])).is_err());
    }

    #[test]
    fn fields_parse_and_project() {
        let f = EntryFields::parse(Some("index, code")).unwrap();
        let e = SessionEntry {
            index: 3,
            session: "s".into(),
            input_heap: None,
            output_heap: H.into(),
            code: "1+1".into(),
            timestamp: now_rfc3339(),
            owner: None,
        };
        assert_eq!(
            f.project(&e),
            serde_json::json!({"index": 3, "code": "1+1"})
        );
        assert_eq!(EntryFields::parse(None).unwrap(), EntryFields::ALL);
        let all = EntryFields::ALL.project(&e);
        assert_eq!(all["input_heap"], serde_json::Value::Null);
        let err = EntryFields::parse(Some("index,bogus")).unwrap_err();
        assert!(err.to_string().contains("bogus"));
    }

    #[test]
    fn names_are_bounded() {
        assert!(validate_name("session", "").is_err());
        assert!(validate_name("session", &"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(validate_name("session", "a\nb").is_err());
        assert!(validate_name("session", "my session/1").is_ok());
        assert!(validate_owner(Some("")).is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z'), "{t}");
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok());
    }
}
