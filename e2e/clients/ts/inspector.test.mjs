// MCP Inspector CLI smoke test (@modelcontextprotocol/inspector-cli, its --cli mode; the
// inspector 2.x package needs node >= 22). tools/list and a run_js call over stdio, and
// tools/list over Streamable HTTP.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, describe, test } from "node:test";
import { BIN, startServer, statefulArgs, tempDir } from "./lib/server.mjs";

const CLI = fileURLToPath(new URL("../node_modules/@modelcontextprotocol/inspector-cli/build/cli.js", import.meta.url));

// inspector-cli 1.0.3 reads its own package.json through a path it checks relative to the
// working directory ("../package.json"), so it only works when started from its build dir.
async function inspector(args) {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, "--cli", ...args], {
    cwd: dirname(CLI),
    timeout: 60000,
  });
  const json = stdout.slice(stdout.indexOf("{"));
  return JSON.parse(json);
}

describe("MCP Inspector CLI", { timeout: 120000 }, () => {
  const dir = tempDir();
  let server;
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("tools/list over stdio lists run_js", async () => {
    const out = await inspector([BIN, ...statefulArgs(dir), "--method", "tools/list"]);
    const names = out.tools.map((t) => t.name);
    assert.ok(names.includes("run_js") && names.includes("list_session_snapshots"), names.join(","));
  });

  test("tools/call run_js over stdio returns the result", async () => {
    const out = await inspector([
      BIN,
      ...statefulArgs(dir),
      "--method",
      "tools/call",
      "--tool-name",
      "run_js",
      "--tool-arg",
      "code=6 * 7",
      "--tool-arg",
      "wait_ms=20000",
    ]);
    assert.equal(out.isError, false, JSON.stringify(out));
    assert.equal(out.structuredContent.status, "completed");
    assert.equal(out.structuredContent.result, "42");
    assert.match(out.content[0].text, /"result":"42"/);
  });

  test("tools/list over Streamable HTTP", async () => {
    server = await startServer("http");
    const out = await inspector([`${server.base}/mcp`, "--transport", "http", "--method", "tools/list"]);
    assert.ok(out.tools.some((t) => t.name === "run_js"));
  });
});
