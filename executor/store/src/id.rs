//! `HeapId`: the content address of a heap snapshot (SHA-256 of its uncompressed bytes).
//!
//! Parsing accepts exactly 64 lowercase hex characters, so an id is always safe to use as
//! a file name or an object key: nothing else ever reaches a path or a key.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// Length of a heap id in characters (hex-encoded SHA-256).
pub const HEAP_ID_LEN: usize = 64;

/// Content address of a heap snapshot: 64 lowercase hex characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeapId(String);

impl HeapId {
    /// The id of `bytes`: hex SHA-256 of the uncompressed snapshot.
    pub fn of(bytes: &[u8]) -> HeapId {
        HeapId(hex::encode(Sha256::digest(bytes)))
    }

    /// The 64-character lowercase hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `s` is a well-formed id (used to skip foreign files and keys when listing).
    pub fn is_valid(s: &str) -> bool {
        s.len() == HEAP_ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}

impl FromStr for HeapId {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if HeapId::is_valid(s) {
            Ok(HeapId(s.to_owned()))
        } else {
            Err(StoreError::InvalidId { input: shorten(s) })
        }
    }
}

/// Error messages echo the rejected input; cap it so a hostile megabyte string does not
/// end up in logs.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl fmt::Display for HeapId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HeapId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeapId({})", self.0)
    }
}

impl serde::Serialize for HeapId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for HeapId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_is_sha256_hex() {
        // Known SHA-256 of "abc".
        assert_eq!(
            HeapId::of(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parses_only_64_lowercase_hex() {
        let good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(good.parse::<HeapId>().unwrap().as_str(), good);
        for bad in [
            "",
            "abc",
            &good.to_uppercase(),
            &good[..63],
            &format!("{good}0"),
            "../../../../etc/passwd/ba7816bf8f01cfea414140de5dae2223b00361a3961",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a/",
            "ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ] {
            let err = bad.parse::<HeapId>().unwrap_err();
            assert!(
                matches!(err, StoreError::InvalidId { .. }),
                "{bad:?}: {err}"
            );
            assert_eq!(err.metric_label(), "invalid_id");
        }
    }

    #[test]
    fn long_invalid_input_is_shortened_in_the_error() {
        let err = "é".repeat(10_000).parse::<HeapId>().unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
    }

    #[test]
    fn serde_round_trip_and_rejects_invalid() {
        let id = HeapId::of(b"x");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<HeapId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<HeapId>("\"nope\"").is_err());
    }
}
