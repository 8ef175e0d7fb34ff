//! Heaps in S3 end to end: separate `mcp-v8` processes, each with its own cache
//! directory, sharing one bucket on a real S3-compatible server (moto on loopback).

use std::path::Path;
use std::process::Command;

use mcp_v8_store::testing::{ACCESS_KEY, Moto, SECRET_KEY};

/// One `mcp-v8 exec` process against `bucket` with its own `cache` directory.
fn exec(
    moto: &Moto,
    bucket: &str,
    cache: &Path,
    heap: Option<&str>,
    code: &str,
) -> (serde_json::Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-v8"));
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .args([
            "--s3-bucket",
            bucket,
            "--s3-endpoint",
            &moto.endpoint(),
            "--s3-force-path-style",
        ])
        .arg("--cache-dir")
        .arg(cache)
        .arg("exec");
    if let Some(h) = heap {
        cmd.args(["--heap", h]);
    }
    let out = cmd.arg(code).output().expect("mcp-v8 runs");
    let record = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (record, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn completed(record: &serde_json::Value) -> (&str, Option<&str>) {
    assert_eq!(record["status"], "completed", "{record}");
    (
        record["result"].as_str().unwrap_or(""),
        record["heap"].as_str(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_move_between_processes_and_survive_s3_outages_from_a_warm_cache() {
    let mut moto = Moto::start();
    let bucket = moto.bucket("sessions").await;
    let dir = tempfile::tempdir().unwrap();
    let (a, b, cold) = (
        dir.path().join("cache-a"),
        dir.path().join("cache-b"),
        dir.path().join("cache-c"),
    );

    // Started by one process, continued by another with an empty cache.
    let (r, _) = exec(&moto, &bucket, &a, None, "var steps = ['a']; steps.length");
    let heap1 = completed(&r).1.expect("heap").to_owned();
    let (r, _) = exec(
        &moto,
        &bucket,
        &b,
        Some(&heap1),
        "steps.push('b'); steps.join()",
    );
    let (result, heap2) = completed(&r);
    assert_eq!(result, "a,b");
    let heap2 = heap2.expect("heap").to_owned();

    // A corrupted object is refused by a process that has to read it from S3.
    moto.client()
        .put_object()
        .bucket(&bucket)
        .key(format!("heaps/{heap1}"))
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"not a heap",
        ))
        .send()
        .await
        .unwrap();
    let (r, err) = exec(&moto, &bucket, &cold, Some(&heap1), "steps");
    assert_eq!(r, serde_json::Value::Null, "refused before running");
    assert!(err.contains(&heap1) && err.contains("corrupt"), "{err}");

    // S3 down: a warm cache keeps serving its heap; the new heap cannot be saved, and
    // the run says so while keeping its result.
    moto.stop();
    let (r, _) = exec(&moto, &bucket, &b, Some(&heap2), "steps.concat('c').join()");
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(r["result"], "a,b,c");
    assert!(r["heap"].is_null());
    assert!(
        r["error"].as_str().unwrap().contains("could not be saved"),
        "{r}"
    );
    // A heap only S3 has is a retryable "unavailable", not "not found".
    let (r, err) = exec(&moto, &bucket, &cold, Some(&heap2), "steps");
    assert_eq!(r, serde_json::Value::Null);
    assert!(err.contains("unavailable"), "{err}");
}
