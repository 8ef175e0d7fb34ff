// Bad input over Streamable HTTP, through the SDK and as raw HTTP: every mistake gets a clear
// error of the right kind, nothing escapes the heap dir, and the server keeps serving.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { request } from "node:http";
import { connect as tcpConnect } from "node:net";
import { basename, dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { callError, connect, HEX64 } from "./lib/mcp.mjs";
import { BIN, killChild, statefulArgs, tempDir } from "./lib/server.mjs";

// One raw HTTP request (node:http, so that Host can be set); resolves { status, headers, body }.
function raw(base, path, { method = "POST", headers = {}, body = "" } = {}) {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (data += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

// An oversized POST over a plain socket: the server answers 413 and closes while the body is
// still being written, which node:http reports as EPIPE before the response; here the write
// error is ignored and the status line read.
function rawOversized(base, path, headers, body) {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const sock = tcpConnect(Number(url.port), url.hostname);
    let data = "";
    sock.setEncoding("utf8");
    sock.on("data", (c) => {
      data += c;
      const m = /^HTTP\/1\.1 (?!100)(\d{3})/m.exec(data);
      if (m) {
        sock.destroy();
        resolve({ status: Number(m[1]), body: data });
      }
    });
    sock.on("error", () => {});
    sock.on("close", () => reject(new Error(`no response: ${JSON.stringify(data)}`)));
    const head = Object.entries({ ...headers, host: url.host, "content-length": Buffer.byteLength(body) })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    sock.write(`POST ${url.pathname} HTTP/1.1\r\n${head}\r\n`);
    sock.write(body);
  });
}

const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const rpc = (method, params) => JSON.stringify({ jsonrpc: "2.0", id: 7, method, params });

describe("bad input over Streamable HTTP", { timeout: 120000 }, () => {
  let mcp;
  let base;
  before(async () => {
    mcp = await connect("http");
    base = mcp.server.base;
  });
  after(async () => {
    await mcp?.close();
  });

  // Run after every bad request: the same server still runs code.
  async function stillServes() {
    const rec = await mcp.call("run_js", { code: "'still ' + 'up'", wait_ms: 20000 });
    assert.equal(rec.result, "still up");
  }

  test("unknown tool is a JSON-RPC error -32602", async () => {
    await assert.rejects(mcp.client.callTool({ name: "no_such_tool", arguments: {} }), (e) => {
      assert.ok(e instanceof McpError, String(e));
      assert.equal(e.code, -32602);
      assert.match(e.message, /no_such_tool/);
      return true;
    });
    const res = await raw(base, "/mcp", { headers: MCP_HEADERS, body: rpc("no/such/method", {}) });
    assert.equal(res.status, 200);
    assert.match(res.body, /"code":-32601/);
    await stillServes();
  });

  test("wrong argument types and missing fields are isError results with one line", async () => {
    const cases = [
      ["run_js", { code: 5 }, /code|string/],
      ["run_js", {}, /missing field `code`/],
      ["run_js", { code: "1", wait_ms: "soon" }, /wait_ms|integer|u64/],
      ["run_js", { code: "1", wait_ms: 999999 }, /wait_ms.*0 and 30000/],
      ["run_js", { code: "1", heap_memory_max_mb: 1000 }, /heap_memory_max_mb.*between/],
      ["run_js", { code: "1", execution_timeout_secs: 0 }, /execution_timeout_secs/],
      ["get_execution", {}, /missing field `execution_id`/],
      ["get_execution", { execution_id: "nope" }, /not found/],
      ["get_execution_output", { execution_id: "nope", line_limit: "ten" }, /line_limit|integer|u64/],
      ["cancel_execution", { execution_id: 12 }, /string/],
      ["list_executions", { status: "sleeping" }, /status|sleeping/],
      ["set_heap_tags", { heap: "a".repeat(64), tags: "x" }, /tags|map/],
      ["list_session_snapshots", {}, /missing field `session`/],
    ];
    for (const [name, args, want] of cases) {
      const text = await callError(mcp.client, name, args);
      assert.match(text, want, `${name} ${JSON.stringify(args)} → ${text}`);
    }
    await stillServes();
  });

  test("malformed JSON-RPC bodies get a 4xx and the server stays up", async () => {
    for (const body of ['{"jsonrpc":"2.0",', '{"foo":1}', "[1,2]", "not json at all"]) {
      const res = await raw(base, "/mcp", { headers: MCP_HEADERS, body });
      assert.ok(res.status >= 400 && res.status < 500, `${body} → ${res.status} ${res.body}`);
    }
    const plain = await raw(base, "/api/exec", { headers: { "content-type": "application/json" }, body: '{"code":' });
    assert.equal(plain.status, 400, plain.body);
    assert.match(JSON.parse(plain.body).error, /invalid request body/);
    await stillServes();
  });

  // A body that is not JSON is a bad request (400, JSON-RPC parse error -32700, as the
  // official SDK servers answer), not an unsupported media type: the Content-Type is right.
  test("malformed JSON on /mcp is 400 with a JSON-RPC parse error", async () => {
    const res = await raw(base, "/mcp", { headers: MCP_HEADERS, body: '{"jsonrpc":"2.0",' });
    assert.equal(res.status, 400, `${res.status} ${res.body}`);
    assert.equal(JSON.parse(res.body).error.code, -32700);
    const notRpc = await raw(base, "/mcp", { headers: MCP_HEADERS, body: "[1,2]" });
    assert.equal(notRpc.status, 400, notRpc.body);
    assert.equal(JSON.parse(notRpc.body).error.code, -32600);
    await stillServes();
  });

  test("an oversized body is 413 on /mcp and /api/exec", async () => {
    const code = "x".repeat(5 * 1024 * 1024);
    const body = rpc("tools/call", { name: "run_js", arguments: { code } });
    const res = await rawOversized(base, "/mcp", MCP_HEADERS, body);
    assert.equal(res.status, 413, res.body);
    const plain = await rawOversized(base, "/api/exec", { "content-type": "application/json" }, JSON.stringify({ code }));
    assert.equal(plain.status, 413, plain.body);
    assert.match(plain.body, /request body too large/, "413 carries the API's JSON error");
    await stillServes();
  });

  test("a heap id that walks out of the heap dir is refused and creates nothing", async () => {
    const escape = `../${basename(mcp.server.dir)}-escape`;
    for (const heap of ["../../etc/passwd", escape, `heaps/../../${"a".repeat(64)}`]) {
      const text = await callError(mcp.client, "run_js", { code: "1", heap });
      assert.match(text, /64 lowercase hex/, text);
      const tags = await callError(mcp.client, "set_heap_tags", { heap, tags: { a: "b" } });
      assert.match(tags, /64 lowercase hex/, tags);
    }
    const plain = await raw(base, "/api/exec", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "1", heap: "../../etc/passwd" }),
    });
    assert.equal(plain.status, 400, plain.body);
    assert.match(plain.body, /64 lowercase hex/);
    assert.deepEqual(readdirSync(mcp.server.dir).sort(), ["db", "heaps"]);
    for (const f of readdirSync(join(mcp.server.dir, "heaps"))) assert.match(f, HEX64);
    assert.equal(existsSync(join(dirname(mcp.server.dir), `${basename(mcp.server.dir)}-escape`)), false);
    await stillServes();
  });

  test("a foreign Host or Origin is 403 with a JSON error", async () => {
    const body = rpc("tools/list", {});
    const host = await raw(base, "/mcp", { headers: { ...MCP_HEADERS, host: "evil.example" }, body });
    assert.equal(host.status, 403, host.body);
    assert.match(JSON.parse(host.body).error, /evil\.example/);
    const origin = await raw(base, "/mcp", { headers: { ...MCP_HEADERS, origin: "http://evil.example" }, body });
    assert.equal(origin.status, 403, origin.body);
    assert.match(JSON.parse(origin.body).error, /evil\.example/);
    const api = await raw(base, "/api/executions", { method: "GET", headers: { host: "evil.example:80" } });
    assert.equal(api.status, 403, api.body);
    const local = await raw(base, "/mcp", { headers: { ...MCP_HEADERS, origin: `http://localhost:${mcp.server.port}` }, body });
    assert.equal(local.status, 200, "an Origin on an allowed host passes");
    assert.match(local.body, /run_js/);
    await stillServes();
  });
});

describe("bad input over legacy SSE", { timeout: 60000 }, () => {
  let mcp;
  let base;
  before(async () => {
    mcp = await connect("sse");
    base = mcp.server.base;
  });
  after(async () => {
    await mcp?.close();
  });

  test("foreign Host/Origin on /sse and /message are 403; unknown or missing sessionId are 404/400", async () => {
    for (const path of ["/sse", "/message?sessionId=x"]) {
      const method = path === "/sse" ? "GET" : "POST";
      const host = await raw(base, path, { method, headers: { host: "evil.example" } });
      assert.equal(host.status, 403, `${path}: ${host.body}`);
      const origin = await raw(base, path, { method, headers: { origin: "http://evil.example" } });
      assert.equal(origin.status, 403, `${path}: ${origin.body}`);
    }
    const headers = { "content-type": "application/json" };
    const unknown = await raw(base, "/message?sessionId=nope", { headers, body: rpc("tools/list", {}) });
    assert.equal(unknown.status, 404, unknown.body);
    const missing = await raw(base, "/message", { headers, body: rpc("tools/list", {}) });
    assert.equal(missing.status, 400, missing.body);
  });

  test("unknown tool and a bad heap id over the SSE session", async () => {
    await assert.rejects(mcp.client.callTool({ name: "no_such_tool", arguments: {} }), (e) => e.code === -32602);
    const text = await callError(mcp.client, "run_js", { code: "1", heap: "../../etc/passwd" });
    assert.match(text, /64 lowercase hex/);
    const rec = await mcp.call("run_js", { code: "'sse ok'", wait_ms: 20000 });
    assert.equal(rec.result, "sse ok", "the SSE session still works after errors");
  });
});

test("garbage lines on stdio are skipped and the server keeps answering", { timeout: 60000 }, async () => {
  const dir = tempDir();
  const child = spawn(BIN, statefulArgs(dir), { stdio: ["pipe", "pipe", "ignore"] });
  try {
    const replies = new Map();
    let buf = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (c) => {
      buf += c;
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const msg = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (msg.id !== undefined) replies.set(msg.id, msg);
      }
    });
    const clientInfo = { name: "raw", version: "1" };
    const lines = [
      { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo } },
      { jsonrpc: "2.0", method: "notifications/initialized" },
      "this is not json",
      '{"jsonrpc":"2.0","id":',
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "run_js", arguments: { code: "20 + 22", wait_ms: 20000 } } },
    ];
    for (const l of lines) child.stdin.write(`${typeof l === "string" ? l : JSON.stringify(l)}\n`);
    const deadline = Date.now() + 30000;
    while (!replies.has(2) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    assert.equal(replies.get(2)?.result?.structuredContent?.result, "42", JSON.stringify([...replies.values()]));
  } finally {
    await killChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
});
