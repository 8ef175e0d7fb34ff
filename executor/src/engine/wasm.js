// Preloaded WebAssembly modules (--wasm-module / --wasm-config). Before every run the
// engine hands `install` this run's WebAssembly.Module objects (compiled once per
// worker). Every module becomes `__wasm_<name>`; a module without imports is also
// instantiated, and `<name>` is a plain-JS facade over its exports.
//
// Heap snapshots cannot hold WebAssembly functions (V8 aborts the process), so the
// facade never holds the instance: it forwards to the current run's exports, which
// `clear` drops (with the globals) before a session's heap is snapshotted. A facade
// kept in a session (`var keep = name`) is plain JS and works again in the next run.
// bootstrap.js takes `__mcpV8Wasm` into the frozen `__mcpV8` helper.
((globalThis) => {
  "use strict";
  const defineProperty = Object.defineProperty;
  const deleteProperty = Reflect.deleteProperty;
  const ReflectApply = Reflect.apply;
  const ObjectKeys = Object.keys;
  const ObjectFreeze = Object.freeze;
  const ErrorCtor = Error;
  const ArrayJoin = Array.prototype.join;
  // name -> { exports (this run's, or null between runs), keys, facade }
  const slots = { __proto__: null };
  // WebAssembly is not in the startup snapshot's bootstrap context; it is captured on
  // the first install, before any user code has run in this heap.
  let Instance = null;
  let exportsOf = null;

  function current(name) {
    const slot = slots[name];
    if (slot === undefined || slot.exports === null) {
      throw new ErrorCtor(
        `the WebAssembly module ${name} is not loaded on this server (modules come from --wasm-module / --wasm-config)`,
      );
    }
    return slot.exports;
  }

  function facade(name, keys, exports) {
    const f = { __proto__: null };
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (typeof exports[key] === "function") {
        const fn = function (...args) {
          return ReflectApply(current(name)[key], undefined, args);
        };
        defineProperty(fn, "name", { value: key });
        defineProperty(f, key, { value: fn, enumerable: true });
      } else {
        // Memories, tables and globals: the live object of the current run.
        defineProperty(f, key, { get: () => current(name)[key], enumerable: true });
      }
    }
    if (!("exports" in f)) defineProperty(f, "exports", { value: f });
    return ObjectFreeze(f);
  }

  function setGlobal(key, value) {
    defineProperty(globalThis, key, {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }

  // list: [[name, WebAssembly.Module, instantiate], ...]. Returns the exported
  // memories, tables and globals as [[name, object], ...]: the engine checks they are
  // gone before snapshotting, since they do not lead back to the module it watches.
  function install(list) {
    const tracked = [];
    for (let i = 0; i < list.length; i++) {
      const name = list[i][0];
      const module = list[i][1];
      setGlobal(`__wasm_${name}`, module);
      if (!list[i][2]) continue;
      if (Instance === null) {
        Instance = globalThis.WebAssembly.Instance;
        exportsOf = Object.getOwnPropertyDescriptor(Instance.prototype, "exports").get;
      }
      const exports = ReflectApply(exportsOf, new Instance(module, {}), []);
      const keys = ObjectKeys(exports);
      const sig = ReflectApply(ArrayJoin, keys, ["\n"]);
      let slot = slots[name];
      if (slot === undefined || slot.sig !== sig) {
        // The first run with this module (or its exports changed): a new facade.
        slot = { exports: null, sig, facade: facade(name, keys, exports) };
        slots[name] = slot;
      }
      slot.exports = exports;
      setGlobal(name, slot.facade);
      for (let k = 0; k < keys.length; k++) {
        const value = exports[keys[k]];
        if (typeof value !== "function") tracked[tracked.length] = [name, value];
      }
    }
    return tracked;
  }

  // Drops every reference to this run's wasm objects; returns an error line if user
  // code pinned one of the globals.
  function clear(names) {
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const slot = slots[name];
      if (slot !== undefined) slot.exports = null;
      const pinned = !deleteProperty(globalThis, `__wasm_${name}`)
        ? `__wasm_${name}`
        : !deleteProperty(globalThis, name) ? name : null;
      if (pinned !== null) {
        return `the heap could not be saved: the code made globalThis.${pinned} unchangeable, and that name is reserved for a WebAssembly module`;
      }
    }
    return null;
  }

  defineProperty(globalThis, "__mcpV8Wasm", {
    value: { install, clear },
    configurable: true,
  });
})(globalThis);
