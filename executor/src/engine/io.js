// Controlled I/O for user code: `fetch` (with Headers and Response) and `fs`, built
// on ops that enforce the server's gates. Nothing here is a global until the engine
// calls installIo for a run on a server that enables it. bootstrap.js (which runs
// next) takes `__mcpV8Io` into the frozen `__mcpV8` helper.
((globalThis) => {
  "use strict";
  const core = globalThis.Deno.core;
  const { op_mcp_fetch, op_mcp_fs } = core.ops;
  const encode = core.encode;
  const decode = core.decode;
  const TypeErrorCtor = TypeError;
  const U8 = Uint8Array;
  const ArrayBufferCtor = ArrayBuffer;
  const isView = ArrayBuffer.isView;
  const JSONParse = JSON.parse;
  const StringCtor = String;
  const ObjectFreeze = Object.freeze;
  const getOwn = Object.getOwnPropertyDescriptor;
  const defineProperty = Object.defineProperty;
  const EMPTY = new U8(0);

  const normName = (n) => StringCtor(n).toLowerCase();

  class Headers {
    #list = [];
    constructor(init) {
      if (init == null) return;
      if (init instanceof Headers) {
        for (const [k, v] of init.entries()) this.append(k, v);
      } else if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          if (pair.length !== 2) throw new TypeErrorCtor("Headers: each pair needs a name and a value");
          this.append(pair[0], pair[1]);
        }
      } else if (typeof init === "object") {
        for (const k of Object.keys(init)) this.append(k, init[k]);
      } else {
        throw new TypeErrorCtor("Headers: expected an object, pairs or Headers");
      }
    }
    append(name, value) {
      this.#list.push([normName(name), StringCtor(value)]);
    }
    set(name, value) {
      this.delete(name);
      this.append(name, value);
    }
    get(name) {
      const n = normName(name);
      const found = this.#list.filter(([k]) => k === n).map(([, v]) => v);
      return found.length ? found.join(", ") : null;
    }
    has(name) {
      const n = normName(name);
      return this.#list.some(([k]) => k === n);
    }
    delete(name) {
      const n = normName(name);
      this.#list = this.#list.filter(([k]) => k !== n);
    }
    *entries() {
      const names = [...new Set(this.#list.map(([k]) => k))].sort();
      for (const n of names) yield [n, this.get(n)];
    }
    *keys() {
      for (const [k] of this.entries()) yield k;
    }
    *values() {
      for (const [, v] of this.entries()) yield v;
    }
    forEach(cb, thisArg) {
      for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    get [Symbol.toStringTag]() {
      return "Headers";
    }
  }

  class Response {
    #body;
    #used = false;
    constructor(reply) {
      this.status = reply.status;
      this.statusText = reply.statusText;
      this.url = reply.url;
      this.redirected = reply.redirected;
      this.type = "basic";
      this.ok = reply.status >= 200 && reply.status < 300;
      this.headers = new Headers(reply.headers);
      this.#body = reply.body;
    }
    get bodyUsed() {
      return this.#used;
    }
    #take() {
      if (this.#used) throw new TypeErrorCtor("Response body has already been read");
      this.#used = true;
      return this.#body;
    }
    async arrayBuffer() {
      const b = this.#take();
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
    }
    async bytes() {
      return new U8(await this.arrayBuffer());
    }
    async text() {
      return decode(this.#take());
    }
    async json() {
      return JSONParse(await this.text());
    }
    clone() {
      if (this.#used) throw new TypeErrorCtor("Response.clone: the body has already been read");
      const copy = new Response({
        status: this.status,
        statusText: this.statusText,
        url: this.url,
        redirected: this.redirected,
        headers: [...this.headers.entries()],
        body: this.#body.slice(),
      });
      return copy;
    }
    get [Symbol.toStringTag]() {
      return "Response";
    }
  }

  function bodyBytes(body, headers) {
    if (body == null) return null;
    if (typeof body === "string") return encode(body);
    if (body instanceof ArrayBufferCtor) return new U8(body.slice(0));
    if (isView(body)) return new U8(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
    if (typeof URLSearchParams === "function" && body instanceof URLSearchParams) {
      if (!headers.has("content-type")) headers.set("content-type", "application/x-www-form-urlencoded;charset=UTF-8");
      return encode(body.toString());
    }
    throw new TypeErrorCtor("fetch: body must be a string, ArrayBuffer, typed array or URLSearchParams");
  }

  async function fetch(input, init) {
    init = init ?? {};
    const url = typeof input === "object" && input !== null && "url" in input && !("href" in input)
      ? StringCtor(input.url)
      : StringCtor(input?.href ?? input);
    const method = StringCtor(init.method ?? input?.method ?? "GET").toUpperCase();
    const headers = new Headers(init.headers ?? input?.headers);
    const bytes = bodyBytes(init.body, headers);
    if (bytes && (method === "GET" || method === "HEAD")) {
      throw new TypeErrorCtor(`fetch: a ${method} request cannot have a body`);
    }
    const redirect = StringCtor(init.redirect ?? "follow");
    if (redirect !== "follow" && redirect !== "error" && redirect !== "manual") {
      throw new TypeErrorCtor(`fetch: redirect must be "follow", "error" or "manual"`);
    }
    const list = [];
    headers.forEach((v, k) => list.push([k, v]));
    const reply = await op_mcp_fetch(
      { url, method, headers: list, redirect, hasBody: bytes !== null },
      bytes ?? EMPTY,
    );
    return new Response(reply);
  }

  function fsCall(op, path, extra, data) {
    if (typeof path !== "string") throw new TypeErrorCtor(`fs.${op}: path must be a string`);
    let text = null;
    let bytes = null;
    if (data !== undefined) {
      if (typeof data === "string") text = data;
      else if (data instanceof ArrayBufferCtor) bytes = new U8(data);
      else if (isView(data)) bytes = new U8(data.buffer, data.byteOffset, data.byteLength);
      else throw new TypeErrorCtor(`fs.${op}: data must be a string, ArrayBuffer or typed array`);
    }
    const reply = op_mcp_fs({ op, path, ...extra, text }, bytes ?? EMPTY, bytes !== null);
    return reply.bytes ?? reply.value;
  }
  const encodingOf = (o) => (typeof o === "string" ? o : o?.encoding ?? undefined);
  const fs = ObjectFreeze({
    readFile: async (path, options) => fsCall("readFile", path, { encoding: encodingOf(options) ?? "utf8" }),
    writeFile: async (path, data) => void fsCall("writeFile", path, {}, data),
    appendFile: async (path, data) => void fsCall("appendFile", path, {}, data),
    readdir: async (path) => fsCall("readdir", path, {}),
    stat: async (path) => fsCall("stat", path, {}),
    mkdir: async (path, options) => void fsCall("mkdir", path, { recursive: !!options?.recursive }),
    rm: async (path, options) => void fsCall("rm", path, { recursive: !!options?.recursive }),
    rename: async (from, to) => void fsCall("rename", from, { destination: StringCtor(to) }),
    copyFile: async (from, to) => void fsCall("copyFile", from, { destination: StringCtor(to) }),
    exists: async (path) => fsCall("exists", path, {}),
  });

  const ours = { fetch, Headers, Response, fs };
  // Defines a gate's global when absent, removes ours when the gate is shut; a
  // name the code made its own (a `var`, an assignment) is left alone.
  function setGlobal(name, enabled) {
    const d = getOwn(globalThis, name);
    if (enabled && d === undefined) {
      defineProperty(globalThis, name, { value: ours[name], writable: true, configurable: true, enumerable: false });
    } else if (!enabled && d !== undefined && d.configurable && d.value === ours[name]) {
      delete globalThis[name];
    }
  }
  // bits: 1 = fetch, 2 = fs
  function installIo(bits) {
    setGlobal("fetch", (bits & 1) !== 0);
    setGlobal("Headers", (bits & 1) !== 0);
    setGlobal("Response", (bits & 1) !== 0);
    setGlobal("fs", (bits & 2) !== 0);
  }

  defineProperty(globalThis, "__mcpV8Io", { value: installIo, configurable: true });
})(globalThis);
