//! A real S3-compatible server for the signed-module tests: moto's server on a free
//! loopback port, with authentication enforced (INITIAL_NO_AUTH_ACTION_COUNT lets the
//! first requests through, which create an IAM user, its access key and an s3:* policy).
//! moto runs under a `sh` supervisor that kills it when its stdin closes, so it goes away
//! even when a test panics. The binary comes from `make tools` (MCP_V8_MOTO_SERVER or PATH).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use mcp_v8_sigv4::Credentials;
use mcp_v8_sigv4::testing;

/// Requests moto serves without authentication: CreateUser, CreateAccessKey, PutUserPolicy.
const SETUP_REQUESTS: &str = "3";

pub struct Moto {
    pub endpoint: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Drop for Moto {
    /// Closing stdin makes the supervisor kill moto and exit; killing the supervisor
    /// instead would orphan moto, so it is only the fallback.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MCP_V8_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("moto_server"))
        .find(|p| p.is_file())
        .expect("moto_server not found: run `make tools` (installs moto[server] into the venv)")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Moto {
    /// Starts moto with authentication enforced after the setup requests.
    pub fn start() -> Moto {
        let port = free_port();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & m=$!; cat >/dev/null; kill $m; wait $m"#)
            .arg(moto_binary())
            .arg(port.to_string())
            .env("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_REQUESTS)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start moto_server");
        let stdin = child.stdin.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        // A bare connect (no request) so no unauthenticated action is used up.
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto_server exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            stdin: Some(stdin),
        }
    }

    /// Sends a request signed for `service`, returning (status, body).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        service: &str,
        creds: &Credentials,
        body: Vec<u8>,
    ) -> (u16, String) {
        testing::send(&self.endpoint, method, path, service, creds, body).await
    }

    /// Creates an IAM user allowed s3:* and returns its access key (uses the setup requests).
    pub async fn user_credentials(&self) -> Credentials {
        testing::s3_user(&self.endpoint, "operator").await
    }
}
