//! What code means: results, awaiting, modules, TypeScript, console.

use mcp_v8::ipc::Stream;
use mcp_v8::pool::Status;
use mcp_v8::runner::RunRequest;

use crate::harness;

#[tokio::test(flavor = "multi_thread")]
async fn results_are_formatted_by_type() {
    let h = harness::stateless().await;
    assert_eq!(h.ok("1 + 1").await.0, "2");
    assert_eq!(h.ok("'plain text'").await.0, "plain text");
    assert_eq!(
        h.ok("({a: 1, b: [2, 'x']})").await.0,
        r#"{"a":1,"b":[2,"x"]}"#
    );
    assert_eq!(h.ok("[1, null]").await.0, "[1,null]");
    assert_eq!(h.ok("undefined").await.0, "undefined");
    assert_eq!(h.ok("10n ** 20n").await.0, "100000000000000000000n");
    assert_eq!(h.ok("new Map([[1, 2]])").await.0, "[object Map]");
    assert_eq!(
        h.ok("class P { toString() { return 'P!' } }; new P()")
            .await
            .0,
        "P!"
    );
    assert_eq!(
        h.ok("const o = {}; o.self = o; o").await.0,
        "[object Object]"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn promises_and_top_level_await_are_awaited() {
    let h = harness::stateless().await;
    assert_eq!(h.ok("Promise.resolve(7)").await.0, "7");
    assert_eq!(
        h.ok("const v = await new Promise(r => setTimeout(() => r(5), 20)); v * 2")
            .await
            .0,
        "10"
    );
    assert_eq!(
        h.ok("async function f() { return 'async' }\nawait f()")
            .await
            .0,
        "async"
    );
    assert_eq!(
        h.ok("for (const x of [1]) { await x }\n'loop done'")
            .await
            .0,
        "loop done"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn static_and_dynamic_imports_load_data_url_modules() {
    let h = harness::stateless().await;
    let m = "data:text/javascript,export const answer = 42; export default function hi() { return \"hi\" }";
    assert_eq!(
        h.ok(&format!("const mod = await import('{m}'); mod.answer"))
            .await
            .0,
        "42"
    );
    assert_eq!(
        h.ok(&format!(
            "import hi, {{ answer as a }} from '{m}';\nhi() + a"
        ))
        .await
        .0,
        "hi42"
    );
    let f = h.run("await import('https://example.com/x.js')").await;
    assert_eq!(f.status, Status::Failed);
    assert!(
        f.error.unwrap().contains("not allowed"),
        "remote imports are refused with a reason"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript_types_are_stripped() {
    let h = harness::stateless().await;
    let code = "interface P { x: number }\nconst p: P = { x: 41 };\nfunction inc<T extends number>(v: T): number { return v + 1 }\ninc(p.x)";
    assert_eq!(h.ok(code).await.0, "42");
    assert_eq!(
        h.ok("const n = await Promise.resolve(2 as number); n satisfies number")
            .await
            .0,
        "2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn syntax_errors_name_line_and_column() {
    let h = harness::stateless().await;
    let f = h.run("let a = 1;\nlet b = );").await;
    assert_eq!(f.status, Status::Failed);
    let e = f.error.unwrap();
    assert!(
        e.starts_with("SyntaxError: ") && e.ends_with("(2:8)"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn thrown_errors_and_rejections_fail_with_name_and_message() {
    let h = harness::stateless().await;
    let f = h.run("null.x").await;
    assert_eq!(f.status, Status::Failed);
    assert!(
        f.error.as_deref().unwrap().starts_with("TypeError: "),
        "{f:?}"
    );
    let f = h.run("throw new RangeError('too far')").await;
    assert_eq!(f.error.as_deref(), Some("RangeError: too far"));
    let f = h.run("await Promise.reject(new Error('nope'))").await;
    assert_eq!(
        (f.status, f.error.as_deref()),
        (Status::Failed, Some("Error: nope"))
    );
    let f = h.run("Promise.reject(new TypeError('late'))").await;
    assert_eq!(f.error.as_deref(), Some("TypeError: late"));
}

#[tokio::test(flavor = "multi_thread")]
async fn console_lines_stream_while_the_run_goes() {
    let h = harness::stateless().await;
    let req = RunRequest {
        code: "console.log('first', {a: 1}); console.error('oops'); await new Promise(r => setTimeout(r, 300)); console.info('last'); 1".into(),
        ..Default::default()
    };
    let mut handle = h.runner.submit(req).await.unwrap();
    let first = handle.console.recv().await.unwrap();
    assert_eq!(
        (first.stream, first.text.as_str()),
        (Stream::Stdout, r#"first {"a":1}"#)
    );
    // The run is still sleeping: the first lines arrived while it went on.
    assert!(handle.outcome.try_recv().is_err());
    let second = handle.console.recv().await.unwrap();
    assert_eq!(
        (second.stream, second.text.as_str()),
        (Stream::Stderr, "oops")
    );
    let third = handle.console.recv().await.unwrap();
    assert_eq!(third.text, "last");
    assert_eq!(handle.wait().await.status, Status::Completed);
}
