//! Getting a WasmModule's bytes and checking them: from a ConfigMap/Secret key through the
//! API, or over HTTP(S) (URL and S3 sources, S3 signed when it has credentials) with a size cap; then the digest and a
//! full wasmparser validation, which also yields the export list shown in status.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use wasmparser::{ExternalKind, Parser, Payload, Validator};

use crate::crd::wasm_module::WasmSource;

use super::module_s3::{credentials, object_url, region, s3_error, signed_get_headers};

/// Largest module the operator downloads or reads (SQLite compiled to WASM is ~1.5 MB).
pub const MAX_MODULE_BYTES: usize = 64 << 20;

/// A module that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// sha256, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: usize,
    /// `name (kind)` of every export, in module order.
    pub exports: Vec<String>,
}

/// Why a module is not usable; shown as the Ready condition's reason and message.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The ConfigMap/Secret or its key does not exist.
    #[error("{kind} {name} has no key `{key}`: create it or fix spec.source")]
    SourceMissing {
        /// ConfigMap or Secret.
        kind: &'static str,
        /// Object name.
        name: String,
        /// Key.
        key: String,
    },
    /// The API server failed while reading the source.
    #[error("reading the module source failed ({0}); it is retried")]
    Api(#[from] kube::Error),
    /// The download failed.
    #[error("downloading {url} failed: {reason}")]
    Download {
        /// URL.
        url: String,
        /// Cause.
        reason: String,
    },
    /// The store refused the request (credentials, permissions).
    #[error(
        "{url} refused the request: {reason}; check the credentials Secret and the bucket policy"
    )]
    Denied {
        /// URL.
        url: String,
        /// The store's error code and message.
        reason: String,
    },
    /// Too large.
    #[error("the module is larger than {MAX_MODULE_BYTES} bytes; the operator refuses it")]
    TooLarge,
    /// Digest mismatch.
    #[error(
        "sha256 mismatch: spec says {expected}, the bytes hash to {actual}; update spec.source.*.sha256 if the new module is intended"
    )]
    DigestMismatch {
        /// Expected digest.
        expected: String,
        /// Actual digest.
        actual: String,
    },
    /// Not a valid WebAssembly module.
    #[error("not a valid WebAssembly module: {0}")]
    Invalid(String),
}

impl ModuleError {
    /// Bounded label for metrics, also used as the condition reason.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::SourceMissing { .. } => "SourceMissing",
            Self::Api(_) => "SourceUnavailable",
            Self::Download { .. } => "DownloadFailed",
            Self::Denied { .. } => "AccessDenied",
            Self::TooLarge => "TooLarge",
            Self::DigestMismatch { .. } => "DigestMismatch",
            Self::Invalid(_) => "InvalidModule",
        }
    }

    /// Whether retrying soon may help (transient) rather than waiting for a spec change.
    pub fn is_transient(&self) -> bool {
        // A denial may clear when the Secret is fixed; the Secret watch usually comes first.
        matches!(
            self,
            Self::Api(_) | Self::Download { .. } | Self::Denied { .. }
        )
    }
}

/// Checks `bytes` against `expected` (if any) and validates them as a module.
pub fn verify(bytes: &[u8], expected: Option<&str>) -> Result<Verified, ModuleError> {
    if bytes.len() > MAX_MODULE_BYTES {
        return Err(ModuleError::TooLarge);
    }
    let sha256 = hex::encode(Sha256::digest(bytes));
    if let Some(expected) = expected.filter(|e| *e != sha256) {
        return Err(ModuleError::DigestMismatch {
            expected: expected.into(),
            actual: sha256,
        });
    }
    Validator::new()
        .validate_all(bytes)
        .map_err(|e| ModuleError::Invalid(e.to_string()))?;
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::ExportSection(reader) =
            payload.map_err(|e| ModuleError::Invalid(e.to_string()))?
        {
            for export in reader {
                let export = export.map_err(|e| ModuleError::Invalid(e.to_string()))?;
                let kind = match export.kind {
                    ExternalKind::Func => "func",
                    ExternalKind::Table => "table",
                    ExternalKind::Memory => "memory",
                    ExternalKind::Global => "global",
                    ExternalKind::Tag => "tag",
                };
                exports.push(format!("{} ({kind})", export.name));
            }
        }
    }
    Ok(Verified {
        sha256,
        size: bytes.len(),
        exports,
    })
}

/// Downloads `url` with a timeout and the size cap, sending `headers` (a signature).
pub async fn download(
    http: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
) -> Result<Vec<u8>, ModuleError> {
    let fail = |reason: String| ModuleError::Download {
        url: url.into(),
        reason,
    };
    let mut request = http.get(url).timeout(Duration::from_secs(30));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut resp = request.send().await.map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let detail = s3_error(&body)
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        let reason = format!("HTTP {status}{detail}");
        return Err(if matches!(status.as_u16(), 401 | 403) {
            ModuleError::Denied {
                url: url.into(),
                reason,
            }
        } else {
            fail(reason)
        });
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(ModuleError::TooLarge);
        }
    }
    Ok(bytes)
}

/// Reads the module bytes of `source` in `ns`, with the digest the spec requires (if any).
pub async fn fetch(
    client: &Client,
    http: &reqwest::Client,
    ns: &str,
    source: &WasmSource,
) -> Result<(Vec<u8>, Option<String>), ModuleError> {
    if let Some(cm) = &source.config_map {
        let (name, key) = (&cm.key_ref.name, &cm.key_ref.key);
        let missing = || ModuleError::SourceMissing {
            kind: "ConfigMap",
            name: name.clone(),
            key: key.clone(),
        };
        let obj = Api::<ConfigMap>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await?
            .ok_or_else(missing)?;
        let bytes = obj
            .binary_data
            .and_then(|mut d| d.remove(key).map(|b| b.0))
            .or_else(|| {
                obj.data
                    .and_then(|mut d| d.remove(key).map(String::into_bytes))
            })
            .ok_or_else(missing)?;
        return Ok((bytes, cm.sha256.clone()));
    }
    if let Some(s) = &source.secret {
        let (name, key) = (&s.key_ref.name, &s.key_ref.key);
        let missing = || ModuleError::SourceMissing {
            kind: "Secret",
            name: name.clone(),
            key: key.clone(),
        };
        let obj = Api::<Secret>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await?
            .ok_or_else(missing)?;
        let bytes = obj
            .data
            .and_then(|mut d| d.remove(key).map(|b| b.0))
            .ok_or_else(missing)?;
        return Ok((bytes, s.sha256.clone()));
    }
    if let Some(u) = &source.url {
        return Ok((download(http, &u.url, &[]).await?, Some(u.sha256.clone())));
    }
    if let Some(s3) = &source.s3 {
        let url = object_url(s3);
        let headers = match credentials(client, ns, s3).await? {
            Some(creds) => signed_get_headers(&url, region(s3), &creds)?,
            None => Vec::new(),
        };
        return Ok((
            download(http, &url, &headers).await?,
            Some(s3.sha256.clone()),
        ));
    }
    Err(ModuleError::Invalid("spec.source names no source".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add) (memory (export "mem") 1))`
    pub(crate) const ADD_WASM: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type: (i32 i32) -> i32
        0x03, 0x02, 0x01, 0x00, // function section: one func of type 0
        0x05, 0x03, 0x01, 0x00, 0x01, // memory section: min 1 page
        0x07, 0x0d, 0x02, 0x03, b'a', b'd', b'd', 0x00, 0x00, 0x03, b'm', b'e', b'm', 0x02,
        0x00, // exports
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b, // code
    ];

    #[test]
    fn valid_module_reports_digest_size_and_exports() {
        let v = verify(ADD_WASM, None).unwrap();
        assert_eq!(v.size, ADD_WASM.len());
        assert_eq!(v.sha256, hex::encode(Sha256::digest(ADD_WASM)));
        assert_eq!(
            v.exports,
            vec!["add (func)".to_string(), "mem (memory)".to_string()]
        );
        assert!(verify(ADD_WASM, Some(&v.sha256)).is_ok());
    }

    #[test]
    fn digest_mismatch_and_garbage_are_refused_with_reasons() {
        let err = verify(ADD_WASM, Some(&"0".repeat(64))).unwrap_err();
        assert_eq!(err.metric_label(), "DigestMismatch");
        assert!(err.to_string().contains("sha256 mismatch"));
        let err = verify(b"\0asm\x01\0\0\0\x0a\x01", None).unwrap_err();
        assert_eq!(err.metric_label(), "InvalidModule");
        let err = verify(b"not wasm at all", None).unwrap_err();
        assert_eq!(err.metric_label(), "InvalidModule");
    }
}
