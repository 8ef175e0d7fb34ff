// MCP client driving the end-to-end scenario through the executors' client Service
// (Streamable HTTP, official TypeScript SDK). run.sh runs it inside the kind cluster, so
// calls go through the Service to any replica, as an agent's would:
//   node client.mjs stateless                 1 + 2 on a fresh heap
//   node client.mjs session-start NAME        new session, counter = 1, saves the heap
//   node client.mjs session-step NAME N       continues it N times from the saved heap
//   node client.mjs session-resume NAME       one more step naming only the session (the
//                                             server resumes its latest heap from the log)
//   node client.mjs session-check NAME COUNT  asserts the counter reached COUNT and the
//                                             heap holds every earlier value (history)
//   node client.mjs session-log NAME          asserts list_session_snapshots holds every
//                                             acknowledged run, chained heap to heap
//   node client.mjs eval CODE EXPECTED        runs CODE statelessly, asserts the result
// The session's latest heap and every acknowledged heap are kept in $STATE_DIR/NAME.json
// between invocations; stdout ends with one JSON line {"ok": true, ...} that run.sh reads
// (e.g. the execution id, which names the serving node). e2e/local/run.sh drives the same
// file against loopback processes, pointing MCP_URL at its front or at one node.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.env.MCP_URL ?? "http://shared:8080/mcp");
const stateDir = process.env.STATE_DIR ?? "/work/state";
const retries = Number(process.env.RETRIES ?? "5");
// How long run_js waits for its run (server cap 30 s); an answer that has not come 10 s after
// that is given up on and the call retried (a replica going away may end the response
// without one), rather than waiting for the SDK's 60 s default.
const waitMs = Number(process.env.WAIT_MS ?? "30000");
const requestTimeout = waitMs + 10000;
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

// One tool call through a fresh connection (a new connection may land on another replica,
// which is the point). Connection failures and lost answers while pods come and go are
// retried a bounded number of times, each noted on stderr; a tool error is never retried.
async function callTool(name, args) {
  let lastError;
  for (let attempt = 0; attempt <= retries; attempt++) {
    let client;
    try {
      client = await connect();
      const result = await client.callTool({ name, arguments: args }, undefined, { timeout: requestTimeout });
      const value = result.structuredContent ?? JSON.parse(result.content?.[0]?.text ?? "{}");
      if (result.isError) die(`${name} failed: ${JSON.stringify(result.content)}`);
      return value;
    } catch (err) {
      lastError = err;
      console.error(`client: retrying ${name} after attempt ${attempt + 1}: ${err} ${err?.cause ?? ""}`);
      await new Promise((r) => setTimeout(r, 1000 * (attempt + 1)));
    } finally {
      await client?.close().catch(() => {});
    }
  }
  die(`no answer from ${url} after ${retries + 1} attempts: ${lastError} ${lastError?.cause ?? ""}`);
}

// A run still going after wait_ms is a failure here.
async function runJs(args) {
  const record = await callTool("run_js", { wait_ms: waitMs, ...args });
  if (record.status !== "completed") die(`run_js ended ${record.status}: ${record.error ?? ""}`);
  return record;
}

const STEP = "counter += 1; history.push(counter); counter";

const statePath = (name) => `${stateDir}/${name}.json`;
const load = (name) => JSON.parse(readFileSync(statePath(name), "utf8"));
// Atomic (write, then rename), as run.sh may read it while a writer is stepping.
function save(name, state) {
  writeFileSync(`${statePath(name)}.tmp`, JSON.stringify(state));
  renameSync(`${statePath(name)}.tmp`, statePath(name));
}
const same = (value, expected) => String(value) === String(expected);

// Checks a step's result against the saved counter and records its heap as acknowledged.
function acknowledge(name, state, record) {
  if (!same(record.result, state.counter + 1)) {
    die(`session ${name}: expected ${state.counter + 1}, got ${JSON.stringify(record.result)} (${record.execution_id})`);
  }
  if (!record.heap) die(`session ${name}: no heap in ${JSON.stringify(record)}`);
  const next = { heap: record.heap, counter: state.counter + 1, acked: [...(state.acked ?? []), record.heap] };
  save(name, next);
  return next;
}

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
    const record = await runJs({ code: "globalThis.counter = 1; globalThis.history = [1]; counter", session: name });
    if (!record.heap) die(`session-start returned no heap: ${JSON.stringify(record)}`);
    save(name, { heap: record.heap, counter: 1, acked: [record.heap] });
    console.log(JSON.stringify({ ok: true, heap: record.heap, execution_id: record.execution_id }));
    break;
  }
  case "session-step": {
    const [name, times] = rest;
    let state = load(name);
    let record;
    for (let i = 0; i < Number(times ?? "1"); i++) {
      record = await runJs({ code: STEP, session: name, heap: state.heap });
      state = acknowledge(name, state, record);
    }
    console.log(JSON.stringify({ ok: true, counter: state.counter, execution_id: record?.execution_id }));
    break;
  }
  case "session-resume": {
    const [name] = rest;
    const record = await runJs({ code: STEP, session: name });
    const state = acknowledge(name, load(name), record);
    console.log(JSON.stringify({ ok: true, counter: state.counter, execution_id: record.execution_id }));
    break;
  }
  case "session-log": {
    const [name] = rest;
    const state = load(name);
    const { entries } = await callTool("list_session_snapshots", { session: name, fields: "index,input_heap,output_heap" });
    if (!Array.isArray(entries)) die(`session ${name}: list_session_snapshots gave no entries`);
    const outputs = new Set(entries.map((e) => e.output_heap));
    const missing = state.acked.filter((heap) => !outputs.has(heap));
    if (missing.length) die(`session ${name}: ${missing.length} acknowledged runs missing from the log: ${missing}`);
    // Each acknowledged run resumed the heap of the one before it.
    for (let i = 1; i < state.acked.length; i++) {
      if (!entries.some((e) => e.input_heap === state.acked[i - 1] && e.output_heap === state.acked[i])) {
        die(`session ${name}: no log entry ${state.acked[i - 1]} -> ${state.acked[i]}`);
      }
    }
    console.log(JSON.stringify({ ok: true, entries: entries.length, acknowledged: state.acked.length }));
    break;
  }
  case "session-check": {
    const [name, count] = rest;
    const state = load(name);
    const record = await runJs({ code: "JSON.stringify({ counter, history })", session: name, heap: state.heap });
    const expected = { counter: Number(count), history: Array.from({ length: Number(count) }, (_, i) => i + 1) };
    if (record.result !== JSON.stringify(expected)) {
      die(`session ${name}: heap holds ${record.result}, expected ${JSON.stringify(expected)}`);
    }
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
