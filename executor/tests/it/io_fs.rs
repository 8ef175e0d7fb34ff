//! The policy-gated fs global through the real server: allowed calls, denials,
//! traversal and symbolic-link escapes, binary data, and no fs without a policy.

use serde_json::{Value, json};

use crate::server::Server;

async fn exec(s: &Server, code: &str) -> Value {
    let (status, r) = s.exec(json!({ "code": code })).await;
    assert_eq!(status, 200, "{r}");
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn fs_calls_are_decided_by_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir(&sandbox).unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "keep out").unwrap();
    std::os::unix::fs::symlink(&outside, sandbox.join("link")).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("policies/fs.rego"),
        format!(
            r#"package mcp.fs

default allow := false

in_sandbox(p) if startswith(p, "{root}/")

allow if {{
    in_sandbox(input.path)
    not input.destination
}}

allow if {{
    in_sandbox(input.path)
    in_sandbox(input.destination)
}}
"#,
            root = sandbox.display()
        ),
    )
    .unwrap();
    // Relative paths in the policies file resolve against the file.
    std::fs::write(
        dir.path().join("policies/policies.json"),
        json!({"fs": {"rego": "fs.rego", "query": "data.mcp.fs.allow"}}).to_string(),
    )
    .unwrap();
    let policies = dir
        .path()
        .join("policies/policies.json")
        .display()
        .to_string();
    let s = Server::start_in(dir.path(), &["--policies-json", &policies]).await;
    let root = sandbox.display();

    let r = exec(&s, &format!(r#"const d = "{root}";
await fs.mkdir(d + "/a/b", {{ recursive: true }});
await fs.writeFile(d + "/a/b/note.txt", "line 1\n");
await fs.appendFile(d + "/a/b/note.txt", "line 2\n");
await fs.copyFile(d + "/a/b/note.txt", d + "/a/copy.txt");
await fs.rename(d + "/a/copy.txt", d + "/a/moved.txt");
const st = await fs.stat(d + "/a/moved.txt");
await fs.writeFile(d + "/bin", new Uint8Array([0, 1, 2, 254, 255]));
const bin = await fs.readFile(d + "/bin", "buffer");
[await fs.readFile(d + "/a/moved.txt", "utf8"), await fs.readdir(d + "/a"), st.size, st.isFile, st.isDirectory,
 Array.from(bin), bin instanceof Uint8Array, await fs.exists(d + "/a/copy.txt"), await fs.exists(d + "/a/moved.txt")]"#)).await;
    assert_eq!(
        r["result"],
        json!([
            "line 1\nline 2\n",
            ["b", "moved.txt"],
            14,
            true,
            false,
            [0, 1, 2, 254, 255],
            true,
            false,
            true
        ])
        .to_string(),
        "{r}"
    );
    assert_eq!(
        std::fs::read(sandbox.join("bin")).unwrap(),
        [0, 1, 2, 254, 255]
    );

    let denied = [
        format!("await fs.readFile('{}')", outside.display()),
        format!("await fs.readFile('{root}/../outside.txt')"),
        format!("await fs.readFile('{root}/link')"),
        format!(
            "await fs.rename('{root}/a/moved.txt', '{}')",
            dir.path().join("stolen.txt").display()
        ),
        "await fs.readFile('/etc/passwd')".into(),
    ];
    for code in denied {
        let r = exec(&s, &code).await;
        assert_eq!(r["status"], "failed", "{code}: {r}");
        assert!(
            r["error"].as_str().unwrap().contains("denied by policy"),
            "{code}: {r}"
        );
    }
    let r = exec(&s, "await fs.readFile('relative.txt')").await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("not an absolute path"),
        "{r}"
    );
    let r = exec(&s, &format!("await fs.rm('{root}/a')")).await;
    assert!(
        r["error"].as_str().unwrap().contains("directory not empty"),
        "{r}"
    );
    let r = exec(
        &s,
        &format!("await fs.rm('{root}/a', {{ recursive: true }}); await fs.exists('{root}/a')"),
    )
    .await;
    assert_eq!(r["result"], "false");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep out");
    assert!(!dir.path().join("stolen.txt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_policy_stops_startup_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.rego"), "package mcp.fs\nallow if {").unwrap();
    std::fs::write(dir.path().join("p.json"), r#"{"fs": {"rego": "bad.rego"}}"#).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-v8"))
        .arg("--policies-json")
        .arg(dir.path().join("p.json"))
        .args(["--session-db-path"])
        .arg(dir.path().join("db"))
        .args(["exec", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.rego") && err.contains("does not compile"),
        "{err}"
    );
}
