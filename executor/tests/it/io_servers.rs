//! Loopback servers the controlled-I/O tests run against: a CDN stand-in serving ES
//! modules, OPA's Data API evaluated by a real Rego engine (regorus), and a target
//! that records every request it receives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The policy of the README's fetch example.
pub const FETCH_POLICY: &str = include_str!("../../../examples/policies/fetch.rego");

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    #[allow(dead_code)] // kept for failure messages ({:?})
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

async fn serve(router: axum::Router) -> String {
    serve_on("127.0.0.1", router).await
}

async fn serve_on(ip: &str, router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    base
}

fn record(log: &Log, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
    log.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        headers: headers.clone(),
        body: body.to_vec(),
    });
}

fn js(code: &str) -> Response {
    (
        [(header::CONTENT_TYPE, "application/javascript")],
        code.to_owned(),
    )
        .into_response()
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response()
}

/// A CDN stand-in on `ip`. `elsewhere` is where `/redirect-out.js` points (a host
/// that is not on the allow-list).
pub async fn module_server(ip: &str, elsewhere: String) -> (String, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let router = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
        let l = l.clone();
        let elsewhere = elsewhere.clone();
        async move {
            record(&l, &method, &uri, &headers, &[]);
            match uri.path() {
                // esm.sh answers a package name with a redirect to its entry point.
                "/greet@1" => redirect("/greet@1/index.js"),
                "/greet@1/index.js" => js(
                    "import { exclaim } from './util.js';\nimport { VERSION } from '/version.js';\nexport const greet = (n) => exclaim(`hello ${n}`) + ' v' + VERSION;",
                ),
                "/greet@1/util.js" => js("export const exclaim = (s) => s + '!';"),
                "/version.js" => js("export const VERSION = 1;"),
                "/jsr/@scope/pkg@2" => js("export default function add(a, b) { return a + b; }"),
                "/typed.ts" => (
                    [(header::CONTENT_TYPE, "application/typescript")],
                    "interface P { x: number }\nexport function norm(p: P): number { return Math.abs(p.x as number); }\nexport const tag: string = 'ts';",
                )
                    .into_response(),
                "/data.json" => ([(header::CONTENT_TYPE, "application/json")], r#"{"answer": 42}"#).into_response(),
                "/redirect-out.js" => redirect(&format!("{elsewhere}/evil.js")),
                "/missing.js" => StatusCode::NOT_FOUND.into_response(),
                "/huge.js" => js(&format!("export const s = '{}';", "x".repeat(11 << 20))),
                "/broken.ts" => (
                    [(header::CONTENT_TYPE, "application/typescript")],
                    "export const = ;",
                )
                    .into_response(),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    (serve_on(ip, router).await, log)
}

/// OPA's Data API (`POST /v1/data/<path>`) answering with a real Rego evaluation.
/// Records every input it was asked about.
pub async fn opa(policy: &'static str) -> (String, Arc<Mutex<Vec<Value>>>) {
    let inputs: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = inputs.clone();
    let router = axum::Router::new().route(
        "/v1/data/{*path}",
        axum::routing::post(
            move |axum::extract::Path(path): axum::extract::Path<String>, body: Bytes| {
                let seen = seen.clone();
                async move {
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let input = req["input"].clone();
                    seen.lock().unwrap().push(input.clone());
                    let mut engine = regorus::Engine::new();
                    engine
                        .add_policy("policy.rego".into(), policy.into())
                        .unwrap();
                    engine.set_input_json(&input.to_string()).unwrap();
                    // The Data API answers the document at the path (the package);
                    // the executor reads its `allow`, which is what is evaluated here.
                    let rule = format!("data.{}.allow", path.replace('/', "."));
                    let allow: Value = engine
                        .eval_rule(rule)
                        .ok()
                        .and_then(|v| serde_json::from_str(&v.to_json_str().ok()?).ok())
                        .unwrap_or(Value::Null);
                    let result = if allow.is_null() {
                        json!({})
                    } else {
                        json!({ "allow": allow })
                    };
                    axum::Json(json!({ "result": result }))
                }
            },
        ),
    );
    (serve(router).await, inputs)
}

/// The server fetch() talks to.
pub async fn target() -> (String, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let router = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let l = l.clone();
            async move {
                record(&l, &method, &uri, &headers, &body);
                match uri.path() {
                    "/public/hello" => {
                        ([("x-served-by", "target")], "hello from target").into_response()
                    }
                    "/public/json" => axum::Json(json!({"items": [1, 2, 3]})).into_response(),
                    "/public/echo" => ([(header::CONTENT_TYPE, "application/json")], body.to_vec())
                        .into_response(),
                    "/public/redirect" => redirect("/public/hello"),
                    "/public/redirect-private" => redirect("/private/secret"),
                    "/public/binary" => (0u8..=255).collect::<Vec<u8>>().into_response(),
                    "/public/big" => "y".repeat(64 << 10).into_response(),
                    "/public/slow" => {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        "late".into_response()
                    }
                    "/public/status/404" => (StatusCode::NOT_FOUND, "nope").into_response(),
                    _ => (StatusCode::FORBIDDEN, "private").into_response(),
                }
            }
        },
    );
    (serve(router).await, log)
}
