//! ES module imports through the real server: npm:/jsr: mapped to the CDN, relative
//! and absolute imports inside modules, redirects re-checked against the allow-list,
//! TypeScript and JSON modules, limits, the cache, and sessions keeping modules.

use serde_json::{Value, json};

use crate::io_servers::module_server;
use crate::server::Server;

async fn exec(s: &Server, code: &str) -> Value {
    let (status, r) = s.exec(json!({ "code": code })).await;
    assert_eq!(status, 200, "{r}");
    r
}

fn allow_only(cdn: &str) -> Vec<String> {
    let hostport = cdn.trim_start_matches("http://");
    vec![
        "--module-cdn".into(),
        cdn.into(),
        "--module-allow-host".into(),
        hostport.into(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn imports_resolve_load_and_are_cached() {
    let (cdn, hits) = module_server("127.0.0.1", String::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let args = allow_only(&cdn);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start_in(
        dir.path(),
        &[
            &["--stateless", "--max-concurrent-executions", "1"],
            &args[..],
        ]
        .concat(),
    )
    .await;

    // npm: → <cdn>/pkg, redirect to the entry point, a relative and an absolute import.
    let r = exec(&s, "import { greet } from 'npm:greet@1';\ngreet('agent')").await;
    assert_eq!(r["result"], "hello agent! v1", "{r}");
    // jsr: → <cdn>/jsr/pkg; dynamic import; TypeScript stripped; JSON with an import attribute.
    let r = exec(
        &s,
        "const { default: add } = await import('jsr:@scope/pkg@2'); add(2, 3)",
    )
    .await;
    assert_eq!(r["result"], "5", "{r}");
    let r = exec(
        &s,
        &format!("import {{ norm, tag }} from '{cdn}/typed.ts';\nnorm({{ x: -4 }}) + tag"),
    )
    .await;
    assert_eq!(r["result"], "4ts", "{r}");
    let r = exec(&s, &format!("const m = await import('{cdn}/data.json', {{ with: {{ type: 'json' }} }}); m.default.answer")).await;
    assert_eq!(r["result"], "42", "{r}");

    // Cached: importing the same package again in a new run fetches nothing.
    let before = hits.lock().unwrap().len();
    let r = exec(
        &s,
        "const { greet } = await import('npm:greet@1'); greet('again')",
    )
    .await;
    assert_eq!(r["result"], "hello again! v1");
    assert_eq!(hits.lock().unwrap().len(), before, "served from the cache");
    // The disk cache was written under the session db directory.
    assert!(
        std::fs::read_dir(dir.path().join("db/module-cache"))
            .unwrap()
            .count()
            >= 4
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_imports_name_the_reason_and_the_server_stays_up() {
    // A second module server on another loopback address, off the allow-list.
    let (elsewhere, elsewhere_hits) = module_server("127.0.0.2", String::new()).await;
    let (cdn, _) = module_server("127.0.0.1", elsewhere.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let args = allow_only(&cdn);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start_in(dir.path(), &[&["--stateless"], &args[..]].concat()).await;

    let cases = [
        // A redirect hop to a host that is not allowed.
        (
            format!("await import('{cdn}/redirect-out.js')"),
            "127.0.0.2".to_owned(),
        ),
        (
            format!("await import('{elsewhere}/greet@1/util.js')"),
            "not in --module-allow-host".into(),
        ),
        (
            "await import('https://deno.land/std/x.ts')".into(),
            "host deno.land is not in --module-allow-host".into(),
        ),
        ("await import('lodash')".into(), "npm:lodash".into()),
        (
            "await import('file:///etc/passwd')".into(),
            "not allowed".into(),
        ),
        (
            "await import('http://169.254.169.254/latest/meta-data')".into(),
            "not in --module-allow-host".into(),
        ),
        (
            format!("await import('{cdn}/missing.js')"),
            "HTTP 404".into(),
        ),
        (
            format!("await import('{cdn}/huge.js')"),
            "larger than".into(),
        ),
        (
            format!("await import('{cdn}/broken.ts')"),
            "import of".into(),
        ),
    ];
    for (code, expect) in cases {
        let r = exec(&s, &code).await;
        assert_eq!(r["status"], "failed", "{code}: {r}");
        let err = r["error"].as_str().unwrap();
        assert!(err.contains(&expect), "{code}: {err}");
    }
    assert!(
        elsewhere_hits.lock().unwrap().is_empty(),
        "nothing was fetched from a refused host"
    );
    let r = exec(&s, "import { greet } from 'npm:greet@1';\ngreet('still')").await;
    assert_eq!(r["result"], "hello still! v1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_keeps_imported_modules_across_runs() {
    let (cdn, _) = module_server("127.0.0.1", String::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let args = allow_only(&cdn);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start_in(dir.path(), &args).await;
    let r = exec(
        &s,
        "import { greet } from 'npm:greet@1';\nvar hi = greet; hi('one')",
    )
    .await;
    assert_eq!(r["result"], "hello one! v1", "{r}");
    let (_, r2) = s
        .exec(json!({ "code": "hi('two')", "heap": r["heap"] }))
        .await;
    assert_eq!(r2["result"], "hello two! v1", "{r2}");
}
