//! An in-memory stand-in for the Kubernetes API server behind kube's `tower-test` mock
//! service (no real API server can be installed on these machines). It keeps objects by
//! path and implements what the operator uses: get, list with label selectors, create,
//! replace with resourceVersion conflicts, delete, server-side apply, merge patches on
//! `/status` and JSON patches (finalizers). Tests inject failures and read the request log.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

use super::api_paths::{in_collection, labels_match, query_param, server_side_apply, split};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: Option<Value>,
}

struct Failure {
    method: String,
    path_contains: String,
    code: u16,
    remaining: usize,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    log: Vec<Recorded>,
    failures: Vec<Failure>,
    resource_version: u64,
    /// Every change as a watch event: (resourceVersion, object key, type, object).
    events: Vec<(u64, String, &'static str, Value)>,
}

impl State {
    fn record(&mut self, key: &str, type_: &'static str, obj: &Value) {
        let rv = obj["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.resource_version);
        self.events.push((rv, key.to_string(), type_, obj.clone()));
    }
}

/// Handle on the fake API server's state.
#[derive(Clone)]
pub struct FakeApi(Arc<Mutex<State>>);

/// Starts the fake server and returns a client talking to it.
pub fn start() -> (Client, FakeApi) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let api = FakeApi(Arc::default());
    let server = api.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            // Watches wait for changes, so requests are served concurrently.
            let server = server.clone();
            tokio::spawn(async move { send.send_response(server.handle(request).await) });
        }
    });
    (Client::new(service, "default"), api)
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}),
    )
}

impl FakeApi {
    async fn handle(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().to_string();
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or("").to_string();
        let content_type = request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = request
            .into_body()
            .collect_bytes()
            .await
            .unwrap_or_default();
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if method == "GET" && matches!(query_param(&query, "watch").as_deref(), Some("true" | "1"))
        {
            return self.watch(&path, &query).await;
        }
        let (code, value) = self.respond(&method, &path, &query, &content_type, body);
        Response::builder()
            .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&value).unwrap_or_default()))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }

    /// Long-polls for changes after the requested resourceVersion (up to half a second),
    /// then returns them as a finite stream of watch events; the client watches again.
    async fn watch(&self, path: &str, query: &str) -> Response<Body> {
        let (collection, _, _) = split(path);
        let since: u64 = query_param(query, "resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let selector = query_param(query, "labelSelector").unwrap_or_default();
        let mut lines = String::new();
        for _ in 0..25 {
            {
                let st = self.0.lock().unwrap_or_else(|e| e.into_inner());
                for (rv, key, type_, obj) in &st.events {
                    if *rv > since
                        && in_collection(key, &collection)
                        && labels_match(obj, &selector)
                    {
                        lines.push_str(&json!({"type": type_, "object": obj}).to_string());
                        lines.push('\n');
                    }
                }
            }
            if !lines.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from(lines.into_bytes()))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }

    fn respond(
        &self,
        method: &str,
        path: &str,
        query: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut st = self.0.lock().unwrap_or_else(|e| e.into_inner());
        st.log.push(Recorded {
            method: method.into(),
            path: path.into(),
            body: body.clone(),
        });
        if let Some(f) = st
            .failures
            .iter_mut()
            .find(|f| f.remaining > 0 && f.method == method && path.contains(&f.path_contains))
        {
            f.remaining -= 1;
            let reason = if f.code == 409 {
                "Conflict"
            } else {
                "InternalError"
            };
            return status(f.code, reason, "injected failure");
        }
        let (collection, name, is_status) = split(path);
        st.resource_version += 1;
        let rv = st.resource_version.to_string();
        match (method, name) {
            ("GET", None) => {
                let selector = query_param(query, "labelSelector").unwrap_or_default();
                let items: Vec<Value> = st
                    .objects
                    .iter()
                    .filter(|(k, _)| in_collection(k, &collection))
                    .map(|(_, v)| v.clone())
                    .filter(|o| labels_match(o, &selector))
                    .collect();
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": rv}, "items": items}),
                )
            }
            ("GET", Some(name)) => match st.objects.get(&format!("{collection}/{name}")) {
                Some(o) => (200, o.clone()),
                None => status(404, "NotFound", &format!("{name} not found")),
            },
            ("POST", None) => {
                let mut obj = body.unwrap_or_default();
                let name = obj["metadata"]["name"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| format!("gen-{rv}"));
                let key = format!("{collection}/{name}");
                if st.objects.contains_key(&key) {
                    return status(409, "AlreadyExists", &format!("{name} already exists"));
                }
                obj["metadata"]["name"] = json!(name);
                obj["metadata"]["resourceVersion"] = json!(rv);
                obj["metadata"]["uid"] = json!(format!("uid-{rv}"));
                st.record(&key, "ADDED", &obj);
                st.objects.insert(key, obj.clone());
                (201, obj)
            }
            ("PUT", Some(name)) => {
                let key = format!("{collection}/{name}");
                let mut obj = body.unwrap_or_default();
                let Some(old) = st.objects.get(&key) else {
                    return status(404, "NotFound", &format!("{name} not found"));
                };
                if obj["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"] {
                    return status(409, "Conflict", "the object has been modified");
                }
                obj["metadata"]["resourceVersion"] = json!(rv);
                st.record(&key, "MODIFIED", &obj);
                st.objects.insert(key, obj.clone());
                (200, obj)
            }
            ("DELETE", Some(name)) => match st.objects.remove(&format!("{collection}/{name}")) {
                Some(mut o) => {
                    o["metadata"]["resourceVersion"] = json!(rv);
                    st.record(&format!("{collection}/{name}"), "DELETED", &o);
                    (200, o)
                }
                None => status(404, "NotFound", &format!("{name} not found")),
            },
            ("PATCH", Some(name)) => {
                let key = format!("{collection}/{name}");
                let patch = body.unwrap_or_default();
                let existing = st.objects.get(&key).cloned();
                let existing_key = existing.is_some();
                let updated = if content_type.contains("apply-patch") {
                    Some(server_side_apply(existing, patch, is_status))
                } else if content_type.contains("merge-patch") {
                    existing.map(|mut o| {
                        json_patch::merge(&mut o, &patch);
                        o
                    })
                } else if content_type.contains("json-patch") {
                    match existing {
                        Some(mut o) => {
                            // The API server treats a missing field as null for `test`.
                            if o["metadata"]["finalizers"].is_null() {
                                o["metadata"]["finalizers"] = Value::Null;
                            }
                            let ops: json_patch::Patch = match serde_json::from_value(patch) {
                                Ok(p) => p,
                                Err(e) => return status(400, "BadRequest", &e.to_string()),
                            };
                            if json_patch::patch(&mut o, &ops).is_err() {
                                return status(422, "Invalid", "json patch test failed");
                            }
                            Some(o)
                        }
                        None => None,
                    }
                } else {
                    return status(415, "UnsupportedMediaType", content_type);
                };
                match updated {
                    Some(mut o) => {
                        o["metadata"]["resourceVersion"] = json!(rv);
                        if o["metadata"]["uid"].is_null() {
                            o["metadata"]["uid"] = json!(format!("uid-{rv}"));
                        }
                        // Objects being deleted go once their last finalizer is removed.
                        let finalizers_empty = o["metadata"]["finalizers"]
                            .as_array()
                            .is_none_or(|f| f.is_empty());
                        if !o["metadata"]["deletionTimestamp"].is_null() && finalizers_empty {
                            st.record(&key, "DELETED", &o);
                            st.objects.remove(&key);
                        } else {
                            let type_ = if existing_key { "MODIFIED" } else { "ADDED" };
                            st.record(&key, type_, &o);
                            st.objects.insert(key, o.clone());
                        }
                        (200, o)
                    }
                    None => status(404, "NotFound", &format!("{name} not found")),
                }
            }
            _ => status(405, "MethodNotAllowed", method),
        }
    }

    /// Stores `obj` (JSON of a typed object) at its path, as if created by someone else.
    pub fn put(&self, collection: &str, obj: Value) {
        let name = obj["metadata"]["name"]
            .as_str()
            .expect("object has a name")
            .to_string();
        let mut st = self.0.lock().unwrap_or_else(|e| e.into_inner());
        st.resource_version += 1;
        let mut obj = obj;
        obj["metadata"]["resourceVersion"] = json!(st.resource_version.to_string());
        let key = format!("{collection}/{name}");
        let type_ = if st.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        st.record(&key, type_, &obj);
        st.objects.insert(key, obj);
    }

    /// The object at `collection/name`.
    pub fn get(&self, collection: &str, name: &str) -> Option<Value> {
        let st = self.0.lock().unwrap_or_else(|e| e.into_inner());
        st.objects.get(&format!("{collection}/{name}")).cloned()
    }

    /// Edits a stored object in place.
    pub fn edit(&self, collection: &str, name: &str, f: impl FnOnce(&mut Value)) {
        let mut st = self.0.lock().unwrap_or_else(|e| e.into_inner());
        st.resource_version += 1;
        let rv = st.resource_version.to_string();
        let key = format!("{collection}/{name}");
        let obj = st.objects.get_mut(&key).expect("object exists");
        f(obj);
        obj["metadata"]["resourceVersion"] = json!(rv);
        let obj = obj.clone();
        st.record(&key, "MODIFIED", &obj);
    }

    /// Fails the next `times` requests with `method` whose path contains `path_contains`.
    pub fn fail(&self, method: &str, path_contains: &str, code: u16, times: usize) {
        let mut st = self.0.lock().unwrap_or_else(|e| e.into_inner());
        st.failures.push(Failure {
            method: method.into(),
            path_contains: path_contains.into(),
            code,
            remaining: times,
        });
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Recorded> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).log.clone()
    }

    /// Reasons of the Events published so far (new ones and repeats of a series).
    pub fn event_reasons(&self) -> Vec<String> {
        self.log()
            .into_iter()
            .filter(|r| (r.method == "POST" || r.method == "PATCH") && r.path.contains("/events"))
            .filter_map(|r| r.body.and_then(|b| b["reason"].as_str().map(String::from)))
            .collect()
    }
}
