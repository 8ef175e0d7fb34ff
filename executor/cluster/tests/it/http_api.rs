//! The `/meta/*` JSON API over the local backend, driven over HTTP as a client would.

use std::sync::Arc;

use mcp_v8_cluster::{LocalStore, MetaStore, meta_router};
use serde_json::{Value, json};

async fn serve() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn MetaStore> = Arc::new(LocalStore::open(dir.path()).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, meta_router(store, None))
            .await
            .unwrap();
    });
    (base, dir)
}

fn heap(n: u32) -> String {
    format!("{n:064x}")
}

#[tokio::test]
async fn meta_api_round_trips_and_answers_errors_as_json() {
    let (base, _dir) = serve().await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{base}{p}");

    for (i, input) in [None, Some(heap(1))].into_iter().enumerate() {
        let body = json!({"input_heap": input, "output_heap": heap(i as u32 + 1), "code": format!("step {i}")});
        let r: Value = http
            .post(url("/meta/sessions/my%20session/entries"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r, json!({"index": i}));
    }
    let sessions: Value = http
        .get(url("/meta/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions, json!(["my session"]));
    let entries: Value = http
        .get(url(
            "/meta/sessions/my%20session/entries?fields=index,input_heap",
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        entries,
        json!([{"index": 0, "input_heap": null}, {"index": 1, "input_heap": heap(1)}])
    );
    let full: Value = http
        .get(url("/meta/sessions/my%20session/entries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(full[1]["code"], "step 1");
    assert!(full[1]["timestamp"].as_str().unwrap().ends_with('Z'));

    let r = http
        .put(url(&format!("/meta/tags/{}", heap(2))))
        .json(&json!({"a": "1", "b": "2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .delete(url(&format!("/meta/tags/{}?keys=a", heap(2))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let tags: Value = http
        .get(url(&format!("/meta/tags/{}", heap(2))))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags, json!({"b": "2"}));
    let found: Value = http
        .post(url("/meta/tags/query"))
        .json(&json!({"b": "2"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found, json!([heap(2)]));

    // Every failure is JSON with a message and a bounded kind.
    let cases = [
        (
            http.get(url("/meta/tags/not-a-heap")),
            400,
            "invalid_heap_id",
        ),
        (
            http.get(url("/meta/sessions/s/entries?fields=index,secret")),
            400,
            "invalid_input",
        ),
        (
            http.post(url("/meta/sessions/s/entries"))
                .header("content-type", "application/json")
                .body("{oops"),
            400,
            "invalid_input",
        ),
        (
            http.post(url("/meta/tags/query")).json(&json!({})),
            400,
            "invalid_input",
        ),
        (
            http.delete(url(&format!("/meta/tags/{}", heap(2)))),
            400,
            "invalid_input",
        ),
        (http.get(url("/cluster/status")), 404, "not_found"),
    ];
    for (req, status, kind) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), status);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["kind"], kind, "{v}");
        assert!(!v["error"].as_str().unwrap().is_empty());
    }
    let sessions: Value = http
        .get(url("/meta/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        sessions,
        json!(["my session"]),
        "a refused request stored something"
    );
}
