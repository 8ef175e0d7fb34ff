//! Test support (feature `testing`): a real S3-compatible server for tests, moto's server
//! mode on a free loopback port, shared by this crate's tests and benchmark and by
//! `mcp-v8`'s end-to-end tests. Found through `MCP_V8_MOTO_SERVER` (set by mk/store.mk)
//! or `moto_server` on PATH; a missing server fails the test with instructions rather
//! than skipping.
//!
//! moto runs under a tiny `sh` supervisor that kills it when its stdin closes, so the
//! server dies with the test process even when a test panics or the process exits
//! without running destructors (the shared server lives in a static).

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::S3Config;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";

fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MCP_V8_MOTO_SERVER") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "MCP_V8_MOTO_SERVER={} does not exist: run `make tools`",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("moto_server"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "moto_server not found: run `make tools` (installs moto[server] into the venv), \
                 or set MCP_V8_MOTO_SERVER to its path"
            )
        })
}

/// A free TCP port on 127.0.0.1; see [`free_port_on`].
pub fn free_port() -> u16 {
    free_port_on(Ipv4Addr::LOCALHOST)
}

/// A free TCP port on `ip` (bound then released, for a process to bind right after),
/// never one this process was given before: the kernel may hand a just-released port
/// out again, and a test that asks for a node's HTTP and cluster ports in a row then
/// gets one port twice and the node fails to start.
pub fn free_port_on(ip: Ipv4Addr) -> u16 {
    static GIVEN: Mutex<BTreeSet<(Ipv4Addr, u16)>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if given.insert((ip, port)) {
            return port;
        }
    }
}

/// A running moto server; stopped on drop.
pub struct Moto {
    pub port: u16,
    env: Vec<(String, String)>,
    child: Option<(Child, ChildStdin)>,
}

impl Moto {
    /// Starts a server on a free port.
    pub fn start() -> Moto {
        Moto::start_with_env(&[])
    }

    /// Starts a server whose process gets extra environment (e.g. moto's auth switch).
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let mut moto = Moto {
            port: free_port(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
        };
        moto.resume();
        moto
    }

    /// The one server most tests share (each test uses its own bucket).
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (S3 "down"); its in-memory buckets are gone afterwards.
    pub fn stop(&mut self) {
        let Some((mut child, stdin)) = self.child.take() else {
            return;
        };
        drop(stdin);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        // The port is closed once moto is gone; wait so callers see a refused connection.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// (Re)starts the server on the same port.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "moto already running");
        let bin = moto_binary();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & m=$!; cat >/dev/null; kill $m; wait $m"#)
            .arg(&bin)
            .arg(self.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdin = child.stdin.take().unwrap();
        self.child = Some((child, stdin));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                // An HTTP answer, not just an open socket, means moto is serving.
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = "GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut buf = [0u8; 12];
                    if std::io::Read::read(&mut s, &mut buf).is_ok_and(|n| n > 0)
                        && buf.starts_with(b"HTTP/")
                    {
                        return;
                    }
                }
            }
            if let Some((child, _)) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "moto_server exited before serving ({status}); is port {} taken?",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {} within 60 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A store config for `bucket` on this server, with short timeouts so "S3 down"
    /// tests fail fast.
    pub fn config(&self, bucket: &str) -> S3Config {
        let mut c = S3Config::new(bucket);
        c.endpoint = Some(self.endpoint());
        c.force_path_style = true;
        c.region = Some("us-east-1".into());
        c.credentials = Some((ACCESS_KEY.into(), SECRET_KEY.into()));
        c.connect_timeout = Duration::from_secs(1);
        c.attempt_timeout = Duration::from_secs(5);
        c.operation_timeout = Duration::from_secs(10);
        c.max_attempts = 2;
        c.initial_backoff = Duration::from_millis(20);
        c
    }

    /// A raw SDK client, to create buckets and tamper with objects behind the store's back.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .force_path_style(true)
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Creates a bucket with a name unique to this test process.
    pub async fn bucket(&self, name: &str) -> String {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let bucket = format!(
            "{name}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        self.create_bucket(&bucket).await;
        bucket
    }

    pub async fn create_bucket(&self, bucket: &str) {
        self.client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("create bucket");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}
