// The scenarios every transport must pass; each *.test.mjs runs them over one transport.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { connect, HEX64 } from "./mcp.mjs";
import { SLOW_CODE, sleep } from "./server.mjs";

const ALL_TOOLS = [
  "run_js",
  "get_execution",
  "get_execution_output",
  "cancel_execution",
  "list_executions",
  "list_sessions",
  "list_session_snapshots",
  "get_heap_tags",
  "set_heap_tags",
  "delete_heap_tags",
  "query_heaps_by_tags",
  "rebuild_session",
];
const TERMINAL = new Set(["completed", "failed", "cancelled", "timed_out"]);
const SLOW_OUTPUT = Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join("");
const unique = (p) => `${p}-${process.pid}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

async function waitStatus(mcp, id, want, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rec = await mcp.call("get_execution", { execution_id: id });
    if (want(rec.status)) return rec;
    if (Date.now() > deadline) throw new Error(`execution ${id} still ${rec.status}`);
    await sleep(50);
  }
}

// Follows the output of a running execution page by page until it has ended and every page
// has been read; returns the concatenated data. `mode` is "line" or "byte".
async function followOutput(mcp, id, mode, limit) {
  let offset = 0;
  let text = "";
  let pages = 0;
  for (;;) {
    const status = (await mcp.call("get_execution", { execution_id: id })).status;
    const page = await mcp.call("get_execution_output", {
      execution_id: id,
      [`${mode}_offset`]: offset,
      [`${mode}_limit`]: limit,
    });
    const got = mode === "line" ? page.data.split("\n").length - 1 : Buffer.byteLength(page.data);
    assert.ok(got <= limit, `page larger than ${limit} ${mode}s: ${JSON.stringify(page)}`);
    assert.equal(page[`next_${mode}_offset`], offset + got, JSON.stringify(page));
    const total = mode === "line" ? page.total_lines : page.total_bytes;
    assert.equal(page.has_more, page[`next_${mode}_offset`] < total, JSON.stringify(page));
    if (got > 0) pages++;
    text += page.data;
    offset = page[`next_${mode}_offset`];
    if (!page.has_more && TERMINAL.has(status)) return { text, pages };
    if (!page.has_more) await sleep(30);
  }
}

export function transportSuite(kind) {
  describe(`mcp-v8 over ${kind} (TypeScript SDK)`, { timeout: 120000 }, () => {
    let mcp;
    before(async () => {
      mcp = await connect(kind);
    });
    after(async () => {
      await mcp?.close();
    });

    test("tools/list names every tool, stateful ones included", async () => {
      const { tools } = await mcp.client.listTools();
      const names = tools.map((t) => t.name);
      for (const name of ALL_TOOLS) assert.ok(names.includes(name), `${name} missing from ${names}`);
    });

    test("a session chained over five runs", async () => {
      const session = unique("chain");
      const heaps = [];
      for (let i = 1; i <= 5; i++) {
        const code = "globalThis.n = (globalThis.n ?? 0) + 1; n";
        const rec = await mcp.call("run_js", { code, session, wait_ms: 20000 });
        assert.equal(rec.status, "completed", JSON.stringify(rec));
        assert.equal(rec.result, String(i));
        assert.equal(rec.session, session);
        assert.match(rec.heap, HEX64);
        heaps.push(rec.heap);
      }
      assert.equal(new Set(heaps).size, 5, "every run leaves a new heap");
      const { entries } = await mcp.call("list_session_snapshots", { session });
      assert.equal(entries.length, 5, JSON.stringify(entries));
      entries.forEach((e, i) => {
        assert.equal(e.index, i);
        assert.equal(e.input_heap, i === 0 ? null : heaps[i - 1], "each run starts from the previous heap");
        assert.equal(e.output_heap, heaps[i]);
        assert.equal(e.code, "globalThis.n = (globalThis.n ?? 0) + 1; n");
      });
      const some = await mcp.call("list_session_snapshots", { session, fields: "index,output_heap" });
      assert.deepEqual(Object.keys(some.entries[0]).sort(), ["index", "output_heap"]);
      const { sessions } = await mcp.call("list_sessions");
      assert.ok(JSON.stringify(sessions).includes(session), JSON.stringify(sessions));
      const rebuilt = await mcp.call("rebuild_session", { session });
      assert.equal(rebuilt.session, session);
      assert.equal(rebuilt.replayed, 5, JSON.stringify(rebuilt));
      assert.match(rebuilt.heap, HEX64);
      const again = await mcp.call("run_js", { code: "n", session, wait_ms: 20000 });
      assert.equal(again.result, "5", `session resumes after rebuild: ${JSON.stringify(again)}`);
    });

    test("heap chaining through the returned heap", async () => {
      const first = await mcp.call("run_js", { code: "globalThis.x = 41; x", wait_ms: 20000 });
      assert.equal(first.result, "41");
      assert.match(first.heap, HEX64);
      const second = await mcp.call("run_js", { code: "x + 1", heap: first.heap, wait_ms: 20000 });
      assert.equal(second.result, "42", JSON.stringify(second));
      const fresh = await mcp.call("run_js", { code: "typeof x", wait_ms: 20000 });
      assert.equal(fresh.result, "undefined", "a run without heap starts clean");
      const rec = await mcp.call("get_execution", { execution_id: second.execution_id });
      assert.equal(rec.status, "completed");
      assert.equal(rec.result, "42");
      assert.equal(rec.heap, second.heap);
    });

    test("paging the output of a running execution, by lines and by bytes", async () => {
      const { execution_id: id, ...rest } = await mcp.call("run_js", { code: SLOW_CODE });
      assert.equal(Object.keys(rest).length, 0, "without wait_ms only the id comes back");
      await waitStatus(mcp, id, (s) => s === "running");
      const [lines, bytes] = await Promise.all([followOutput(mcp, id, "line", 3), followOutput(mcp, id, "byte", 40)]);
      const whole = await mcp.call("get_execution_output", { execution_id: id });
      assert.equal(whole.data, SLOW_OUTPUT);
      assert.equal(whole.total_lines, 50);
      assert.equal(whole.total_bytes, Buffer.byteLength(SLOW_OUTPUT));
      assert.equal(whole.has_more, false);
      assert.equal(lines.text, SLOW_OUTPUT);
      assert.equal(bytes.text, SLOW_OUTPUT);
      assert.ok(lines.pages >= 17 && bytes.pages >= 10, `pages: ${lines.pages} / ${bytes.pages}`);
      const rec = await mcp.call("get_execution", { execution_id: id });
      assert.equal(rec.result, "done");
    });

    test("cancel_execution of a running run", async () => {
      const { execution_id: id } = await mcp.call("run_js", { code: SLOW_CODE });
      await waitStatus(mcp, id, (s) => s === "running");
      const rec = await mcp.call("cancel_execution", { execution_id: id });
      assert.equal(rec.execution_id, id);
      const final = await waitStatus(mcp, id, (s) => TERMINAL.has(s), 10000);
      assert.equal(final.status, "cancelled", JSON.stringify(final));
      const out = await mcp.call("get_execution_output", { execution_id: id });
      assert.ok(out.total_lines < 50, "cancelled before the end");
    });

    test("heap tags: set, get, query, delete", async () => {
      const { heap } = await mcp.call("run_js", { code: "1", wait_ms: 20000 });
      const tag = unique("tag");
      await mcp.call("set_heap_tags", { heap, tags: { owner: "e2e", run: tag } });
      const got = await mcp.call("get_heap_tags", { heap });
      assert.equal(got.heap, heap);
      assert.deepEqual(got.tags, { owner: "e2e", run: tag });
      const { heaps } = await mcp.call("query_heaps_by_tags", { tags: { run: tag } });
      assert.equal(heaps.length, 1, JSON.stringify(heaps));
      assert.ok(JSON.stringify(heaps[0]).includes(heap), JSON.stringify(heaps));
      const none = await mcp.call("query_heaps_by_tags", { tags: { run: `${tag}-other` } });
      assert.deepEqual(none.heaps, []);
      await mcp.call("delete_heap_tags", { heap, keys: ["owner"] });
      assert.deepEqual((await mcp.call("get_heap_tags", { heap })).tags, { run: tag });
    });

    test("list_executions with status and limit", async () => {
      const ok = await mcp.call("run_js", { code: "'listed'", wait_ms: 20000 });
      const bad = await mcp.call("run_js", { code: "throw new TypeError('boom')", wait_ms: 20000 });
      assert.equal(bad.status, "failed");
      assert.equal(bad.error, "TypeError: boom");
      const all = (await mcp.call("list_executions")).executions;
      const ids = all.map((e) => e.execution_id);
      assert.ok(ids.includes(ok.execution_id) && ids.includes(bad.execution_id));
      const failed = (await mcp.call("list_executions", { status: "failed" })).executions;
      assert.ok(failed.length >= 1 && failed.every((e) => e.status === "failed"), JSON.stringify(failed));
      assert.ok(failed.some((e) => e.execution_id === bad.execution_id));
      const one = (await mcp.call("list_executions", { limit: 1 })).executions;
      assert.equal(one.length, 1);
    });

    test("wait_ms returns the full record, or the status when the run outlives it", async () => {
      const rec = await mcp.call("run_js", { code: "6 * 7", wait_ms: 20000 });
      assert.equal(rec.status, "completed");
      assert.equal(rec.result, "42");
      assert.match(rec.heap, HEX64);
      for (const t of [rec.started_at, rec.completed_at]) assert.ok(!Number.isNaN(Date.parse(t)), t);
      const early = await mcp.call("run_js", { code: SLOW_CODE, wait_ms: 300 });
      assert.ok(["queued", "running"].includes(early.status), JSON.stringify(early));
      assert.equal(early.result, undefined);
      await mcp.call("cancel_execution", { execution_id: early.execution_id });
    });

    test("console lines arrive as logging and progress notifications while wait_ms waits", async () => {
      const progress = [];
      const code =
        'for (const w of ["alpha", "beta", "gamma"]) { console.log(w); await new Promise(r => setTimeout(r, 50)); } "ok"';
      const rec = await mcp.call("run_js", { code, wait_ms: 20000 }, { onprogress: (p) => progress.push(p) });
      assert.equal(rec.result, "ok");
      const mine = mcp.logs.filter((l) => l.data?.execution_id === rec.execution_id);
      assert.deepEqual(
        mine.map((l) => [l.level, l.logger, l.data.line]),
        ["alpha", "beta", "gamma"].map((w) => ["info", "console", w]),
      );
      assert.deepEqual(
        progress.map((p) => p.message),
        ["alpha", "beta", "gamma"],
      );
      for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress > progress[i - 1].progress);
    });
  });
}
