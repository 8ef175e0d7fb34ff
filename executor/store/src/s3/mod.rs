//! `S3Store`: heap objects in an S3 (or S3-compatible) bucket under `<prefix>/<id>`.
//!
//! Credentials, region and endpoint come from the standard AWS chain, overridable by the
//! storage flags. Every call has connect/attempt/operation timeouts and retries with
//! backoff; when S3 is still unreachable the error is `Unavailable` (retryable), and the
//! next call simply tries again, so recovery needs no restart.

mod config;

pub use config::S3Config;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use crate::error::{StoreError, blocking};
use crate::format::{self, MAX_FINGERPRINT_LEN};
use crate::id::HeapId;
use crate::store::{HeapInfo, HeapStore, StoredHeap};

/// A heap store in an S3 bucket.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

impl S3Store {
    /// Builds the client without contacting S3 (see `check_ready`); resolving the AWS
    /// chain may still consult the environment, profile files or instance metadata.
    pub async fn connect(cfg: &S3Config) -> Result<Self, StoreError> {
        if cfg.bucket.is_empty() {
            return Err(StoreError::Config("--s3-bucket is empty".into()));
        }
        let client = cfg.client().await;
        Ok(S3Store {
            client,
            bucket: cfg.bucket.clone(),
            prefix: cfg.prefix.trim_matches('/').to_owned(),
        })
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The object key of `id`: `<prefix>/<id>`.
    pub fn key(&self, id: &HeapId) -> String {
        if self.prefix.is_empty() {
            id.as_str().to_owned()
        } else {
            format!("{}/{}", self.prefix, id)
        }
    }

    /// Maps an SDK error to a `StoreError`; `id` names the object for 404s.
    fn classify<E>(
        &self,
        op: &'static str,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
        id: Option<&HeapId>,
    ) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().unwrap_or_default().to_owned();
        let transport = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        let construction = matches!(err, SdkError::ConstructionFailure(_));
        let reason = DisplayErrorContext(err).to_string();
        if transport {
            // Nothing usable came back (refused, reset, timed out): S3 is down or
            // unreachable, and the next call may well succeed.
            return StoreError::Unavailable {
                backend: "s3",
                reason,
            };
        }
        if construction {
            return StoreError::S3 { op, reason };
        }
        match (status, code.as_str(), id) {
            (_, "NoSuchBucket", _) => StoreError::BucketMissing {
                bucket: self.bucket.clone(),
            },
            (Some(404), _, Some(id)) => StoreError::NotFound { id: id.clone() },
            // HeadBucket has no body: a bare 404 there is the bucket itself.
            (Some(404), _, None) => StoreError::BucketMissing {
                bucket: self.bucket.clone(),
            },
            (Some(401 | 403), _, _)
            | (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied", _) => {
                StoreError::AccessDenied {
                    bucket: self.bucket.clone(),
                    reason: if code.is_empty() {
                        format!("HTTP {}", status.unwrap_or_default())
                    } else {
                        code
                    },
                }
            }
            (Some(s), _, _) if s >= 500 || s == 429 => StoreError::Unavailable {
                backend: "s3",
                reason,
            },
            (_, "SlowDown" | "RequestTimeout" | "ServiceUnavailable" | "InternalError", _) => {
                StoreError::Unavailable {
                    backend: "s3",
                    reason,
                }
            }
            _ => StoreError::S3 { op, reason },
        }
    }

    async fn head(&self, id: &HeapId) -> Result<Option<u64>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) => match self.classify("HeadObject", e, Some(id)) {
                StoreError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Uploads an encoded object unless the id exists; returns whether it uploaded.
    pub(crate) async fn put_raw(&self, id: &HeapId, data: Vec<u8>) -> Result<bool, StoreError> {
        if self.head(id).await?.is_some() {
            return Ok(false);
        }
        // Two writers racing on one id upload identical content-addressed objects, so the
        // last write wins harmlessly.
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .content_type("application/octet-stream")
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| self.classify("PutObject", e, Some(id)))?;
        Ok(true)
    }

    /// Downloads an encoded object; `NotFound` if missing.
    pub(crate) async fn get_raw(&self, id: &HeapId) -> Result<Vec<u8>, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .send()
            .await
            .map_err(|e| self.classify("GetObject", e, Some(id)))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                backend: "s3",
                reason: format!("reading object {id}: {e}"),
            })?;
        Ok(body.into_bytes().to_vec())
    }
}

#[async_trait::async_trait]
impl HeapStore for S3Store {
    async fn put(&self, bytes: &[u8], fingerprint: &str) -> Result<HeapId, StoreError> {
        let bytes = bytes.to_vec();
        let fingerprint = fingerprint.to_owned();
        let (id, data) = blocking(move || format::encode(&bytes, &fingerprint)).await?;
        self.put_raw(&id, data).await?;
        Ok(id)
    }

    async fn get(&self, id: &HeapId) -> Result<StoredHeap, StoreError> {
        let data = self.get_raw(id).await?;
        let id = id.clone();
        blocking(move || format::decode(&id, &data)).await
    }

    async fn exists(&self, id: &HeapId) -> Result<bool, StoreError> {
        Ok(self.head(id).await?.is_some())
    }

    async fn delete(&self, id: &HeapId) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .send()
            .await
            .map_err(|e| self.classify("DeleteObject", e, Some(id)))?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<HeapId>, StoreError> {
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.classify("ListObjectsV2", e, None))?;
            for object in out.contents() {
                // Foreign keys under the prefix (or nested deeper) are not ours.
                if let Some(id) = object
                    .key()
                    .and_then(|k| k.strip_prefix(&prefix))
                    .and_then(|k| k.parse().ok())
                {
                    ids.push(id);
                }
            }
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        ids.sort();
        Ok(ids)
    }

    async fn stat(&self, id: &HeapId) -> Result<HeapInfo, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(id))
            .range(format!("bytes=0-{}", 16 + MAX_FINGERPRINT_LEN))
            .send()
            .await
            .map_err(|e| self.classify("GetObject", e, Some(id)))?;
        // "bytes 0-1040/123456": the total after the slash is the object size.
        let total = out
            .content_range()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|t| t.parse::<u64>().ok());
        let partial = out.content_length().unwrap_or(0).max(0) as u64;
        let head = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Unavailable {
                backend: "s3",
                reason: format!("reading object {id}: {e}"),
            })?
            .into_bytes();
        let header = format::parse_header(id, &head)?;
        Ok(HeapInfo {
            id: id.clone(),
            size: header.raw_len,
            stored_size: total.unwrap_or(partial),
            fingerprint: header.fingerprint,
            compression: header.compression.name(),
            location: "s3",
        })
    }

    fn backend(&self) -> &'static str {
        "s3"
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| self.classify("HeadBucket", e, None))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_use_the_trimmed_prefix() {
        let id = HeapId::of(b"k");
        let mut cfg = S3Config::new("b");
        cfg.region = Some("us-east-1".into());
        cfg.credentials = Some(("k".into(), "s".into()));
        cfg.prefix = "/a/b/".into();
        assert_eq!(
            S3Store::connect(&cfg).await.unwrap().key(&id),
            format!("a/b/{id}")
        );
        cfg.prefix = String::new();
        assert_eq!(S3Store::connect(&cfg).await.unwrap().key(&id), id.as_str());
        cfg.bucket = String::new();
        assert_eq!(
            S3Store::connect(&cfg).await.unwrap_err().metric_label(),
            "config"
        );
    }
}
