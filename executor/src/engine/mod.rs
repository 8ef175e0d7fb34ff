//! The V8 engine as it runs inside a worker process: one isolate per run, created
//! from the startup snapshot (stateless) or from the session's heap snapshot
//! (stateful), with the run's limits; the result is reported before the heap is
//! snapshotted so a failed snapshot never loses it.

pub mod chain;
pub mod host;
pub mod io_ops;
pub mod limits;
pub mod loader;
pub mod ops;
pub mod runtime;
pub mod snapshot;
pub mod toplevel_await;
pub mod transform;
pub mod wasm;

use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;

use deno_core::error::{CoreError, CoreErrorKind, JsError};
use deno_core::{JsRuntime, PollEventLoopOptions, v8};

use crate::io::IoConfig;
use crate::io::modules::Modules;
use crate::ipc::{Ending, RunLimits};
use io_ops::Gates;
use limits::{Stop, StopFlag};
use ops::ConsoleSink;
use runtime::Isolate;

/// V8 flags the engine adds to deno_core's. They do not change what a snapshot
/// contains, so they stay out of the fingerprint.
pub const ENGINE_FLAGS: &str =
    // WebAssembly memories live outside the heap and the ArrayBuffer allocator: cap
    // each at 64 MiB (1024 pages), the largest heap a run may ask for. The worker's
    // RSS watchdog catches many memories at once.
    "--wasm-max-mem-pages=1024";

/// How one run ended, as reported to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub ending: Ending,
    pub result: Option<String>,
    pub error: Option<String>,
}

impl RunReport {
    fn failed(error: String) -> Self {
        Self {
            ending: Ending::Failed,
            result: None,
            error: Some(error),
        }
    }
}

/// One worker's engine: the startup snapshot and the event loop runs are driven on.
pub struct Engine {
    snapshotting: bool,
    startup: &'static [u8],
    /// Plain workers keep one idle isolate alive: V8 shares the read-only heap
    /// between live isolates made from one snapshot, and rebuilt it for every run
    /// when each run's isolate was the only one (~20% of a stateless run's CPU).
    /// Snapshotting workers restore each isolate from a different session heap.
    _keeper: Option<Isolate>,
    sources: Option<chain::StartupSources>,
    modules: Rc<Modules>,
    gates: Gates,
    wasm: wasm::Preloaded,
    rt: tokio::runtime::Runtime,
    /// Nanoseconds the last run's isolate took to create (read by the worker for metrics).
    isolate_nanos: std::sync::atomic::AtomicU64,
    /// A snapshotting isolate was dropped unfreed; the worker should retire.
    leaked: std::cell::Cell<bool>,
}

impl Engine {
    /// `startup` lives as long as the process (one per worker, never per run).
    pub fn new(snapshotting: bool, startup: Vec<u8>, io: &IoConfig) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (modules, gates) = {
            let _enter = rt.enter();
            let modules = Modules::new(&io.modules).map_err(std::io::Error::other)?;
            let fetch = io
                .fetch
                .as_ref()
                .map(crate::io::fetch::Fetcher::new)
                .transpose()
                .map_err(std::io::Error::other)?;
            let fs = io
                .fs
                .as_ref()
                .map(crate::io::fs::Policy::compile)
                .transpose()
                .map_err(std::io::Error::other)?;
            (
                Rc::new(modules),
                Gates {
                    fetch: fetch.map(Rc::new),
                    fs: fs.map(Rc::new),
                },
            )
        };
        let wasm = wasm::Preloaded::load(&io.wasm).map_err(std::io::Error::other)?;
        let sources = if snapshotting {
            Some(chain::StartupSources::from_startup(&startup).map_err(std::io::Error::other)?)
        } else {
            None
        };
        let startup: &'static [u8] = Box::leak(startup.into_boxed_slice());
        let keeper = (!snapshotting).then(|| {
            let _enter = rt.enter();
            Isolate::new(
                false,
                startup,
                None,
                1 << 20,
                &Arc::new(StopFlag::default()),
                modules.clone(),
            )
        });
        Ok(Self {
            snapshotting,
            startup,
            _keeper: keeper,
            sources,
            modules,
            gates,
            wasm,
            rt,
            isolate_nanos: std::sync::atomic::AtomicU64::new(0),
            leaked: std::cell::Cell::new(false),
        })
    }

    /// How long the last run's isolate took to create (startup snapshot or session heap).
    pub fn last_isolate_setup(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(
            self.isolate_nanos
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    /// Whether an isolate was left unfreed since the last call (the process should
    /// be replaced rather than accumulate them).
    pub fn take_leaked(&self) -> bool {
        self.leaked.replace(false)
    }

    /// Whether completed runs end with a heap snapshot.
    pub fn will_snapshot(&self) -> bool {
        self.snapshotting
    }

    /// Runs `code`, calls `report` with the outcome, then (stateful, completed runs
    /// only) returns the new heap snapshot or why there is none.
    pub fn run(
        &self,
        code: &str,
        heap: Option<Vec<u8>>,
        limits: &RunLimits,
        stop: &Arc<StopFlag>,
        console: ops::ConsoleFn,
        report: impl FnOnce(&RunReport),
    ) -> Option<Result<Vec<u8>, String>> {
        // Zero until this run's isolate exists (code that does not parse never gets one).
        self.isolate_nanos
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let script = match transform::to_script(code) {
            Ok(s) => s,
            Err(e) => {
                report(&RunReport::failed(e.to_string()));
                return None;
            }
        };
        let _enter = self.rt.enter();
        let created = std::time::Instant::now();
        let mut isolate = Isolate::new(
            self.snapshotting,
            self.startup,
            heap,
            limits.heap_bytes,
            stop,
            self.modules.clone(),
        );
        self.isolate_nanos.store(
            u64::try_from(created.elapsed().as_nanos()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        {
            let state = isolate.js().op_state();
            let mut state = state.borrow_mut();
            state.put(ConsoleSink::new(limits.max_output_bytes, console));
            state.put(self.gates.clone());
        }
        let hidden = host::hide(isolate.js());
        // Declared after the isolate, so dropped before it.
        let mut tracked = wasm::Tracked::default();
        let outcome = self.evaluate(isolate.js(), script.source, stop, &mut tracked);
        let outcome = match stop.reason() {
            Some(Stop::HeapLimit) => RunReport::failed(format!(
                "RangeError: heap limit exceeded (the run used more than its {} MB; raise heap_memory_max_mb or use less memory)",
                limits.heap_bytes >> 20
            )),
            Some(Stop::TimedOut) => RunReport {
                ending: Ending::TimedOut,
                result: None,
                error: Some(format!(
                    "execution timed out after {} ms",
                    limits.timeout_ms
                )),
            },
            Some(Stop::Cancelled) => RunReport {
                ending: Ending::Cancelled,
                result: None,
                error: Some("execution cancelled".into()),
            },
            None => match outcome {
                Ok(text) => RunReport {
                    ending: Ending::Completed,
                    result: Some(text),
                    error: None,
                },
                Err(e) => RunReport::failed(e),
            },
        };
        report(&outcome);
        if !self.snapshotting {
            return None;
        }
        if outcome.ending != Ending::Completed {
            if stop.reason().is_some() {
                // Stopped mid-flight: V8 may abort serialising such a heap, so the
                // isolate is left unfreed and the worker retires instead.
                self.leaked.set(true);
                return None;
            }
            // Handles held outside the heap would abort the serializer.
            drop(hidden);
            drop(tracked);
            dispose(isolate);
            return None;
        }
        // The console sink holds the pipe writer; it must not end up in the heap's
        // lifetime, and ops never run during snapshotting anyway.
        isolate
            .js()
            .op_state()
            .borrow_mut()
            .try_take::<ConsoleSink>();
        isolate.js().op_state().borrow_mut().try_take::<Gates>();
        let refused = self
            .clear_wasm(isolate.js(), &tracked)
            .and_then(|()| host::restore(isolate.js(), hidden));
        if let Err(e) = refused {
            // This heap cannot be serialised, so the isolate cannot be freed either
            // (see dispose): the worker hands over to a fresh process.
            self.leaked.set(true);
            return Some(Err(e));
        }
        let snap = std::panic::catch_unwind(AssertUnwindSafe(|| isolate.snapshot()));
        Some(match snap {
            Ok(Some(bytes)) => match &self.sources {
                Some(sources) => sources.rechain(&bytes),
                None => Ok(bytes),
            },
            Ok(None) => Err("this isolate cannot be snapshotted".into()),
            Err(_) => Err("V8 failed while snapshotting the heap".into()),
        })
    }

    fn evaluate(
        &self,
        js: &mut JsRuntime,
        source: String,
        stop: &StopFlag,
        tracked: &mut wasm::Tracked,
    ) -> Result<String, String> {
        call_helper(js, "beforeRun", None)?;
        let bits = u8::from(self.gates.fetch.is_some()) | (u8::from(self.gates.fs.is_some()) << 1);
        let bits = {
            deno_core::scope!(scope, js);
            let n: v8::Local<'_, v8::Value> = v8::Integer::new(scope, i32::from(bits)).into();
            v8::Global::new(scope, n)
        };
        call_helper(js, "installIo", Some(&bits))?;
        if !self.wasm.is_empty() {
            let list = self.wasm.modules(js, tracked)?;
            let exported = call_helper(js, "installWasm", Some(&list))?;
            tracked.add_list(js, &exported);
        }
        let value = js
            .execute_script("<run>", source)
            .map_err(|e| js_error_line(&e))?;
        let value = self
            .rt
            .block_on(async {
                let work = async {
                    let settled = js.resolve(value);
                    let v = js
                        .with_event_loop_promise(settled, PollEventLoopOptions::default())
                        .await?;
                    // Timers and promises the run left behind finish before the heap
                    // is captured, as a script's process would before exiting.
                    js.run_event_loop(PollEventLoopOptions::default()).await?;
                    Ok::<_, CoreError>(Some(v))
                };
                tokio::select! {
                    r = work => r,
                    // Stopped while waiting on I/O or a timer: the caller reports why.
                    () = stop.stopped() => Ok(None),
                }
            })
            .map_err(|e| core_error_line(&e))?
            .ok_or_else(|| "Error: execution terminated".to_owned())?;
        let text = call_helper(js, "formatResult", Some(&value))?;
        deno_core::scope!(scope, js);
        let local = v8::Local::new(scope, text);
        Ok(local.to_rust_string_lossy(scope))
    }
}

/// Frees a snapshotting isolate whose heap is not kept. deno_core leaks such an
/// isolate when it is dropped without a snapshot (~2 MB each, more for big heaps), so
/// one is made and thrown away. Only for runs that ended on their own: a run stopped
/// from outside (timeout, cancel, heap limit) can leave V8 mid-operation, and
/// serialising that heap has aborted the process; its worker retires instead.
fn dispose(mut isolate: Isolate) {
    isolate.js().v8_isolate().cancel_terminate_execution();
    // A panic here only means the isolate stays leaked, as without this.
    let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(isolate.snapshot())));
}

impl Engine {
    /// Takes the run's wasm objects out of the heap before it is snapshotted.
    fn clear_wasm(&self, js: &mut JsRuntime, tracked: &wasm::Tracked) -> Result<(), String> {
        if self.wasm.is_empty() {
            return Ok(());
        }
        let names = self.wasm.names(js);
        let pinned = call_helper(js, "clearWasm", Some(&names))?;
        {
            deno_core::scope!(scope, js);
            let pinned = v8::Local::new(scope, pinned);
            if pinned.is_string() {
                return Err(pinned.to_rust_string_lossy(scope));
            }
        }
        match tracked.still_alive(js) {
            Some(name) => Err(format!(
                "the heap could not be saved: it still references the WebAssembly module {name} \
                 (a WebAssembly.Module, Instance, Memory, Table or exported function kept in a binding), \
                 and V8 cannot snapshot those. Use the `{name}` global (it may be kept), or create and use \
                 instances inside a function"
            )),
            None => Ok(()),
        }
    }
}

/// Calls `globalThis.__mcpV8[name](arg)`, the frozen helper the bootstrap installs.
fn call_helper(
    js: &mut JsRuntime,
    name: &str,
    arg: Option<&v8::Global<v8::Value>>,
) -> Result<v8::Global<v8::Value>, String> {
    deno_core::scope!(scope, js);
    v8::tc_scope!(let tc, scope);
    let global = tc.get_current_context().global(tc);
    let key = v8::String::new(tc, "__mcpV8").expect("small string");
    let name_key = v8::String::new(tc, name).expect("small string");
    let func = global
        .get(tc, key.into())
        .and_then(|h| v8::Local::<v8::Object>::try_from(h).ok())
        .and_then(|h| h.get(tc, name_key.into()))
        .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
        .ok_or_else(|| {
            format!("Error: the engine helper __mcpV8.{name} is missing from this heap")
        })?;
    let recv: v8::Local<'_, v8::Value> = v8::undefined(tc).into();
    let args: Vec<v8::Local<'_, v8::Value>> =
        arg.into_iter().map(|a| v8::Local::new(tc, a)).collect();
    match func.call(tc, recv, &args) {
        Some(v) => Ok(v8::Global::new(tc, v)),
        None => match tc.exception() {
            Some(exception) => Err(js_error_line(&JsError::from_v8_exception(tc, exception))),
            None => Err("Error: execution terminated".into()),
        },
    }
}

/// `Name: message`, the one-line error of the interface contract.
pub fn js_error_line(e: &JsError) -> String {
    match (&e.name, &e.message) {
        (Some(name), Some(msg)) if !name.is_empty() => format!("{name}: {msg}"),
        (None, Some(msg)) | (Some(_), Some(msg)) => format!("Error: {msg}"),
        _ => e
            .exception_message
            .strip_prefix("Uncaught ")
            .unwrap_or(&e.exception_message)
            .to_owned(),
    }
}

fn core_error_line(e: &CoreError) -> String {
    match &*e.0 {
        CoreErrorKind::Js(js) => js_error_line(js),
        other => format!("Error: {other}"),
    }
}
