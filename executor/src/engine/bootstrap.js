// The JavaScript half of the sandbox, run once when the startup snapshot is made.
// It installs the web globals agents reach for on top of deno_core's primitives,
// and installs the frozen `__mcpV8` helper the engine calls. The host handles
// (`Deno`, `__bootstrap`) are hidden from user code by the engine (engine/host.rs).
((globalThis) => {
  "use strict";
  const core = globalThis.Deno.core;
  // io.js ran first and left the installer of the controlled-I/O globals here.
  const installIo = globalThis.__mcpV8Io;
  delete globalThis.__mcpV8Io;
  // wasm.js left the preloaded-module installer here (see its header).
  const { install: installWasm, clear: clearWasm } = globalThis.__mcpV8Wasm;
  delete globalThis.__mcpV8Wasm;
  const {
    op_mcp_console,
    op_mcp_random_fill,
    op_mcp_random_uuid,
    op_mcp_now,
    op_mcp_url_parse,
    op_mcp_url_set,
    op_mcp_btoa,
    op_mcp_atob,
    op_mcp_utf8_valid,
  } = core.ops;
  const JSONStringify = JSON.stringify;
  const ObjectPrototype = Object.prototype;
  const ObjectGetPrototypeOf = Object.getPrototypeOf;
  const ArrayIsArray = Array.isArray;
  const StringCtor = String;
  const MapCtor = Map;
  const TypeErrorCtor = TypeError;

  // ---- result and console formatting ----
  function isPlain(v) {
    if (ArrayIsArray(v)) return true;
    const proto = ObjectGetPrototypeOf(v);
    return proto === ObjectPrototype || proto === null;
  }
  function jsonOr(v, fallback) {
    try {
      const s = JSONStringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
      return s === undefined ? fallback() : s;
    } catch {
      return fallback();
    }
  }
  function safeString(v) {
    try {
      return StringCtor(v);
    } catch {
      return Object.prototype.toString.call(v);
    }
  }
  // Result text: strings as-is, other primitives stringified, plain objects and
  // arrays as JSON, anything else String(v).
  function formatResult(v) {
    if (typeof v === "string") return v;
    if (v === null || (typeof v !== "object" && typeof v !== "function")) {
      return typeof v === "bigint" ? `${v}n` : safeString(v);
    }
    if (typeof v === "object" && isPlain(v)) return jsonOr(v, () => safeString(v));
    return safeString(v);
  }
  function inspect(v) {
    if (typeof v === "string") return v;
    if (typeof v === "function") return `[Function: ${v.name || "(anonymous)"}]`;
    if (typeof v === "symbol" || typeof v === "bigint") return formatResult(v);
    if (v instanceof Error) return v.stack || safeString(v);
    if (v !== null && typeof v === "object") {
      if (v instanceof MapCtor) return `Map(${v.size}) ${jsonOr([...v], () => "{}")}`;
      if (v instanceof Set) return `Set(${v.size}) ${jsonOr([...v], () => "{}")}`;
      return jsonOr(v, () => safeString(v));
    }
    return safeString(v);
  }
  function formatArgs(args) {
    let out = "";
    for (let i = 0; i < args.length; i++) {
      if (i > 0) out += " ";
      out += inspect(args[i]);
    }
    return out;
  }

  // ---- console: every line goes to the host as it is produced ----
  const counts = new MapCtor();
  const timers = new MapCtor();
  const emit = (stream) => (...args) => op_mcp_console(stream, formatArgs(args));
  const console = {
    log: emit(0),
    info: emit(0),
    debug: emit(0),
    trace: emit(1),
    warn: emit(1),
    error: emit(1),
    dir: (v) => op_mcp_console(0, inspect(v)),
    table: (v) => op_mcp_console(0, inspect(v)),
    assert: (cond, ...args) => {
      if (!cond) op_mcp_console(1, "Assertion failed" + (args.length ? ": " + formatArgs(args) : ""));
    },
    count: (label = "default") => {
      const n = (counts.get(label) || 0) + 1;
      counts.set(label, n);
      op_mcp_console(0, `${label}: ${n}`);
    },
    countReset: (label = "default") => counts.delete(label),
    time: (label = "default") => timers.set(label, op_mcp_now()),
    timeEnd: (label = "default") => {
      const start = timers.get(label);
      if (start === undefined) return;
      timers.delete(label);
      op_mcp_console(0, `${label}: ${(op_mcp_now() - start).toFixed(3)}ms`);
    },
    timeLog: (label = "default", ...args) => {
      const start = timers.get(label);
      if (start === undefined) return;
      op_mcp_console(0, `${label}: ${(op_mcp_now() - start).toFixed(3)}ms` + (args.length ? " " + formatArgs(args) : ""));
    },
    group: () => {},
    groupEnd: () => {},
  };

  // ---- timers on deno_core's timer wheel; ids are numbers as in browsers ----
  const activeTimers = new MapCtor();
  let nextTimerId = 1;
  function schedule(callback, delay, args, repeat) {
    if (typeof callback !== "function") {
      throw new TypeErrorCtor("The callback must be a function");
    }
    const id = nextTimerId++;
    const ms = Math.max(0, Number(delay) || 0);
    const timer = core.createTimer(() => {
      if (!repeat) activeTimers.delete(id);
      callback(...args);
    }, ms, undefined, repeat, true);
    activeTimers.set(id, timer);
    return id;
  }
  function clear(id) {
    const timer = activeTimers.get(id);
    if (timer === undefined) return;
    activeTimers.delete(id);
    core.cancelTimer(timer);
  }

  // ---- text encoding (UTF-8, as in every modern runtime) ----
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") { return core.encode(StringCtor(input)); }
    encodeInto(input, dest) {
      const bytes = core.encode(StringCtor(input));
      const n = Math.min(bytes.length, dest.length);
      dest.set(bytes.subarray(0, n));
      return { read: StringCtor(input).length, written: n };
    }
  }
  class TextDecoder {
    #fatal;
    #ignoreBOM;
    constructor(label = "utf-8", options = {}) {
      const l = StringCtor(label).toLowerCase();
      if (l !== "utf-8" && l !== "utf8" && l !== "unicode-1-1-utf-8") {
        throw new RangeError(`The encoding "${label}" is not supported`);
      }
      this.#fatal = !!options.fatal;
      this.#ignoreBOM = !!options.ignoreBOM;
    }
    get encoding() { return "utf-8"; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input = new Uint8Array()) {
      let bytes = input instanceof ArrayBuffer ? new Uint8Array(input)
        : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        : new Uint8Array(0);
      if (!this.#ignoreBOM && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
        bytes = bytes.subarray(3);
      }
      if (this.#fatal && !op_mcp_utf8_valid(bytes)) {
        throw new TypeErrorCtor("The encoded data was not valid utf-8");
      }
      return core.decode(bytes);
    }
  }

  // ---- URL and URLSearchParams (WHATWG parsing done by the `url` crate) ----
  function formEncode(s) {
    return encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  }
  function formDecode(s) {
    try {
      return decodeURIComponent(s.replace(/\+/g, " "));
    } catch {
      return s;
    }
  }
  const parseUrl = (url, base) =>
    op_mcp_url_parse(StringCtor(url), base === undefined ? "" : StringCtor(base), base !== undefined);
  class URLSearchParams {
    #list = [];
    #url = null;
    constructor(init = "") {
      if (typeof init === "string" || init instanceof StringCtor) {
        this.#parse(StringCtor(init));
      } else if (init && typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const [k, v] = [...pair];
          this.#list.push([StringCtor(k), StringCtor(v)]);
        }
      } else if (init && typeof init === "object") {
        for (const k of Object.keys(init)) this.#list.push([k, StringCtor(init[k])]);
      }
    }
    #parse(s) {
      this.#list = [];
      if (s.startsWith("?")) s = s.slice(1);
      for (const part of s.split("&")) {
        if (part === "") continue;
        const i = part.indexOf("=");
        const k = i < 0 ? part : part.slice(0, i);
        const v = i < 0 ? "" : part.slice(i + 1);
        this.#list.push([formDecode(k), formDecode(v)]);
      }
    }
    static _attach(params, url, search) {
      params.#url = url;
      params.#parse(search);
    }
    #update() {
      if (this.#url) this.#url._setSearchFromParams(this.toString());
    }
    get size() { return this.#list.length; }
    append(k, v) { this.#list.push([StringCtor(k), StringCtor(v)]); this.#update(); }
    delete(k, v) {
      k = StringCtor(k);
      this.#list = this.#list.filter(([a, b]) => a !== k || (v !== undefined && b !== StringCtor(v)));
      this.#update();
    }
    get(k) { const e = this.#list.find(([a]) => a === StringCtor(k)); return e ? e[1] : null; }
    getAll(k) { return this.#list.filter(([a]) => a === StringCtor(k)).map(([, b]) => b); }
    has(k, v) { return this.#list.some(([a, b]) => a === StringCtor(k) && (v === undefined || b === StringCtor(v))); }
    set(k, v) {
      k = StringCtor(k);
      const i = this.#list.findIndex(([a]) => a === k);
      if (i < 0) this.#list.push([k, StringCtor(v)]);
      else {
        this.#list[i] = [k, StringCtor(v)];
        this.#list = this.#list.filter(([a], j) => a !== k || j === i);
      }
      this.#update();
    }
    sort() { this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this.#update(); }
    forEach(cb, thisArg) { for (const [k, v] of this.#list) cb.call(thisArg, v, k, this); }
    keys() { return this.#list.map(([k]) => k)[Symbol.iterator](); }
    values() { return this.#list.map(([, v]) => v)[Symbol.iterator](); }
    entries() { return this.#list.map(([k, v]) => [k, v])[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this.#list.map(([k, v]) => formEncode(k) + "=" + formEncode(v)).join("&"); }
  }
  class URL {
    #parts;
    #params;
    constructor(url, base) {
      const parts = parseUrl(url, base);
      if (parts === null) throw new TypeErrorCtor(`Invalid URL: '${url}'`);
      this.#parts = parts;
      this.#params = new URLSearchParams();
      URLSearchParams._attach(this.#params, this, parts.search);
    }
    static canParse(url, base) {
      return parseUrl(url, base) !== null;
    }
    static parse(url, base) {
      try { return new URL(url, base); } catch { return null; }
    }
    #set(part, value) {
      const parts = op_mcp_url_set(this.#parts.href, part, StringCtor(value));
      if (parts !== null) {
        this.#parts = parts;
        if (part === "search" || part === "href") URLSearchParams._attach(this.#params, this, parts.search);
      } else if (part === "href") {
        throw new TypeErrorCtor(`Invalid URL: '${value}'`);
      }
    }
    _setSearchFromParams(search) {
      const parts = op_mcp_url_set(this.#parts.href, "search", search);
      if (parts !== null) this.#parts = parts;
    }
    get searchParams() { return this.#params; }
    get href() { return this.#parts.href; }
    set href(v) { this.#set("href", v); }
    get origin() { return this.#parts.origin; }
    get protocol() { return this.#parts.protocol; }
    set protocol(v) { this.#set("protocol", v); }
    get username() { return this.#parts.username; }
    set username(v) { this.#set("username", v); }
    get password() { return this.#parts.password; }
    set password(v) { this.#set("password", v); }
    get host() { return this.#parts.host; }
    set host(v) { this.#set("host", v); }
    get hostname() { return this.#parts.hostname; }
    set hostname(v) { this.#set("hostname", v); }
    get port() { return this.#parts.port; }
    set port(v) { this.#set("port", v); }
    get pathname() { return this.#parts.pathname; }
    set pathname(v) { this.#set("pathname", v); }
    get search() { return this.#parts.search; }
    set search(v) { this.#set("search", v); }
    get hash() { return this.#parts.hash; }
    set hash(v) { this.#set("hash", v); }
    toString() { return this.#parts.href; }
    toJSON() { return this.#parts.href; }
  }

  // ---- base64, crypto, performance ----
  function btoa(data) {
    const s = StringCtor(data);
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) > 255) {
        throw new DOMException("The string to be encoded contains characters outside of the Latin1 range.", "InvalidCharacterError");
      }
    }
    return op_mcp_btoa(s);
  }
  function atob(data) {
    try {
      return op_mcp_atob(StringCtor(data));
    } catch {
      throw new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
    }
  }
  class DOMException extends Error {
    #name;
    constructor(message = "", name = "Error") {
      super(message);
      this.#name = name;
    }
    get name() { return this.#name; }
  }
  const crypto = {
    getRandomValues(view) {
      if (!ArrayBuffer.isView(view) || view instanceof Float32Array || view instanceof Float64Array || view instanceof DataView) {
        throw new TypeErrorCtor("crypto.getRandomValues: argument must be an integer TypedArray");
      }
      if (view.byteLength > 65536) {
        throw new DOMException(`The ArrayBufferView's byte length (${view.byteLength}) exceeds 65536`, "QuotaExceededError");
      }
      op_mcp_random_fill(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      return view;
    },
    randomUUID() { return op_mcp_random_uuid(); },
  };
  const timeOrigin = Date.now();
  const performance = {
    now: () => op_mcp_now(),
    get timeOrigin() { return timeOrigin; },
  };

  // ---- Math.random: xorshift128+ whose state the engine reseeds before every run,
  // so heaps restored from one snapshot never replay the same sequence ----
  const seedBuf = new Uint32Array(4);
  let s0 = 1, s1 = 2, s2 = 3, s3 = 4;
  function beforeRun() {
    reseed();
    // Without it errors carry no stack.
    if (typeof Error.stackTraceLimit !== "number") Error.stackTraceLimit = 10;
  }
  function reseed() {
    op_mcp_random_fill(new Uint8Array(seedBuf.buffer));
    [s0, s1, s2, s3] = seedBuf;
    if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  }
  function random() {
    // xoshiro128+ on 32-bit lanes; 53 bits of the output make the double.
    const hi = (s0 + s3) >>> 0;
    const t = (s1 << 9) >>> 0;
    s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t;
    s3 = ((s3 << 11) | (s3 >>> 21)) >>> 0;
    const hi2 = (s0 + s3) >>> 0;
    return ((hi >>> 5) * 67108864 + (hi2 >>> 6)) / 9007199254740992;
  }
  Object.defineProperty(Math, "random", { value: random, writable: true, configurable: true, enumerable: false });

  const define = (name, value) =>
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });

  // ---- what V8 leaves out of snapshotting isolates (stateful runs restore into
  // those): the native queueMicrotask deno_core's wrapper expects (promise jobs run
  // on the same microtask queue, in order), and Error.stackTraceLimit (set in
  // beforeRun: V8 adds it itself when restoring plain isolates and aborts if the
  // snapshot already has it). ----
  const PromiseThen = Promise.prototype.then;
  const resolvedPromise = Promise.resolve();
  const ReflectApply = Reflect.apply;
  define("queueMicrotask", function queueMicrotask(callback) {
    if (typeof callback !== "function") {
      throw new TypeErrorCtor("queueMicrotask: the callback must be a function");
    }
    ReflectApply(PromiseThen, resolvedPromise, [() => callback()]);
  });
  define("console", console);
  define("setTimeout", (cb, ms, ...args) => schedule(cb, ms, args, false));
  define("setInterval", (cb, ms, ...args) => schedule(cb, ms, args, true));
  define("clearTimeout", clear);
  define("clearInterval", clear);
  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
  define("URL", URL);
  define("URLSearchParams", URLSearchParams);
  define("atob", atob);
  define("btoa", btoa);
  define("DOMException", DOMException);
  define("structuredClone", (value) => core.structuredClone(value));
  define("crypto", crypto);
  define("performance", performance);

  // The only thing the engine needs from the heap; frozen and non-configurable so
  // user code can neither replace nor extend it.
  Object.defineProperty(globalThis, "__mcpV8", {
    value: Object.freeze({ formatResult, beforeRun, installIo, installWasm, clearWasm }),
    writable: false,
    configurable: false,
    enumerable: false,
  });

  // `Deno` (and deno_core's other internals) must stay in the snapshot: deno_core
  // binds ops through `globalThis.Deno.core.ops` whenever an isolate is restored.
  // The engine takes them off the global object before user code runs and puts
  // them back only to snapshot (engine/host.rs).
})(globalThis);
