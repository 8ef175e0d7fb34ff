//! JWT authentication (`--jwks-url`, `--jwks-file`) on a real server: tokens signed here
//! with the test keys in tests/fixtures/jwt, the JWKS served over loopback HTTP by the
//! test itself. Every failed check is a 401 naming the check; principals (the `sub`
//! claim) are isolated; rotated keys are picked up; probes stay open.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::server::Server;

const ISS: &str = "https://issuer.test";
const AUD: &str = "mcp-v8";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A test signing key and the key id it is published under.
struct Signer {
    kid: &'static str,
    alg: Algorithm,
    key: EncodingKey,
}

fn signer(kid: &'static str, alg: Algorithm, file: &str) -> Signer {
    let pem = fixture(file);
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
        _ => EncodingKey::from_rsa_pem(&pem),
    }
    .unwrap();
    Signer { kid, alg, key }
}

impl Signer {
    fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.to_owned());
        jwk
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }

    /// Signs with this key but names `kid` in the header.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

fn jwks(signers: &[&Signer]) -> String {
    serde_json::to_string(&JwkSet {
        keys: signers.iter().map(|s| s.jwk()).collect(),
    })
    .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sub: &str) -> Value {
    json!({ "sub": sub, "iss": ISS, "aud": AUD, "exp": now() + 600, "iat": now() })
}

/// A JWKS endpoint on a loopback port: what it serves can change, and it counts fetches.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
    hits: Arc<Mutex<u32>>,
}

async fn serve_jwks(body: String) -> JwksServer {
    let body = Arc::new(Mutex::new(body));
    let hits = Arc::new(Mutex::new(0));
    let (b, h) = (body.clone(), hits.clone());
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (b, h) = (b.clone(), h.clone());
            async move {
                *h.lock().unwrap() += 1;
                let text = b.lock().unwrap().clone();
                ([("content-type", "application/json")], text)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    JwksServer { url, body, hits }
}

async fn call(
    s: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let r = s.request(token, method, path, body).await;
    let status = r.status().as_u16();
    if status == 401 && token.is_some() {
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A 401 whose error names `why` and does not echo the token.
async fn refused(s: &Server, token: &str, why: &str) {
    let (status, body) = call(s, Some(token), "POST", "/api/exec", json!({"code": "1"})).await;
    assert_eq!(status, 401, "{why}: {body}");
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains(why), "expected {why:?} in {msg:?}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        signature.is_empty() || !msg.contains(signature),
        "the token is echoed: {msg}"
    );
}

fn unsigned(header: &Value, claims: &Value) -> String {
    let seg = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", seg(header), seg(claims))
}

async fn start(dir: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--jwt-issuer", ISS, "--jwt-audience", AUD];
    args.extend_from_slice(extra);
    Server::start_in(dir, &args).await
}

#[tokio::test]
async fn jwks_url_tokens_are_checked_isolated_and_rotated() {
    let rsa = signer("k1", Algorithm::RS256, "rsa1.pem");
    let rotated = signer("k2", Algorithm::RS256, "rsa2.pem");
    let ec = signer("e1", Algorithm::ES256, "ec256.pem");
    let ed = signer("d1", Algorithm::EdDSA, "ed25519.pem");
    let idp = serve_jwks(jwks(&[&rsa, &ec, &ed])).await;
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        dir.path(),
        &["--jwks-url", &idp.url, "--jwks-min-refresh-secs", "1"],
    )
    .await;

    let alice = rsa.sign(&claims("alice"));
    let (status, run) = call(
        &s,
        Some(&alice),
        "POST",
        "/api/exec",
        json!({"code": "6*7"}),
    )
    .await;
    assert_eq!((status, run["result"].as_str()), (200, Some("42")), "{run}");
    let id = run["execution_id"].as_str().unwrap();
    let bob = ec.sign(&claims("bob"));
    let (status, _) = call(
        &s,
        Some(&bob),
        "GET",
        &format!("/api/executions/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "another principal's execution is not found");
    let (_, list) = call(&s, Some(&bob), "GET", "/api/executions", Value::Null).await;
    assert_eq!(list["executions"], json!([]));
    let (status, _) = call(
        &s,
        Some(&alice),
        "GET",
        &format!("/api/executions/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let carol = ed.sign(&claims("carol"));
    assert_eq!(
        mcp_tools_status(&s, &carol).await,
        200,
        "EdDSA token on /mcp"
    );
    assert_eq!(mcp_tools_status(&s, "not-a-jwt-at-all").await, 401);

    let mut c = claims("alice");
    c["exp"] = json!(now() - 3600);
    refused(&s, &rsa.sign(&c), "expired").await;
    let mut c = claims("alice");
    c["iss"] = json!("https://other.test");
    refused(&s, &rsa.sign(&c), "issuer").await;
    let mut c = claims("alice");
    c["aud"] = json!("someone-else");
    refused(&s, &rsa.sign(&c), "audience").await;
    let mut c = claims("alice");
    c.as_object_mut().unwrap().remove("exp");
    refused(&s, &rsa.sign(&c), "no exp claim").await;
    let mut c = claims("alice");
    c["nbf"] = json!(now() + 3600);
    refused(&s, &rsa.sign(&c), "not valid yet").await;
    // A string exp must not skip the expiry check (CVE-2026-25537 in jsonwebtoken < 10.3).
    let mut c = claims("alice");
    c["exp"] = json!("9999999999");
    refused(&s, &rsa.sign(&c), "exp").await;
    refused(
        &s,
        &rotated.sign_as("k1", &claims("alice")),
        "bad token signature",
    )
    .await;
    refused(
        &s,
        &unsigned(&json!({"alg": "none"}), &claims("alice")),
        "algorithm none",
    )
    .await;
    refused(
        &s,
        &unsigned(&json!({"alg": "HS256", "kid": "k1"}), &claims("alice")),
        "algorithm HS256",
    )
    .await;

    // Key rotation: k2 is unknown until the IdP publishes it; then it works.
    let fresh = rotated.sign(&claims("alice"));
    refused(&s, &fresh, "kid").await;
    *idp.body.lock().unwrap() = jwks(&[&rsa, &rotated, &ec, &ed]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, list) = call(&s, Some(&fresh), "GET", "/api/executions", Value::Null).await;
    assert_eq!(status, 200, "a rotated-in key is fetched: {list}");
    assert_eq!(
        list["executions"].as_array().unwrap().len(),
        1,
        "still alice's"
    );

    for probe in ["/healthz", "/readyz", "/metrics"] {
        let r = reqwest::get(format!("{}{probe}", s.base)).await.unwrap();
        assert_eq!(r.status(), 200, "{probe} stays open");
    }
    let (status, _) = call(&s, None, "GET", "/api/executions", Value::Null).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn unknown_key_ids_do_not_hammer_the_jwks_url() {
    let rsa = signer("k1", Algorithm::RS256, "rsa1.pem");
    let idp = serve_jwks(jwks(&[&rsa])).await;
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &["--jwks-url", &idp.url]).await;
    assert_eq!(*idp.hits.lock().unwrap(), 1, "fetched once at start");
    for kid in ["x1", "x2", "x3"] {
        refused(&s, &rsa.sign_as(kid, &claims("alice")), "kid").await;
    }
    assert_eq!(
        *idp.hits.lock().unwrap(),
        1,
        "unknown kids refetch at most every 30 s"
    );
    let (status, _) = call(
        &s,
        Some(&rsa.sign(&claims("alice"))),
        "GET",
        "/api/executions",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_failed_refetch_keeps_the_last_good_keys() {
    let rsa = signer("k1", Algorithm::RS256, "rsa1.pem");
    let idp = serve_jwks(jwks(&[&rsa])).await;
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        dir.path(),
        &["--jwks-url", &idp.url, "--jwks-refresh-secs", "1"],
    )
    .await;
    *idp.body.lock().unwrap() = "<html>oops</html>".into();
    // Two more fetches: the first surely got the broken body and was handled.
    let target = *idp.hits.lock().unwrap() + 2;
    let deadline = Instant::now() + Duration::from_secs(10);
    while *idp.hits.lock().unwrap() < target {
        assert!(
            Instant::now() < deadline,
            "the JWKS is not re-fetched on its TTL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = rsa.sign(&claims("alice"));
    let (status, body) = call(&s, Some(&token), "GET", "/api/executions", Value::Null).await;
    assert_eq!(status, 200, "the last good keys still verify: {body}");
}

#[tokio::test]
async fn jwks_file_rotates_and_mixes_with_the_tokens_file() {
    let rsa = signer("k1", Algorithm::RS256, "rsa1.pem");
    let rotated = signer("k2", Algorithm::RS256, "rsa2.pem");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("jwks.json");
    std::fs::write(&keys, jwks(&[&rsa])).unwrap();
    let tokens = dir.path().join("tokens.json");
    let static_token = "static-token-0123456789";
    std::fs::write(&tokens, json!({ static_token: "alice" }).to_string()).unwrap();
    let s = start(
        dir.path(),
        &[
            "--jwks-file",
            keys.to_str().unwrap(),
            "--auth-tokens-file",
            tokens.to_str().unwrap(),
        ],
    )
    .await;

    let (status, run) = call(
        &s,
        Some(static_token),
        "POST",
        "/api/exec",
        json!({"code": "1"}),
    )
    .await;
    assert_eq!(status, 200, "{run}");
    // Both kinds of token share one principal namespace: JWT sub "alice" is alice.
    let (_, list) = call(
        &s,
        Some(&rsa.sign(&claims("alice"))),
        "GET",
        "/api/executions",
        Value::Null,
    )
    .await;
    assert_eq!(list["executions"].as_array().unwrap().len(), 1, "{list}");
    let (_, list) = call(
        &s,
        Some(&rsa.sign(&claims("dave"))),
        "GET",
        "/api/executions",
        Value::Null,
    )
    .await;
    assert_eq!(list["executions"], json!([]));
    refused(&s, "static-token-wrong-0123", "malformed token").await;

    let fresh = rotated.sign(&claims("dave"));
    refused(&s, &fresh, "kid").await;
    std::fs::write(&keys, jwks(&[&rsa, &rotated])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = call(&s, Some(&fresh), "GET", "/api/executions", Value::Null).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rewritten JWKS file is never read"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Status of a `tools/list` over Streamable HTTP with `token`.
async fn mcp_tools_status(s: &Server, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/mcp", s.base))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
