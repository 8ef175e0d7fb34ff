//! Building isolates: the startup snapshot, and per-run runtimes restored from it or
//! from a session heap, with the run's limits installed.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use deno_core::{JsRuntime, JsRuntimeForSnapshot, RuntimeOptions, v8};

use super::limits::{Stop, StopFlag, counting_allocator};
use super::loader::Loader;
use super::ops::{TimeOrigin, mcp_v8_runtime};
use super::snapshot::{LeasedBlob, install_webassembly, wasm_external_references};
use crate::io::modules::Modules;

/// Our extension, with the external references snapshots of this engine need.
fn extension() -> deno_core::Extension {
    let mut ext = mcp_v8_runtime::init();
    ext.external_references = Cow::Owned(wasm_external_references().0);
    ext
}

/// Builds the startup snapshot: deno_core's core JS plus our bootstrap. With
/// `webassembly_global`, `WebAssembly` is exposed for snapshotting isolates, which
/// V8 would otherwise never do (see [`install_webassembly`]).
pub fn make_startup_snapshot(webassembly_global: bool) -> Vec<u8> {
    let mut rt = JsRuntimeForSnapshot::new(RuntimeOptions {
        extensions: vec![extension()],
        ..Default::default()
    });
    // Every run calls these helpers; compiled here, their bytecode ships in the
    // snapshot (deno_core keeps function code) instead of being compiled lazily in
    // every isolate. installIo(0) only removes globals it defined, and there are none.
    // Not beforeRun: it defines Error.stackTraceLimit, which V8 adds again to every
    // context made from the snapshot (a duplicate property is a fatal check).
    rt.execute_script(
        "<warm-up>",
        "__mcpV8.installIo(0); \
         for (const v of [1, 'x', undefined, null, {a: [1, 'x']}, [1], 1n, () => 1]) __mcpV8.formatResult(v);",
    )
    .expect("the bootstrap helpers run");
    let webassembly_global = match (webassembly_global, wasm_external_references().1) {
        (true, Err(why)) => {
            tracing::warn!(reason = %why, "WebAssembly is unavailable in stateful runs");
            false
        }
        (wanted, _) => wanted,
    };
    if webassembly_global {
        // WasmJs::Install re-creates WebAssembly.Module on top of the source-phase
        // import machinery when that flag is on, and that machinery is never set up
        // in snapshotting contexts. The snapshot builder runs with unfrozen flags
        // (see worker::make_snapshot) so it can turn the flag off for this call.
        v8::V8::set_flags_from_string("--no-js-source-phase-imports");
        deno_core::scope!(scope, &mut *rt);
        install_webassembly(scope);
    }
    rt.snapshot().into_vec()
}

/// V8 heap the runtime itself needs (deno_core, the bootstrap, and the serializer's
/// headroom when snapshotting) on top of what a run may use: a snapshotting isolate
/// cannot restore and re-snapshot even an empty heap in less than ~7 MB.
pub const RUNTIME_HEAP_ALLOWANCE: usize = 4 << 20;

/// One run's isolate. Field order matters: the runtime is dropped before the
/// snapshot bytes it was restored from.
pub struct Isolate {
    runtime: Runtime,
    _heap: Option<LeasedBlob>,
}

enum Runtime {
    Plain(JsRuntime),
    Snapshotting(JsRuntimeForSnapshot),
}

impl Isolate {
    /// A runtime restored from `heap` (a session snapshot) or else from `startup`.
    /// `snapshotting` isolates can be snapshotted after the run.
    pub fn new(
        snapshotting: bool,
        startup: &'static [u8],
        heap: Option<Vec<u8>>,
        heap_bytes: usize,
        stop: &Arc<StopFlag>,
        modules: Rc<Modules>,
    ) -> Self {
        let heap = heap.map(LeasedBlob::new);
        let blob = heap.as_ref().map_or(startup, LeasedBlob::as_static);
        let params = v8::CreateParams::default()
            .heap_limits(0, heap_bytes + RUNTIME_HEAP_ALLOWANCE)
            .array_buffer_allocator(counting_allocator(heap_bytes, stop.clone()));
        let options = RuntimeOptions {
            extensions: vec![extension()],
            startup_snapshot: Some(blob),
            create_params: Some(params),
            module_loader: Some(Rc::new(Loader { modules })),
            // Every snapshot this engine restores (startup or session heap) was made
            // by this extension with the same ops, whose bindings it already holds;
            // re-binding them cost ~5% of a stateless and ~3% of a stateful run.
            skip_op_registration: true,
            ..Default::default()
        };
        let mut runtime = if snapshotting {
            Runtime::Snapshotting(JsRuntimeForSnapshot::new(options))
        } else {
            Runtime::Plain(JsRuntime::new(options))
        };
        let js = runtime.js();
        stop.attach(js.v8_isolate().thread_safe_handle());
        js.op_state().borrow_mut().put(TimeOrigin(Instant::now()));
        let flag = stop.clone();
        let mut raised = false;
        js.add_near_heap_limit_callback(move |current, _initial| {
            flag.stop(Stop::HeapLimit);
            // Room for the termination to unwind, once; a second request means
            // termination is not taking effect and V8 may end the worker.
            if raised {
                current
            } else {
                raised = true;
                current.saturating_mul(2)
            }
        });
        Self {
            runtime,
            _heap: heap,
        }
    }

    pub fn js(&mut self) -> &mut JsRuntime {
        self.runtime.js()
    }

    /// Snapshots the heap, consuming the isolate. `None` for non-snapshotting isolates.
    pub fn snapshot(self) -> Option<Vec<u8>> {
        let Isolate {
            runtime,
            _heap: heap,
        } = self;
        let bytes = match runtime {
            Runtime::Snapshotting(rt) => Some(rt.snapshot().into_vec()),
            Runtime::Plain(rt) => {
                drop(rt);
                None
            }
        };
        drop(heap);
        bytes
    }
}

impl Runtime {
    fn js(&mut self) -> &mut JsRuntime {
        match self {
            Runtime::Plain(rt) => rt,
            Runtime::Snapshotting(rt) => rt,
        }
    }
}
