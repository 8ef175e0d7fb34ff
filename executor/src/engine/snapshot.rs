//! Heap snapshot plumbing: lending snapshot bytes to an isolate for exactly its
//! lifetime, exposing `WebAssembly` in snapshotting isolates, and the engine
//! fingerprint every snapshot is stored with.
#![allow(unsafe_code)]

use std::ffi::c_void;

use deno_core::v8;
use sha2::{Digest, Sha256};

/// Bytes lent to V8 as `&'static [u8]` (what deno_core's `startup_snapshot` wants)
/// and freed when the lease is dropped. The original mcp-v8 leaked every restored
/// snapshot; here the owner must drop the runtime before the lease, which
/// [`super::runtime::Isolate`] guarantees by field order.
pub struct LeasedBlob {
    ptr: *mut [u8],
}

impl LeasedBlob {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            ptr: Box::into_raw(bytes.into_boxed_slice()),
        }
    }

    /// The bytes with a `'static` lifetime. Valid until this lease is dropped.
    pub fn as_static(&self) -> &'static [u8] {
        // SAFETY: `ptr` is a live boxed slice owned by `self`; callers keep every
        // user of the returned slice (the isolate) shorter-lived than `self`.
        unsafe { &*self.ptr }
    }
}

impl Drop for LeasedBlob {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `Box::into_raw` and is freed exactly once, after
        // the isolate that read it is gone.
        unsafe { drop(Box::from_raw(self.ptr)) };
    }
}

unsafe extern "C" {
    // `v8::internal::WasmJs::Install(v8::internal::Isolate*)`. V8 skips it in
    // isolates that will be snapshotted (bootstrapper.cc returns early when the
    // serializer is enabled), which is why deno_core's snapshotting runtime has no
    // `WebAssembly` global. The namespace object itself is prepared in every native
    // context; Install only exposes it, so calling it once while building the
    // startup snapshot gives every heap derived from it a working `WebAssembly`.
    #[link_name = "_ZN2v88internal6WasmJs7InstallEPNS0_7IsolateE"]
    fn v8_internal_wasm_js_install(isolate: *mut c_void);

    // rusty_v8's C glue for `Isolate::SetWasmStreamingCallback`; null unsets it.
    fn v8__Isolate__SetWasmStreamingCallback(isolate: *mut c_void, callback: *const c_void);
}

/// Exposes `WebAssembly` on the global object of the isolate's current context.
///
/// Only what the snapshot serializer can encode is installed: V8 builtins. The
/// streaming functions (installed only while a streaming callback is set) and JS
/// promise integration (skipped under `--wasm-jitless`) are C++ callbacks the
/// serializer cannot name, so the caller runs this with that flag set and the
/// callback is unset here.
pub fn install_webassembly(isolate: &mut v8::Isolate) {
    // SAFETY: `v8::Isolate` wraps the `v8::Isolate*` of the C++ API, which V8 casts
    // to `internal::Isolate*` itself; `UnsafeRawIsolatePtr` is a transparent pointer.
    // The caller has entered a context (Install reads the current native context)
    // and no JS is running. A null streaming callback is V8's "none".
    unsafe {
        let raw = isolate.as_raw_isolate_ptr();
        let ptr = std::mem::transmute::<v8::UnsafeRawIsolatePtr, *mut c_void>(raw);
        v8__Isolate__SetWasmStreamingCallback(ptr, std::ptr::null());
        v8_internal_wasm_js_install(ptr);
    }
}

/// Identifies what made a snapshot: the V8 build, the flags, the bootstrap JS and the
/// ops it binds. Snapshots only restore under the same fingerprint.
pub fn fingerprint(flags: &str) -> String {
    fingerprint_of(flags, &super::ops::mcp_v8_runtime::init().ops)
}

fn fingerprint_of(flags: &str, ops: &[deno_core::OpDecl]) -> String {
    let mut h = Sha256::new();
    h.update(include_bytes!("io.js"));
    h.update(include_bytes!("wasm.js"));
    h.update(include_bytes!("bootstrap.js"));
    // Snapshots hold op bindings by position in the external reference table, so a
    // changed op list makes old snapshots unrestorable even when the JS is the same.
    for op in ops {
        h.update(op.name.as_bytes());
        h.update([op.arg_count, u8::from(op.is_async)]);
    }
    h.update(flags.as_bytes());
    let digest = hex::encode(h.finalize());
    format!(
        "v8-{}/deno_core-0.413.0/{}",
        v8::V8::get_version(),
        &digest[..16]
    )
}

/// Mangled names of the JS-promise-integration callbacks that `WasmJs::Install`
/// installs (`WebAssembly.Suspending`, `WebAssembly.promising`). V8's own external
/// reference table lacks them because V8 never installs `WebAssembly` in isolates it
/// snapshots, and they live in an anonymous namespace, so they cannot be linked by
/// name: their addresses come from this executable's symbol table instead.
const JSPI_CALLBACKS: [&str; 2] = [
    "_ZN2v812_GLOBAL__N_125WebAssemblySuspendingImplERKNS_20FunctionCallbackInfoINS_5ValueEEE",
    "_ZN2v812_GLOBAL__N_120WebAssemblyPromisingERKNS_20FunctionCallbackInfoINS_5ValueEEE",
];
const INSTALL_SYMBOL: &str = "_ZN2v88internal6WasmJs7InstallEPNS0_7IsolateE";

/// A stand-in reference, so that every process registers the same number of
/// external references whether or not the callbacks were found.
extern "C" fn missing_callback() {}

/// External references every isolate of this engine registers (same list, same
/// order in the snapshot builder and every worker). `Err` says why WebAssembly
/// cannot be offered in snapshotting isolates on this build (e.g. a stripped binary).
pub fn wasm_external_references() -> (Vec<v8::ExternalReference>, Result<(), String>) {
    static FOUND: std::sync::OnceLock<Result<Vec<usize>, String>> = std::sync::OnceLock::new();
    let found = FOUND.get_or_init(find_callbacks);
    let addrs: Vec<usize> = match found {
        Ok(a) => a.clone(),
        Err(_) => vec![missing_callback as *const () as usize; JSPI_CALLBACKS.len()],
    };
    let refs = addrs
        .into_iter()
        .map(|a| v8::ExternalReference {
            pointer: a as *mut c_void,
        })
        .collect();
    (refs, found.as_ref().map(|_| ()).map_err(Clone::clone))
}

fn find_callbacks() -> Result<Vec<usize>, String> {
    use object::{Object, ObjectSymbol};
    let exe =
        std::fs::read("/proc/self/exe").map_err(|e| format!("cannot read /proc/self/exe: {e}"))?;
    let file =
        object::File::parse(&*exe).map_err(|e| format!("cannot parse the executable: {e}"))?;
    let mut install = None;
    let mut callbacks = [None; JSPI_CALLBACKS.len()];
    for sym in file.symbols() {
        let Ok(name) = sym.name() else { continue };
        if name == INSTALL_SYMBOL {
            install = Some(sym.address());
        } else if let Some(i) = JSPI_CALLBACKS.iter().position(|c| *c == name) {
            callbacks[i] = Some(sym.address());
        }
    }
    let install = install.ok_or("the executable has no symbol table (was it stripped?)")?;
    // PIE load bias: where Install is now minus where the symbol table says it is.
    let bias = (v8_internal_wasm_js_install as *const () as usize).wrapping_sub(install as usize);
    callbacks
        .iter()
        .map(|c| {
            c.map(|a| (a as usize).wrapping_add(bias))
                .ok_or_else(|| "V8 callback symbols not found".to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_the_op_list() {
        let ops = super::super::ops::mcp_v8_runtime::init().ops.into_owned();
        assert!(ops.len() > 2);
        let all = fingerprint_of("", &ops);
        assert_eq!(all, fingerprint(""));
        assert_ne!(all, fingerprint_of("", &ops[1..]), "an op removed");
        let mut swapped = ops.clone();
        swapped.swap(0, 1);
        assert_ne!(all, fingerprint_of("", &swapped), "ops reordered");
        assert_ne!(all, fingerprint_of("--stateful", &ops), "other flags");
    }
}
