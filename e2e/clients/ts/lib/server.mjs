// Starts the real mcp-v8 binary (MCP_V8_BIN) for a test: its own temp dirs, a free loopback
// port, readiness through GET /readyz, and a kill at the end of the test file.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BIN = process.env.MCP_V8_BIN ?? "/tmp/mcp-v8-bin/mcp-v8";

// A long-running snippet: 50 console lines, one every 100 ms, then "done".
export const SLOW_CODE =
  'for (let i = 0; i < 50; i++) { console.log("line " + i); await new Promise(r => setTimeout(r, 100)); } "done"';

export function tempDir(prefix = "mcp-v8-clients-") {
  return mkdtempSync(join(tmpdir(), prefix));
}

// Ports come from the kernel (bind port 0); the tiny window before mcp-v8 binds it is covered
// by retrying the start on a new port.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Flags for a stateful server with its db and heap dirs under `dir`.
export function statefulArgs(dir, db = "db") {
  return ["--session-db-path", join(dir, db), "--directory-path", join(dir, "heaps"), "--log", "warn"];
}

async function waitReady(url, child, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const res = await fetch(url);
      if (res.status === 200) return true;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`mcp-v8 not ready at ${url} after ${timeoutMs} ms`);
}

// mode: "http" (--http-port) or "sse" (--sse-port). opts.dir shares a heap dir between
// servers, each with its own opts.db.
export async function startServer(mode = "http", opts = {}) {
  const dir = opts.dir ?? tempDir();
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = [`--${mode}-port`, String(port), ...statefulArgs(dir, opts.db), ...(opts.args ?? [])];
    const child = spawn(BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const base = `http://127.0.0.1:${port}`;
    if (await waitReady(`${base}/readyz`, child)) {
      return {
        base,
        port,
        dir,
        child,
        stderr: () => stderr,
        async stop() {
          await killChild(child);
          if (!opts.dir) rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    if (!/address.*in use|AddrInUse/i.test(stderr)) {
      throw new Error(`mcp-v8 exited (${child.exitCode}): ${stderr}`);
    }
  }
  throw new Error("could not find a free port for mcp-v8");
}

export async function killChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}
