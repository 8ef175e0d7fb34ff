// MCP client driving the end-to-end scenario through the executors' client Service
// (Streamable HTTP, official TypeScript SDK). run.sh runs it inside the kind cluster, so
// calls go through the Service to any replica, as an agent's would:
//   node client.mjs stateless                 1 + 2 on a fresh heap
//   node client.mjs session-start NAME        new session, counter = 1, saves the heap
//   node client.mjs session-step NAME N       continues it N times from the saved heap
//   node client.mjs session-check NAME COUNT  asserts the counter reached COUNT
//   node client.mjs eval CODE EXPECTED        runs CODE statelessly, asserts the result
// The session's latest heap is kept in $STATE_DIR/NAME.json between invocations; stdout
// ends with one JSON line {"ok": true, ...} that run.sh reads (e.g. the serving node).
import { readFileSync, writeFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.env.MCP_URL ?? "http://shared:8080/mcp");
const stateDir = process.env.STATE_DIR ?? "/work/state";
const retries = Number(process.env.RETRIES ?? "5");
const headers = process.env.MCP_TOKEN ? { Authorization: `Bearer ${process.env.MCP_TOKEN}` } : {};

function die(message) {
  console.error(`client: ${message}`);
  process.exit(1);
}

async function connect() {
  const client = new Client({ name: "mcp-v8-e2e", version: "0.1.0" });
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  return client;
}

// One run_js through a fresh connection (a new connection may land on another replica,
// which is the point). Connection failures while pods come and go are retried a bounded
// number of times; a tool error is never retried.
async function runJs(args) {
  let lastError;
  for (let attempt = 0; attempt <= retries; attempt++) {
    let client;
    try {
      client = await connect();
      const result = await client.callTool({ name: "run_js", arguments: { wait_ms: 60000, ...args } });
      const record = result.structuredContent ?? JSON.parse(result.content?.[0]?.text ?? "{}");
      if (result.isError) die(`run_js failed: ${JSON.stringify(result.content)}`);
      if (record.status !== "completed") die(`run_js ended ${record.status}: ${record.error ?? ""}`);
      return record;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 1000 * (attempt + 1)));
    } finally {
      await client?.close().catch(() => {});
    }
  }
  die(`no answer from ${url} after ${retries + 1} attempts: ${lastError}`);
}

const statePath = (name) => `${stateDir}/${name}.json`;
const load = (name) => JSON.parse(readFileSync(statePath(name), "utf8"));
const save = (name, state) => writeFileSync(statePath(name), JSON.stringify(state));
const same = (value, expected) => String(value) === String(expected);

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case "stateless": {
    const record = await runJs({ code: "1 + 2" });
    if (!same(record.result, 3)) die(`1 + 2 gave ${JSON.stringify(record.result)}`);
    console.log(JSON.stringify({ ok: true, execution_id: record.execution_id }));
    break;
  }
  case "session-start": {
    const [name] = rest;
    const record = await runJs({ code: "globalThis.counter = 1; counter", session: name });
    if (!record.heap) die(`session-start returned no heap: ${JSON.stringify(record)}`);
    save(name, { heap: record.heap, counter: 1 });
    console.log(JSON.stringify({ ok: true, heap: record.heap, execution_id: record.execution_id }));
    break;
  }
  case "session-step": {
    const [name, times] = rest;
    let state = load(name);
    let record;
    for (let i = 0; i < Number(times ?? "1"); i++) {
      record = await runJs({ code: "counter += 1; counter", session: name, heap: state.heap });
      if (!same(record.result, state.counter + 1)) {
        die(`session ${name}: expected ${state.counter + 1}, got ${JSON.stringify(record.result)}`);
      }
      state = { heap: record.heap, counter: state.counter + 1 };
      save(name, state);
    }
    console.log(JSON.stringify({ ok: true, counter: state.counter, execution_id: record?.execution_id }));
    break;
  }
  case "session-check": {
    const [name, count] = rest;
    const state = load(name);
    const record = await runJs({ code: "counter", session: name, heap: state.heap });
    if (!same(record.result, count)) die(`session ${name}: counter ${record.result}, expected ${count}`);
    console.log(JSON.stringify({ ok: true, counter: Number(count) }));
    break;
  }
  case "eval": {
    const [code, expected] = rest;
    const record = await runJs({ code });
    if (!same(record.result, expected)) die(`${code} gave ${JSON.stringify(record.result)}, expected ${expected}`);
    console.log(JSON.stringify({ ok: true, result: record.result }));
    break;
  }
  default:
    die(`unknown command ${command ?? "(none)"}: see the header of client.mjs`);
}
