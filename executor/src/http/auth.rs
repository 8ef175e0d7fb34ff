//! Optional bearer-token authentication (`--auth-tokens-file`): a JSON object mapping
//! each token to the principal it authenticates. The file is re-read when it changes,
//! so a mounted Secret can rotate tokens without a restart. Only SHA-256 digests of the
//! tokens are kept in memory. Probes and the cluster port's own API stay open.
//! With JWT authentication on as well ([`super::jwt`]), a bearer that is not in the
//! tokens file must be a valid JWT. Tokens are never logged nor echoed back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use super::api::error_body;
use super::jwt::JwtAuth;

/// The authenticated caller, put in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

pub struct Tokens {
    path: PathBuf,
    by_digest: RwLock<HashMap<[u8; 32], String>>,
    modified: RwLock<Option<SystemTime>>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn read(path: &Path) -> Result<HashMap<[u8; 32], String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --auth-tokens-file {}: {e}", path.display()))?;
    let map: HashMap<String, String> = serde_json::from_str(&text).map_err(|e| {
        format!(
            "--auth-tokens-file {} must be a JSON object {{\"<token>\": \"<principal>\"}}: {e}",
            path.display()
        )
    })?;
    map.into_iter()
        .map(|(token, principal)| {
            mcp_v8_cluster::model::validate_name("principal", &principal)
                .map_err(|e| e.to_string())?;
            if token.len() < 16 {
                return Err(format!(
                    "a token for {principal:?} is shorter than 16 characters; use long random tokens"
                ));
            }
            Ok((digest(&token), principal))
        })
        .collect()
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Tokens {
    /// Loads the file (an error names what is wrong) and re-reads it every second
    /// when its modification time changes; a broken update keeps the previous tokens.
    pub fn watch(path: &Path) -> Result<Arc<Self>, String> {
        let tokens = Arc::new(Self {
            path: path.to_owned(),
            by_digest: RwLock::new(read(path)?),
            modified: RwLock::new(mtime(path)),
        });
        let weak = Arc::downgrade(&tokens);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(t) = weak.upgrade() else { return };
                t.reload_if_changed();
            }
        });
        Ok(tokens)
    }

    fn reload_if_changed(&self) {
        let now = mtime(&self.path);
        if now == *self.modified.read().expect("tokens mtime") {
            return;
        }
        *self.modified.write().expect("tokens mtime") = now;
        match read(&self.path) {
            Ok(map) => {
                info!(tokens = map.len(), "auth tokens reloaded");
                *self.by_digest.write().expect("tokens") = map;
            }
            Err(e) => {
                warn!(error = %e, "auth tokens file changed but is invalid; keeping the previous tokens");
            }
        }
    }

    pub fn principal(&self, token: &str) -> Option<String> {
        self.by_digest
            .read()
            .expect("tokens")
            .get(&digest(token))
            .cloned()
    }
}

/// Routes that stay open with authentication on.
fn is_open(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/cluster/")
}

/// The configured ways to authenticate; at least one is set.
pub struct Auth {
    pub tokens: Option<Arc<Tokens>>,
    pub jwt: Option<Arc<JwtAuth>>,
}

impl Auth {
    /// The principal `token` authenticates, or why it does not.
    async fn principal(&self, token: &str) -> Result<String, String> {
        if let Some(p) = self.tokens.as_ref().and_then(|t| t.principal(token)) {
            return Ok(p);
        }
        match &self.jwt {
            Some(jwt) => jwt.verify(token).await.map_err(|e| e.to_string()),
            None => Err("invalid bearer token".to_owned()),
        }
    }
}

fn unauthorized(msg: &str, challenge: &str) -> Response {
    let mut res = (StatusCode::UNAUTHORIZED, error_body(msg)).into_response();
    let v = header::HeaderValue::from_str(challenge).unwrap_or(header::HeaderValue::from_static(
        "Bearer error=\"invalid_token\"",
    ));
    res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    res
}

pub async fn layer(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    if is_open(req.uri().path()) {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(token) = presented else {
        return unauthorized(
            "authentication required: send Authorization: Bearer <token>",
            "Bearer realm=\"mcp-v8\"",
        );
    };
    match auth.principal(token).await {
        Ok(p) => {
            req.extensions_mut().insert(Principal(p));
            next.run(req).await
        }
        Err(why) => {
            debug!(reason = %why, "bearer token refused");
            // The reasons are fixed texts without quotes, safe in a quoted-string.
            unauthorized(
                &why,
                &format!(
                    "Bearer realm=\"mcp-v8\", error=\"invalid_token\", error_description=\"{why}\""
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokens.json");
        std::fs::write(&p, r#"{"short": "a"}"#).unwrap();
        assert!(read(&p).unwrap_err().contains("shorter than 16"));
        std::fs::write(&p, "[1]").unwrap();
        assert!(read(&p).unwrap_err().contains("JSON object"));
        std::fs::write(&p, r#"{"0123456789abcdef0123": "alice"}"#).unwrap();
        let map = read(&p).unwrap();
        assert_eq!(map.get(&digest("0123456789abcdef0123")).unwrap(), "alice");
        assert!(is_open("/readyz") && is_open("/cluster/status") && !is_open("/api/exec"));
    }
}
