//! The `mcp-v8-store` admin binary driven the way an operator runs it: flags and
//! `MCP_V8_*` env vars, ids on stdout, messages on stderr, meaningful exit codes.

use std::path::Path;
use std::process::{Command, Output};

use crate::suite::snapshot;
use mcp_v8_store::testing::{ACCESS_KEY, Moto, SECRET_KEY};

fn cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp-v8-store"));
    // Only what each test sets may configure the store.
    for (key, _) in std::env::vars() {
        if key.starts_with("MCP_V8_") || key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run mcp-v8-store")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    o
}

#[test]
fn dir_put_get_ls_stat_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("heaps");
    let file = tmp.path().join("snap.bin");
    let bytes = snapshot(1, 100_000);
    std::fs::write(&file, &bytes).unwrap();
    let dir_arg = store.to_str().unwrap();

    let put = ok(run(cli()
        .args(["--directory-path", dir_arg, "put", "--fingerprint", "eng-1"])
        .arg(&file)));
    let id = stdout(&put).trim().to_owned();
    assert_eq!(id, mcp_v8_store::HeapId::of(&bytes).as_str());

    let get = ok(run(cli().args(["--directory-path", dir_arg, "get", &id])));
    assert_eq!(get.stdout, bytes);

    // The env var configures the same flag.
    let ls = ok(run(cli().env("MCP_V8_DIRECTORY_PATH", dir_arg).arg("ls")));
    assert_eq!(stdout(&ls), format!("{id}\n"));

    let stat = stdout(&ok(run(cli().args([
        "--directory-path",
        dir_arg,
        "stat",
        &id,
    ]))));
    assert!(
        stat.contains("size: 100000\n")
            && stat.contains("fingerprint: eng-1\n")
            && stat.contains("location: dir\n"),
        "{stat}"
    );
    let json = stdout(&ok(run(cli().args([
        "--directory-path",
        dir_arg,
        "stat",
        "--json",
        &id,
    ]))));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["size"], 100_000);
    assert!(v["stored_size"].as_u64().unwrap() < 100_000);

    let verify = ok(run(cli().args(["--directory-path", dir_arg, "verify"])));
    assert!(
        stdout(&verify).contains(&format!("ok {id} dir")),
        "{}",
        stdout(&verify)
    );

    corrupt_file(&store.join(&id));
    let verify = run(cli().args(["--directory-path", dir_arg, "verify"]));
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stdout(&verify).contains(&format!("CORRUPT {id} dir")),
        "{}",
        stdout(&verify)
    );
    let get = run(cli().args(["--directory-path", dir_arg, "get", &id]));
    assert_eq!(get.status.code(), Some(1));
    assert!(get.stdout.is_empty());
    assert!(stderr(&get).contains("corrupt"), "{}", stderr(&get));
}

fn corrupt_file(path: &Path) {
    let mut raw = std::fs::read(path).unwrap();
    let mid = raw.len() / 2;
    raw[mid] ^= 1;
    std::fs::write(path, raw).unwrap();
}

#[test]
fn missing_invalid_and_conflicting_inputs_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir_arg = tmp.path().to_str().unwrap();
    let missing = mcp_v8_store::HeapId::of(b"nothing");
    let get = run(cli().args(["--directory-path", dir_arg, "get", missing.as_str()]));
    assert_eq!(get.status.code(), Some(1));
    assert!(
        stderr(&get).contains("not found") && stderr(&get).contains(missing.as_str()),
        "{}",
        stderr(&get)
    );

    let verify = run(cli().args(["--directory-path", dir_arg, "verify", missing.as_str()]));
    assert_eq!(verify.status.code(), Some(1));
    assert!(stdout(&verify).contains("MISSING"), "{}", stdout(&verify));

    let bad = run(cli().args(["--directory-path", dir_arg, "stat", "../../etc/passwd"]));
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("invalid heap id"), "{}", stderr(&bad));

    let conflict = run(cli().args(["--stateless", "--s3-bucket", "b", "ls"]));
    assert_eq!(conflict.status.code(), Some(1));
    let msg = stderr(&conflict);
    assert!(
        msg.contains("--stateless") && msg.contains("--s3-bucket"),
        "{msg}"
    );

    let usage = run(cli().args(["frobnicate"]));
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test]
async fn cached_s3_stat_locations_and_verify() {
    let moto = Moto::shared();
    let bucket = moto.bucket("cli").await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("snap.bin");
    std::fs::write(&file, snapshot(2, 50_000)).unwrap();
    let s3 = |cache: &Path| {
        let mut c = cli();
        c.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("MCP_V8_S3_BUCKET", &bucket)
            .env("MCP_V8_S3_ENDPOINT", moto.endpoint())
            .env("MCP_V8_S3_FORCE_PATH_STYLE", "true")
            .env("MCP_V8_CACHE_DIR", cache);
        c
    };
    let (cache_a, cache_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let id = stdout(&ok(run(s3(&cache_a).arg("put").arg(&file))))
        .trim()
        .to_owned();
    let stat_a = stdout(&ok(run(s3(&cache_a).args(["stat", &id]))));
    assert!(stat_a.contains("location: cache"), "{stat_a}");
    let stat_b = stdout(&ok(run(s3(&cache_b).args(["stat", &id]))));
    assert!(stat_b.contains("location: s3"), "{stat_b}");
    assert_eq!(stdout(&ok(run(s3(&cache_b).arg("ls")))), format!("{id}\n"));

    let verify = stdout(&ok(run(s3(&cache_a).arg("verify"))));
    assert!(
        verify.contains(&format!("ok {id} s3")) && verify.contains(&format!("ok {id} cache")),
        "{verify}"
    );
    corrupt_file(&cache_a.join(&id));
    let verify = run(s3(&cache_a).arg("verify"));
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stdout(&verify).contains(&format!("CORRUPT {id} cache")),
        "{}",
        stdout(&verify)
    );
}
