//! A real S3-compatible server for the signed-module tests: the store crate's moto
//! harness with authentication enforced (INITIAL_NO_AUTH_ACTION_COUNT lets the first
//! requests through, which create an IAM user, its access key and an s3:* policy).

use mcp_v8_sigv4::Credentials;
use mcp_v8_sigv4::testing;

/// Requests moto serves without authentication: CreateUser, CreateAccessKey, PutUserPolicy.
const SETUP_REQUESTS: &str = "3";

pub struct Moto {
    pub endpoint: String,
    _server: mcp_v8_store::testing::Moto,
}

impl Moto {
    /// Starts moto with authentication enforced after the setup requests.
    pub fn start() -> Moto {
        let server = mcp_v8_store::testing::Moto::start_with_env(&[(
            "INITIAL_NO_AUTH_ACTION_COUNT",
            SETUP_REQUESTS,
        )]);
        Moto {
            endpoint: server.endpoint(),
            _server: server,
        }
    }

    /// Creates an IAM user allowed s3:* and returns its access key (uses the setup requests).
    pub async fn user_credentials(&self) -> Credentials {
        testing::s3_user(&self.endpoint, "operator").await
    }
}
