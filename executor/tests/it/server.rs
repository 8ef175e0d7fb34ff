//! A real `mcp-v8` HTTP server process on a free loopback port with its own temp dirs,
//! killed (with its workers) when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct Server {
    pub base: String,
    pub port: u16,
    child: Child,
}

pub use mcp_v8_store::testing::free_port;

impl Server {
    /// Starts a stateful server keeping its data under `dir`, plus `extra` flags.
    pub async fn start_in(dir: &Path, extra: &[&str]) -> Self {
        let mut args: Vec<String> = vec![
            "--session-db-path".into(),
            dir.join("db").display().to_string(),
            "--log".into(),
            "warn".into(),
        ];
        if !extra.contains(&"--stateless") {
            args.extend([
                "--directory-path".into(),
                dir.join("heaps").display().to_string(),
            ]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::start_with(free_port(), &args).await
    }

    /// Starts a server on `port` with exactly `args` (besides the port).
    pub async fn start_with(port: u16, args: &[String]) -> Self {
        Self::start_with_env(port, args, &[]).await
    }

    /// Like `start_with`, with extra environment for the server process.
    pub async fn start_with_env(port: u16, args: &[String], envs: &[(&str, &str)]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_mcp-v8"))
            .args(["--http-port", &port.to_string()])
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .spawn()
            .expect("mcp-v8 starts");
        let s = Server {
            base: format!("http://127.0.0.1:{port}"),
            port,
            child,
        };
        s.wait_ready().await;
        s
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/readyz", self.base)).await
                && r.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "mcp-v8 never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST /api/exec` with `body`; returns status and JSON.
    pub async fn exec(&self, body: Value) -> (u16, Value) {
        self.post("/api/exec", body).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls an execution until it is no longer queued or running.
    pub async fn wait_done(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, r) = self.get(&format!("/api/executions/{id}")).await;
            if !matches!(r["status"].as_str(), Some("queued" | "running")) {
                return r;
            }
            assert!(Instant::now() < deadline, "execution {id} never ended: {r}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts a run without waiting; returns its id.
    pub async fn start_async(&self, code: &str) -> String {
        let (status, body) = self
            .post("/api/exec?async=true", json!({ "code": code }))
            .await;
        assert_eq!(status, 202, "{body}");
        body["execution_id"].as_str().unwrap().to_owned()
    }

    /// A GET (or a POST of `body`) with an optional bearer token; the raw response.
    pub async fn request(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        let client = reqwest::Client::new();
        let mut req = match method {
            "GET" => client.get(format!("{}{path}", self.base)),
            _ => client.post(format!("{}{path}", self.base)).json(&body),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// The server's process id (its workers are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the server to stop (SIGTERM), as Kubernetes does.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for the server process to exit; its exit status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A run printing `n` lines, one every `ms` milliseconds.
pub fn slow_printer(n: u32, ms: u32) -> String {
    format!(
        "for (let i = 0; i < {n}; i++) {{ console.log('line ' + i); await new Promise(r => setTimeout(r, {ms})); }} 'done'"
    )
}
