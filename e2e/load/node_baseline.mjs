// Node.js `vm` baseline for `make load`: the stateless half of mcp-v8's plain API, done the
// simplest way Node allows (one process, a fresh context per run, no isolation beyond `vm`),
// so the load numbers have something to be compared with.
//   POST /api/exec {code, execution_timeout_secs?} -> 200 {status, result?, error?, output}
//   GET /readyz -> 200
// Usage: node node_baseline.mjs <port> (0 = any free port; the bound port is printed as
// "listening <port>" on stdout).
import http from "node:http";
import vm from "node:vm";

const port = Number(process.argv[2] || 0);
const maxBody = 4 * 1024 * 1024;

function run(code, timeoutMs) {
  const output = [];
  const log = (...args) => output.push(args.map(String).join(" "));
  const sandbox = { console: { log, info: log, warn: log, error: log } };
  try {
    const value = vm.runInNewContext(code, sandbox, { timeout: timeoutMs });
    return { status: "completed", result: value === undefined ? undefined : String(value), output: output.join("\n") };
  } catch (e) {
    const timedOut = e && e.code === "ERR_SCRIPT_EXECUTION_TIMEOUT";
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { status: timedOut ? "timed_out" : "failed", error, output: output.join("\n") };
  }
}

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && (req.url === "/readyz" || req.url === "/healthz")) {
    return reply(res, 200, { status: "ok" });
  }
  if (req.method !== "POST" || req.url.split("?")[0] !== "/api/exec") {
    return reply(res, 404, { error: "not found" });
  }
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > maxBody) {
      reply(res, 413, { error: "request body too large" });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on("end", () => {
    let input;
    try {
      input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return reply(res, 400, { error: "malformed JSON" });
    }
    if (typeof input.code !== "string") return reply(res, 400, { error: "code must be a string" });
    const timeoutSecs = Number(input.execution_timeout_secs || 30);
    reply(res, 200, run(input.code, timeoutSecs * 1000));
  });
});

server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
