//! Optional mutual TLS on the cluster port (`--cluster-tls-cert/-key/-ca`). Every
//! member presents its certificate both as a server and as a client, and accepts only
//! peers whose certificate chains to the CA bundle — no web PKI roots — so the CA is
//! what admits a node, on top of the shared secret. The files are polled and reloaded
//! when they change (cert-manager rotates them in place); a broken update is logged and
//! the previous material kept.

pub mod listener;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tracing::{info, warn};

use crate::error::MetaError;

pub use listener::TlsListener;

/// How often the certificate files are checked for changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// The three PEM files of `--cluster-tls-*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca go together: {0} missing")]
    Incomplete(String),
    #[error("cannot read {flag} {path}: {source}")]
    Read {
        flag: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{flag} {path} is not valid PEM or holds no {what}: {detail}")]
    Pem {
        flag: &'static str,
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error(
        "--cluster-tls-cert {cert} and --cluster-tls-key {key} are unusable together: {detail}"
    )]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

impl From<TlsError> for MetaError {
    fn from(e: TlsError) -> Self {
        MetaError::InvalidInput(e.to_string())
    }
}

impl TlsFiles {
    /// `None` when no flag is set; an error naming the missing flags when only some are.
    pub fn from_flags(
        cert: Option<&Path>,
        key: Option<&Path>,
        ca: Option<&Path>,
    ) -> Result<Option<TlsFiles>, TlsError> {
        match (cert, key, ca) {
            (None, None, None) => Ok(None),
            (Some(c), Some(k), Some(a)) => Ok(Some(TlsFiles {
                cert: c.to_path_buf(),
                key: k.to_path_buf(),
                ca: a.to_path_buf(),
            })),
            _ => {
                let missing: Vec<&str> = [
                    (cert.is_none(), "--cluster-tls-cert"),
                    (key.is_none(), "--cluster-tls-key"),
                    (ca.is_none(), "--cluster-tls-ca"),
                ]
                .into_iter()
                .filter_map(|(m, f)| m.then_some(f))
                .collect();
                Err(TlsError::Incomplete(missing.join(", ")))
            }
        }
    }

    /// The contents of the three files (a few KB): any change means a reload. Contents,
    /// not modification times, so a rotation within the same clock tick is still seen.
    fn stamp(&self) -> Stamp {
        [&self.cert, &self.key, &self.ca]
            .map(|p| std::fs::read(p).ok())
            .to_vec()
    }
}

type Stamp = Vec<Option<Vec<u8>>>;

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        flag,
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(flag: &'static str, path: &Path, what: &'static str, e: &pem::Error) -> TlsError {
    TlsError::Pem {
        flag,
        path: path.to_path_buf(),
        what,
        detail: e.to_string(),
    }
}

fn load_certs(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(flag, path, "certificate", &e))?;
    if certs.is_empty() {
        return Err(pem_error(
            flag,
            path,
            "certificate",
            &pem::Error::NoItemsFound,
        ));
    }
    Ok(certs)
}

/// What one version of the files builds: the server side and a peer client.
struct Material {
    server: Arc<ServerConfig>,
    client: reqwest::Client,
}

fn build(files: &TlsFiles) -> Result<Material, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = load_certs("--cluster-tls-cert", &files.cert)?;
    let key_pem = read("--cluster-tls-key", &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| pem_error("--cluster-tls-key", &files.key, "private key", &e))?;
    let mut roots = RootCertStore::empty();
    for ca in load_certs("--cluster-tls-ca", &files.ca)? {
        roots.add(ca).map_err(|e| TlsError::Pem {
            flag: "--cluster-tls-ca",
            path: files.ca.clone(),
            what: "usable CA certificate",
            detail: e.to_string(),
        })?;
    }
    let roots = Arc::new(roots);
    let pair = |e: rustls::Error| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        detail: e.to_string(),
    };
    let setup = |e: rustls::Error| TlsError::Setup(e.to_string());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(setup)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(pair)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup)?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(pair)?;
    let client = crate::raft::rpc::client_builder()
        .use_preconfigured_tls(client)
        .build()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    Ok(Material {
        server: Arc::new(server),
        client,
    })
}

/// The live TLS material of a member, swapped when the files change.
pub struct ClusterTls {
    files: TlsFiles,
    current: RwLock<Arc<Material>>,
    stamp: Mutex<Stamp>,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTls")
            .field("files", &self.files)
            .finish()
    }
}

impl ClusterTls {
    /// Reads and checks the files; any problem is an error naming the file.
    pub fn load(files: TlsFiles) -> Result<Arc<ClusterTls>, TlsError> {
        let stamp = files.stamp();
        let material = build(&files)?;
        Ok(Arc::new(ClusterTls {
            files,
            current: RwLock::new(Arc::new(material)),
            stamp: Mutex::new(stamp),
        }))
    }

    fn current(&self) -> Arc<Material> {
        self.current.read().expect("tls lock").clone()
    }

    /// The server configuration new connections are accepted with.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current().server.clone()
    }

    /// An HTTPS client presenting this member's certificate and trusting only the CA.
    pub fn client(&self) -> reqwest::Client {
        self.current().client.clone()
    }

    /// Rebuilds the material if a file changed; `Ok(true)` when it was swapped.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let stamp = self.files.stamp();
        let mut last = self.stamp.lock().expect("tls stamp lock");
        if *last == stamp {
            return Ok(false);
        }
        // Remember the stamp even on failure so a half-written update is retried only
        // once it changes again, not logged every tick.
        *last = stamp;
        let material = build(&self.files)?;
        *self.current.write().expect("tls lock") = Arc::new(material);
        Ok(true)
    }

    /// Polls the files every `every` for as long as the process runs.
    pub fn spawn_reload(self: &Arc<Self>, every: Duration) {
        let tls = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(tls) = tls.upgrade() else { return };
                match tls.reload_if_changed() {
                    Ok(true) => info!("cluster TLS certificates reloaded"),
                    Ok(false) => {}
                    Err(e) => {
                        warn!(error = %e, "cluster TLS reload failed; keeping the previous certificates");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests;
