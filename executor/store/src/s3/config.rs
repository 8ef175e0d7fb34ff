//! `S3Config`: connection settings of the S3 backend (bucket, prefix, endpoint, timeouts,
//! retries) and building the SDK client from them plus the standard AWS chain.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Connection settings of an S3 store (`Debug` redacts the secret key).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix without slashes at either end; empty puts objects at the bucket root.
    pub prefix: String,
    /// Endpoint of an S3-compatible store; `None` uses the AWS chain (`AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    /// Region override; `None` uses the AWS chain, then `us-east-1`.
    pub region: Option<String>,
    /// Static access key and secret; `None` uses the AWS credential chain.
    pub credentials: Option<(String, String)>,
    pub connect_timeout: Duration,
    /// Limit of one HTTP attempt (a 5 MB object takes well under a second on a LAN).
    pub attempt_timeout: Duration,
    /// Limit of a whole call including retries.
    pub operation_timeout: Duration,
    pub max_attempts: u32,
    pub initial_backoff: Duration,
}

impl S3Config {
    /// Defaults for a bucket: path prefix `heaps`, 3 attempts, 2 s connect, 30 s per call.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Config {
            bucket: bucket.into(),
            prefix: "heaps".into(),
            endpoint: None,
            force_path_style: false,
            region: None,
            credentials: None,
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
        }
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Configs end up in logs; the secret must not.
        let credentials = self
            .credentials
            .as_ref()
            .map(|(key, _)| format!("{key}:<redacted>"));
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("force_path_style", &self.force_path_style)
            .field("region", &self.region)
            .field("credentials", &credentials)
            .field("connect_timeout", &self.connect_timeout)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .finish()
    }
}

impl S3Config {
    /// The SDK client for these settings; flags win over the AWS chain.
    pub(crate) async fn client(&self) -> Client {
        // rustls on ring: ring is already in the workspace and avoids aws-lc's C build.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_attempt_timeout(self.attempt_timeout)
                    .operation_timeout(self.operation_timeout)
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(self.max_attempts.max(1))
                    .with_initial_backoff(self.initial_backoff),
            );
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some((key, secret)) = &self.credentials {
            loader = loader.credentials_provider(Credentials::new(
                key,
                secret,
                None,
                None,
                "mcp-v8-store",
            ));
        }
        let shared = loader.load().await;
        let mut s3 =
            aws_sdk_s3::config::Builder::from(&shared).force_path_style(self.force_path_style);
        if shared.region().is_none() {
            // S3-compatible stores rarely care about the region, but signing needs one.
            s3 = s3.region(Region::new("us-east-1"));
        }
        Client::from_conf(s3.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let mut cfg = S3Config::new("b");
        cfg.credentials = Some(("AKIAEXAMPLE".into(), "very-secret".into()));
        let text = format!("{cfg:?}");
        assert!(
            text.contains("AKIAEXAMPLE") && !text.contains("very-secret"),
            "{text}"
        );
    }
}
