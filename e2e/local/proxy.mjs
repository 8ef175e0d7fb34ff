// Round-robin HTTP front for the loopback cluster, standing in for the Kubernetes client
// Service: node proxy.mjs UPSTREAMS_FILE PORT_FILE.
// UPSTREAMS_FILE holds one base URL per line (http://127.0.0.1:PORT); run.sh rewrites it
// atomically as nodes come and go, and it is re-read on every request, like endpoint
// updates. A connection refused by an upstream (a node just killed, not yet removed from the
// file) moves on to the next one, as a Service's readiness would; anything after the
// request reached a node is passed back untouched. The listening port is written to
// PORT_FILE once bound (port 0 = a free one). Streamable HTTP is stateless on mcp-v8, so
// no stickiness is needed.
import { createServer, request } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";

const [upstreamsFile, portFile] = process.argv.slice(2);
if (!upstreamsFile || !portFile) {
  console.error("usage: node proxy.mjs UPSTREAMS_FILE PORT_FILE");
  process.exit(2);
}

let next = 0;
const upstreams = () =>
  readFileSync(upstreamsFile, "utf8")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);

// Sends the buffered request to upstream number `attempt` after the round-robin start.
function forward(req, res, body, list, start, attempt) {
  if (attempt >= list.length) {
    res.writeHead(502, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: `no upstream accepted the connection (${list.join(", ")})` }));
    return;
  }
  const target = new URL(list[(start + attempt) % list.length]);
  const up = request({
    host: target.hostname,
    port: target.port,
    method: req.method,
    path: req.url,
    headers: { ...req.headers, host: target.host, "content-length": body.length },
  });
  up.on("response", (upRes) => {
    res.writeHead(upRes.statusCode, upRes.headers);
    upRes.pipe(res);
    // A node dying mid-response (an SSE stream cut off) must cut the client's response too,
    // or the client waits forever: pipe() does not pass on the upstream's abort.
    upRes.on("close", () => {
      if (!upRes.complete) {
        console.error(`proxy: ${req.method} ${req.url} via ${target.host}: response cut off`);
        res.destroy();
      }
    });
  });
  up.on("error", (err) => {
    console.error(`proxy: ${req.method} ${req.url} via ${target.host}: ${err.code ?? ""} ${err.message}`);
    if (err.code === "ECONNREFUSED" && !res.headersSent) {
      forward(req, res, body, list, start, attempt + 1);
    } else if (!res.headersSent) {
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: `${target.host}: ${err.message}` }));
    } else {
      res.destroy(err);
    }
  });
  up.end(body);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    let list;
    try {
      list = upstreams();
    } catch (err) {
      list = [];
      console.error(`proxy: ${err.message}`);
    }
    forward(req, res, Buffer.concat(chunks), list, next++, 0);
  });
});

server.listen(0, "127.0.0.1", () => {
  writeFileSync(portFile, String(server.address().port));
});
