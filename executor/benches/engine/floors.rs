//! Floors: what bare V8 (no deno_core, no bootstrap, no server) costs for the work a
//! run cannot avoid, measured in the same process as the engine rows so the ratio
//! between them is what the engine adds.

use std::time::Instant;

use deno_core::v8;

use super::cpu_ms;

/// CPU and wall milliseconds per call of `f`, `n` calls after one warm-up call.
fn per_call(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let c0 = cpu_ms(std::process::id());
    let t0 = Instant::now();
    for _ in 0..n {
        f();
    }
    (
        (cpu_ms(std::process::id()) - c0) / n as f64,
        t0.elapsed().as_secs_f64() * 1000.0 / n as f64,
    )
}

fn run_small(scope: &mut v8::PinScope<'_, '_>) {
    let src = v8::String::new(scope, "[1, 2, 3].map((x) => x * 2).reduce((a, b) => a + b)")
        .expect("small string");
    let value = v8::Script::compile(scope, src, None)
        .and_then(|s| s.run(scope))
        .expect("the floor script runs");
    assert!(value.is_number());
}

/// The floor under a stateless run in this design (one isolate per run): a fresh
/// isolate and context from V8's own snapshot, a small script, disposal. Another
/// isolate stays alive, as the engine's keeper does, so the read-only heap is shared.
pub fn bare_isolate_per_run(n: usize) -> (f64, f64) {
    let _keeper = v8::Isolate::new(Default::default());
    per_call(n, || {
        let mut isolate = v8::Isolate::new(Default::default());
        v8::scope!(let scope, &mut isolate);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        run_small(scope);
    })
}

/// What giving up one isolate per run would buy: a fresh context per run inside one
/// long-lived isolate (runs would then share a heap, its limit and its fate).
pub fn bare_context_per_run(n: usize) -> (f64, f64) {
    let mut isolate = v8::Isolate::new(Default::default());
    per_call(n, || {
        v8::scope!(let scope, &mut isolate);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        run_small(scope);
    })
}

/// The floor under a stateful run: restore + run + snapshot of a bare V8 context (no
/// deno_core, no bootstrap), `n` generations chained. Returns (CPU ms, wall ms, blob MB).
pub fn bare_v8_round_trips(n: usize) -> (f64, f64, f64) {
    let mut blob: Option<Vec<u8>> = None;
    let generation = |blob: &mut Option<Vec<u8>>| {
        let mut isolate = match blob.take() {
            None => v8::Isolate::snapshot_creator(None, None),
            Some(b) => v8::Isolate::snapshot_creator_from_existing_snapshot(b.into(), None, None),
        };
        {
            v8::scope!(let scope, &mut isolate);
            let context = v8::Context::new(scope, Default::default());
            let scope = &mut v8::ContextScope::new(scope, context);
            let code = v8::String::new(scope, "globalThis.n = (globalThis.n || 0) + 1").unwrap();
            v8::Script::compile(scope, code, None)
                .unwrap()
                .run(scope)
                .unwrap();
            scope.set_default_context(context);
        }
        let data = isolate.create_blob(v8::FunctionCodeHandling::Keep).unwrap();
        *blob = Some(data.to_vec());
    };
    generation(&mut blob);
    let c0 = cpu_ms(std::process::id());
    let t0 = Instant::now();
    for _ in 0..n {
        generation(&mut blob);
    }
    let size = blob.map_or(0, |b| b.len()) as f64 / 1048576.0;
    (
        (cpu_ms(std::process::id()) - c0) / n as f64,
        t0.elapsed().as_secs_f64() * 1000.0 / n as f64,
        size,
    )
}

/// The same without one isolate per run but with deno_core: a fresh copy of the
/// startup snapshot's realm (deno_core's JS and our bootstrap) per run inside one
/// live runtime's isolate. Ops, timers and the module map stay bound to the runtime's
/// own realm, so this measures only what such a design could not avoid.
pub fn deno_core_realm_per_run(js: &mut deno_core::JsRuntime, n: usize) -> (f64, f64) {
    deno_core::scope!(scope, js);
    per_call(n, || {
        v8::scope!(let scope, &mut *scope);
        // deno_core's own order: index 1 when an embedder took 0, else 0.
        let context = v8::Context::from_snapshot(scope, 1, Default::default())
            .or_else(|| v8::Context::from_snapshot(scope, 0, Default::default()))
            .expect("the startup snapshot has a realm");
        let scope = &mut v8::ContextScope::new(scope, context);
        run_small(scope);
    })
}
