//! The body of `POST /api/exec`, decoded on its own (no server types) so the fuzz target
//! in `executor/fuzz` runs this very code.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecBody {
    pub code: String,
    pub heap: Option<String>,
    pub session: Option<String>,
    pub heap_memory_max_mb: Option<u32>,
    pub execution_timeout_secs: Option<u32>,
}

/// Decodes a request body; the error is the message the client gets with a 400.
pub fn decode(body: &[u8]) -> Result<ExecBody, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid request body: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_decode_or_name_the_problem() {
        let b = decode(br#"{"code": "1", "session": "s", "heap_memory_max_mb": 8}"#).unwrap();
        assert_eq!((b.code.as_str(), b.session.as_deref()), ("1", Some("s")));
        assert!(
            decode(br#"{"code": "1", "extra": 1}"#)
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(decode(br#"{"code": "1", "heap_memory_max_mb": -1}"#).is_err());
        assert!(
            decode(b"\xff")
                .unwrap_err()
                .starts_with("invalid request body")
        );
    }
}
