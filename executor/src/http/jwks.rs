//! The signing keys JWTs are checked against: a JWKS document (RFC 7517) read from
//! `--jwks-file` (re-read when it changes) or fetched from `--jwks-url` (re-fetched every
//! `--jwks-refresh-secs`, and when a token names an unknown key id, at most once every
//! `--jwks-min-refresh-secs`). A load that fails keeps the last good keys and is logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use tracing::{info, warn};

/// A JWKS document larger than this is refused (real ones are a few KiB).
const MAX_JWKS_BYTES: usize = 1 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot read JWKS file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot fetch JWKS: {0}")]
    Fetch(String),
    #[error("JWKS is not a JSON object with a \"keys\" array: {0}")]
    Shape(serde_json::Error),
    #[error("JWKS has no usable signing key (RSA, EC P-256/P-384 or Ed25519 public keys)")]
    NoKeys,
}

/// The key shapes JWTs may be signed with; HMAC secrets are never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

pub struct Key {
    pub kid: Option<String>,
    kind: KeyKind,
    alg: Option<Algorithm>,
    pub key: DecodingKey,
}

impl Key {
    /// Whether this key may verify a token signed with `alg`.
    pub fn fits(&self, alg: Algorithm) -> bool {
        use Algorithm::*;
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        matches!(
            (self.kind, alg),
            (KeyKind::Rsa, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
                | (KeyKind::P256, ES256)
                | (KeyKind::P384, ES384)
                | (KeyKind::Ed25519, EdDSA)
        )
    }
}

fn usable(jwk: &Jwk) -> Option<Key> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => KeyKind::P256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => KeyKind::P384,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            KeyKind::Ed25519
        }
        _ => return None,
    };
    // A key published for another algorithm (e.g. RSA-OAEP) is not a signing key.
    let alg = match jwk.common.key_algorithm {
        Some(a) => Some(Algorithm::try_from(a).ok()?),
        None => None,
    };
    Some(Key {
        kid: jwk.common.key_id.clone(),
        kind,
        alg,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

/// The signing keys of a JWKS document; keys of other kinds or uses are skipped, so one
/// odd key does not make the whole set unusable.
pub fn parse(bytes: &[u8]) -> Result<Vec<Key>, JwksError> {
    #[derive(serde::Deserialize)]
    struct Doc {
        keys: Vec<serde_json::Value>,
    }
    let doc: Doc = serde_json::from_slice(bytes).map_err(JwksError::Shape)?;
    let keys: Vec<Key> = doc
        .keys
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
        .filter_map(|jwk| usable(&jwk))
        .collect();
    if keys.is_empty() {
        return Err(JwksError::NoKeys);
    }
    Ok(keys)
}

enum Source {
    File(PathBuf),
    Url(String),
}

pub struct Jwks {
    source: Source,
    keys: RwLock<Arc<Vec<Key>>>,
    /// When the keys were last loaded or fetched (successfully or not); the lock also
    /// makes concurrent refreshes wait for one fetch instead of each starting its own.
    last_attempt: tokio::sync::Mutex<Option<Instant>>,
    min_refresh: Duration,
    client: reqwest::Client,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Jwks {
    fn new(source: Source, min_refresh: Duration) -> Self {
        Self {
            source,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_attempt: tokio::sync::Mutex::new(None),
            min_refresh,
            client: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .expect("HTTP client"),
        }
    }

    /// Loads `path` (an error names what is wrong) and re-reads it every second when
    /// its modification time changes.
    pub fn watch_file(path: &Path) -> Result<Arc<Self>, JwksError> {
        let jwks = Arc::new(Self::new(Source::File(path.to_owned()), Duration::ZERO));
        *jwks.keys.write().expect("jwks") = Arc::new(jwks.load()?);
        let weak = Arc::downgrade(&jwks);
        let path = path.to_owned();
        tokio::spawn(async move {
            let mut seen = mtime(&path);
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(jwks) = weak.upgrade() else { return };
                let now = mtime(&path);
                if now != seen {
                    seen = now;
                    jwks.refresh().await;
                }
            }
        });
        Ok(jwks)
    }

    /// Fetches `url` now (a failure is logged; tokens get 401 until a fetch works) and
    /// again every `ttl`, or every `min_refresh` while no keys are loaded.
    pub async fn watch_url(url: &str, ttl: Duration, min_refresh: Duration) -> Arc<Self> {
        let jwks = Arc::new(Self::new(Source::Url(url.to_owned()), min_refresh));
        jwks.refresh().await;
        let weak = Arc::downgrade(&jwks);
        tokio::spawn(async move {
            loop {
                let wait = match weak.upgrade() {
                    Some(j) if j.keys().is_empty() => min_refresh,
                    Some(_) => ttl,
                    None => return,
                };
                tokio::time::sleep(wait).await;
                let Some(jwks) = weak.upgrade() else { return };
                jwks.refresh().await;
            }
        });
        jwks
    }

    pub fn keys(&self) -> Arc<Vec<Key>> {
        self.keys.read().expect("jwks").clone()
    }

    /// Re-fetches a URL source for a token naming an unknown key id, unless the last
    /// attempt was less than `min_refresh` ago; whether new keys were loaded.
    pub async fn refresh_for_unknown_kid(&self) -> bool {
        if matches!(self.source, Source::File(_)) {
            return false;
        }
        let mut last = self.last_attempt.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.min_refresh) {
            return false;
        }
        *last = Some(Instant::now());
        let loaded = self.load_now().await;
        drop(last);
        self.install(loaded)
    }

    async fn refresh(&self) -> bool {
        let mut last = self.last_attempt.lock().await;
        *last = Some(Instant::now());
        let loaded = self.load_now().await;
        drop(last);
        self.install(loaded)
    }

    async fn load_now(&self) -> Result<Vec<Key>, JwksError> {
        match &self.source {
            Source::File(_) => self.load(),
            Source::Url(url) => self.fetch(url).await,
        }
    }

    fn install(&self, loaded: Result<Vec<Key>, JwksError>) -> bool {
        match loaded {
            Ok(keys) => {
                info!(keys = keys.len(), "JWKS loaded");
                *self.keys.write().expect("jwks") = Arc::new(keys);
                true
            }
            Err(e) => {
                warn!(error = %e, "JWKS refresh failed; keeping the previous keys");
                false
            }
        }
    }

    fn load(&self) -> Result<Vec<Key>, JwksError> {
        let Source::File(path) = &self.source else {
            unreachable!("load reads a file source")
        };
        let bytes = std::fs::read(path).map_err(|source| JwksError::Read {
            path: path.clone(),
            source,
        })?;
        parse(&bytes)
    }

    async fn fetch(&self, url: &str) -> Result<Vec<Key>, JwksError> {
        let fail = |e: String| JwksError::Fetch(format!("{url}: {e}"));
        let mut res = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !res.status().is_success() {
            return Err(fail(format!("HTTP {}", res.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| fail(e.to_string()))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(fail(format!("larger than {MAX_JWKS_BYTES} bytes")));
            }
        }
        parse(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_keys_are_skipped_and_an_empty_set_is_refused() {
        let doc = serde_json::json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "use": "enc",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ok",
             "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty": "weird"}
        ]});
        let keys = parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("ok"));
        assert!(keys[0].fits(Algorithm::EdDSA) && !keys[0].fits(Algorithm::HS256));
        assert!(matches!(parse(br#"{"keys": []}"#), Err(JwksError::NoKeys)));
        assert!(matches!(parse(b"[]"), Err(JwksError::Shape(_))));
    }
}
