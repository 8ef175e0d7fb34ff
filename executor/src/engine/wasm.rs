//! Preloaded WebAssembly modules inside a worker. Each module is compiled once, in
//! the first run's isolate (the worker's warm-up run), and every later isolate gets a
//! `WebAssembly.Module` made from that compiled code without recompiling
//! (`WasmModuleObject::from_compiled_module`, microseconds instead of the milliseconds
//! a full compile costs). engine/wasm.js installs the globals per run and removes them
//! before a heap snapshot, which V8 cannot take while wasm functions are reachable.

use std::cell::RefCell;
use std::time::Instant;

use deno_core::{JsRuntime, v8};
use sha2::{Digest, Sha256};

use crate::io::wasm::WasmModule;

struct Entry {
    name: String,
    bytes: Vec<u8>,
    instantiate: bool,
    compiled: RefCell<Option<v8::CompiledWasmModule>>,
}

/// The worker's modules.
pub struct Preloaded(Vec<Entry>);

/// Weak handles on a run's wasm objects: the modules (every instance holds its module)
/// and the exported memories, tables and globals. Whatever is still alive after the
/// globals are cleared and a full GC is referenced by user code, and snapshotting would
/// abort the worker.
#[derive(Default)]
pub struct Tracked(Vec<(String, v8::Weak<v8::Value>)>);

impl Tracked {
    /// Adds the `[[name, object], ...]` list `__mcpV8.installWasm` returned.
    pub fn add_list(&mut self, js: &mut JsRuntime, list: &v8::Global<v8::Value>) {
        deno_core::scope!(scope, js);
        let list = v8::Local::new(scope, list);
        let Ok(list) = v8::Local::<v8::Array>::try_from(list) else {
            return;
        };
        for i in 0..list.length() {
            let Some(pair) = list
                .get_index(scope, i)
                .and_then(|p| v8::Local::<v8::Array>::try_from(p).ok())
            else {
                continue;
            };
            if let (Some(name), Some(value)) = (pair.get_index(scope, 0), pair.get_index(scope, 1))
            {
                let name = name.to_rust_string_lossy(scope);
                self.0.push((name, v8::Weak::new(scope, value)));
            }
        }
    }

    /// After a full GC: the module whose objects user code still references, if any.
    pub fn still_alive(&self, js: &mut JsRuntime) -> Option<&str> {
        if self.0.is_empty() {
            return None;
        }
        js.v8_isolate().low_memory_notification();
        self.0
            .iter()
            .find(|(_, weak)| !weak.is_empty())
            .map(|(name, _)| name.as_str())
    }
}

impl Preloaded {
    /// Reads the bytes the server verified, checking they did not change since.
    pub fn load(modules: &[WasmModule]) -> Result<Self, String> {
        modules
            .iter()
            .map(|m| {
                let bytes = std::fs::read(&m.path)
                    .map_err(|e| format!("cannot read {}: {e}", m.path.display()))?;
                if hex::encode(Sha256::digest(&bytes)) != m.sha256 {
                    return Err(format!(
                        "{} changed after the server verified it",
                        m.path.display()
                    ));
                }
                Ok(Entry {
                    name: m.name.clone(),
                    bytes,
                    instantiate: m.instantiate,
                    compiled: RefCell::new(None),
                })
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `[[name, WebAssembly.Module, instantiate], ...]` for this isolate, the argument
    /// of `__mcpV8.installWasm`.
    pub fn modules(
        &self,
        js: &mut JsRuntime,
        tracked: &mut Tracked,
    ) -> Result<v8::Global<v8::Value>, String> {
        deno_core::scope!(scope, js);
        v8::tc_scope!(let tc, scope);
        let mut items = Vec::with_capacity(self.0.len());
        for entry in &self.0 {
            let started = Instant::now();
            let cached = entry
                .compiled
                .borrow()
                .as_ref()
                .map(|c| v8::WasmModuleObject::from_compiled_module(tc, c));
            if cached.is_some() {
                tracing::debug!(
                    module = %entry.name,
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "recreated WebAssembly module"
                );
            }
            let module = match cached {
                Some(Some(m)) => m,
                Some(None) => {
                    return Err(format!(
                        "Error: the WebAssembly module {} could not be recreated",
                        entry.name
                    ));
                }
                None => {
                    let Some(m) = v8::WasmModuleObject::compile(tc, &entry.bytes) else {
                        let why = tc
                            .exception()
                            .map(|e| e.to_rust_string_lossy(tc))
                            .unwrap_or_else(|| "compilation failed".into());
                        return Err(format!(
                            "Error: the WebAssembly module {} does not compile: {why}",
                            entry.name
                        ));
                    };
                    tracing::debug!(
                        module = %entry.name,
                        bytes = entry.bytes.len(),
                        ms = started.elapsed().as_secs_f64() * 1e3,
                        "compiled WebAssembly module"
                    );
                    *entry.compiled.borrow_mut() = Some(m.get_compiled_module());
                    m
                }
            };
            let as_value: v8::Local<'_, v8::Value> = module.into();
            tracked
                .0
                .push((entry.name.clone(), v8::Weak::new(tc, as_value)));
            let name = v8::String::new(tc, &entry.name).ok_or("module name too long")?;
            let flag = v8::Boolean::new(tc, entry.instantiate);
            let triple = [name.into(), module.into(), flag.into()];
            items.push(v8::Array::new_with_elements(tc, &triple).into());
        }
        let list: v8::Local<'_, v8::Value> = v8::Array::new_with_elements(tc, &items).into();
        Ok(v8::Global::new(tc, list))
    }

    /// The module names, the argument of `__mcpV8.clearWasm`.
    pub fn names(&self, js: &mut JsRuntime) -> v8::Global<v8::Value> {
        deno_core::scope!(scope, js);
        let names: Vec<v8::Local<'_, v8::Value>> = self
            .0
            .iter()
            .map(|e| {
                v8::String::new(scope, &e.name)
                    .expect("names are short")
                    .into()
            })
            .collect();
        let list: v8::Local<'_, v8::Value> = v8::Array::new_with_elements(scope, &names).into();
        v8::Global::new(scope, list)
    }
}
