// Two mcp-v8 replicas (one heap dir, no cluster flags) behind a round-robin HTTP proxy: the
// Streamable HTTP endpoint is stateless, so an MCP session opened on one replica goes on
// working on the other, and heaps written by one are read by the other.
import assert from "node:assert/strict";
import { createServer, request } from "node:http";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { call, HEX64 } from "./lib/mcp.mjs";
import { startServer, tempDir } from "./lib/server.mjs";

// Alternates upstreams per request and streams both bodies through. Request bodies are also
// kept (they are small) to log which replica served which JSON-RPC method.
function roundRobinProxy(upstreams) {
  const served = [];
  let next = 0;
  const server = createServer((req, res) => {
    const index = next++ % upstreams.length;
    const target = new URL(upstreams[index]);
    const chunks = [];
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (upRes) => {
        res.writeHead(upRes.statusCode, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on("error", (e) => {
      res.writeHead(502).end(String(e));
    });
    req.on("data", (c) => {
      chunks.push(c);
      up.write(c);
    });
    req.on("end", () => {
      up.end();
      let method = req.method;
      try {
        method = JSON.parse(Buffer.concat(chunks).toString()).method ?? method;
      } catch {
        // GET/DELETE without a JSON body
      }
      served.push({ replica: index, method });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve({ server, served, url: `http://127.0.0.1:${server.address().port}` }));
  });
}

describe("two replicas behind a round-robin proxy", { timeout: 120000 }, () => {
  const dir = tempDir();
  const replicas = [];
  let proxy;
  let client;
  const logs = [];

  before(async () => {
    for (const name of ["a", "b"]) {
      // Own db dirs (the metadata db is one process's), one shared heap dir.
      replicas.push(await startServer("http", { dir, db: `db-${name}` }));
    }
    proxy = await roundRobinProxy(replicas.map((r) => r.base));
    client = new Client({ name: "mcp-v8-e2e-proxy", version: "1.0.0" });
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params));
    await client.connect(new StreamableHTTPClientTransport(new URL(`${proxy.url}/mcp`)));
  });

  after(async () => {
    await client?.close();
    proxy?.server.close();
    for (const r of replicas) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("initialize on one replica, then tools/list and run_js served by both", async () => {
    const init = proxy.served.find((s) => s.method === "initialize");
    assert.ok(init, JSON.stringify(proxy.served));
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === "run_js"));
    const code = 'console.log("via proxy"); globalThis.v = 20; v + 1';
    const first = await call(client, "run_js", { code, wait_ms: 20000 });
    const second = await call(client, "run_js", { code: "v * 2 + 2", heap: first.heap, wait_ms: 20000 });
    assert.equal(first.result, "21");
    assert.match(first.heap, HEX64);
    assert.equal(second.result, "42", "a heap written by one replica resumes on the other");
    const third = await call(client, "run_js", { code: "'three'", wait_ms: 20000 });
    assert.equal(third.result, "three");
    assert.ok(logs.some((l) => l.data?.line === "via proxy"), "notifications stream through the proxy");

    const runs = proxy.served.filter((s) => s.method === "tools/call").map((s) => s.replica);
    const lists = proxy.served.filter((s) => s.method === "tools/list").map((s) => s.replica);
    assert.equal(runs.length, 3, JSON.stringify(proxy.served));
    assert.deepEqual(new Set(runs), new Set([0, 1]), `both replicas ran code: ${JSON.stringify(proxy.served)}`);
    const other = 1 - init.replica;
    assert.ok(
      lists.includes(other) || runs.includes(other),
      `the replica that did not see initialize served requests: ${JSON.stringify(proxy.served)}`,
    );
    assert.deepEqual(new Set(proxy.served.map((s) => s.replica)), new Set([0, 1]));
  });
});
