//! Keeps deno_core's internals (`Deno.core.ops` and friends) out of user code's reach.
//!
//! deno_core needs `globalThis.Deno.core` to bind ops each time an isolate is restored
//! from a snapshot, so those globals live in every snapshot. Before user code runs,
//! the engine takes them off the global object and holds them in Rust; only the
//! snapshot of a completed run gets them back, put there by the engine itself, so
//! nothing the code did to those names can reach the next restore.

use deno_core::{JsRuntime, v8};

/// Globals deno_core installs for itself.
const HOST_GLOBALS: [&str; 2] = ["Deno", "__bootstrap"];

/// The hidden globals of one isolate.
pub struct Hidden(Vec<(&'static str, v8::Global<v8::Value>)>);

/// Removes the host globals, returning them for [`restore`].
pub fn hide(js: &mut JsRuntime) -> Hidden {
    deno_core::scope!(scope, js);
    let global = scope.get_current_context().global(scope);
    let mut kept = Vec::new();
    for name in HOST_GLOBALS {
        let key = v8::String::new(scope, name).expect("small string");
        if let Some(value) = global.get(scope, key.into())
            && !value.is_undefined()
        {
            kept.push((name, v8::Global::new(scope, value)));
            global.delete(scope, key.into());
        }
    }
    Hidden(kept)
}

/// Puts the host globals back (just before snapshotting). Fails when user code made
/// one of those names undeletable, in which case the heap must not be saved.
pub fn restore(js: &mut JsRuntime, hidden: Hidden) -> Result<(), String> {
    deno_core::scope!(scope, js);
    let global = scope.get_current_context().global(scope);
    for (name, value) in hidden.0 {
        let key = v8::String::new(scope, name).expect("small string");
        let value = v8::Local::new(scope, value);
        let deleted = global.delete(scope, key.into()).unwrap_or(false);
        let set = deleted
            && global
                .define_own_property(scope, key.into(), value, v8::PropertyAttribute::DONT_ENUM)
                .unwrap_or(false);
        if !set {
            return Err(format!(
                "the heap could not be saved: the code made globalThis.{name} unchangeable, and that name is reserved by the engine"
            ));
        }
    }
    Ok(())
}
