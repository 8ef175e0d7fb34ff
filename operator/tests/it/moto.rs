//! A real S3-compatible server for the signed-module tests: moto's server on a free
//! loopback port, with authentication enforced (INITIAL_NO_AUTH_ACTION_COUNT lets the
//! first requests through, which create an IAM user, its access key and an s3:* policy).
//! moto runs under a `sh` supervisor that kills it when its stdin closes, so it goes away
//! even when a test panics. The binary comes from `make tools` (MCP_V8_MOTO_SERVER or PATH).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use mcp_v8_sigv4::{self as sigv4, Credentials};
use reqwest::Url;
use sha2::{Digest, Sha256};

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

fn xml_field(body: &str, name: &str) -> String {
    let start = body
        .find(&format!("<{name}>"))
        .unwrap_or_else(|| panic!("no <{name}> in {body}"))
        + name.len()
        + 2;
    let end = body[start..].find(&format!("</{name}>")).unwrap() + start;
    body[start..end].to_string()
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
        let url = Url::parse(&format!("{}{path}", self.endpoint)).unwrap();
        let payload = hex::encode(Sha256::digest(&body));
        let headers = sigv4::sign(
            method,
            &url,
            "us-east-1",
            service,
            creds,
            &sigv4::now(),
            &payload,
        );
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), url)
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if service == "iam" {
            req = req.header("content-type", "application/x-www-form-urlencoded");
        }
        let resp = req.send().await.expect("moto answers");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }

    /// Creates an IAM user allowed s3:* and returns its access key (uses the setup requests).
    pub async fn user_credentials(&self) -> Credentials {
        let anyone = Credentials {
            access_key_id: "AKIASETUPSETUPSETUP0".into(),
            secret_access_key: "setup".into(),
            session_token: None,
        };
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let policy: String = sigv4::uri_encode(policy, false);
        let mut key = String::new();
        for form in [
            "Action=CreateUser&UserName=operator&Version=2010-05-08".to_string(),
            "Action=CreateAccessKey&UserName=operator&Version=2010-05-08".to_string(),
            format!(
                "Action=PutUserPolicy&UserName=operator&PolicyName=s3&PolicyDocument={policy}&Version=2010-05-08"
            ),
        ] {
            let (status, body) = self
                .send("POST", "/", "iam", &anyone, form.into_bytes())
                .await;
            assert_eq!(status, 200, "IAM setup failed: {body}");
            if body.contains("<SecretAccessKey>") {
                key = body;
            }
        }
        Credentials {
            access_key_id: xml_field(&key, "AccessKeyId"),
            secret_access_key: xml_field(&key, "SecretAccessKey"),
            session_token: None,
        }
    }
}
