// MCP clients from the official TypeScript SDK over the three transports mcp-v8 speaks.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { BIN, startServer, statefulArgs, tempDir } from "./server.mjs";

// Opens a client over `kind` ("stdio" | "http" | "sse") to a fresh stateful mcp-v8.
// Returns { client, call, logs, close }; `logs` collects every notifications/message.
export async function connect(kind) {
  let server = null;
  let transport;
  let dir = null;
  if (kind === "stdio") {
    dir = tempDir();
    transport = new StdioClientTransport({ command: BIN, args: statefulArgs(dir), stderr: "ignore" });
  } else {
    server = await startServer(kind === "http" ? "http" : "sse");
    transport =
      kind === "http"
        ? new StreamableHTTPClientTransport(new URL(`${server.base}/mcp`))
        : new SSEClientTransport(new URL(`${server.base}/sse`));
  }
  const client = new Client({ name: "mcp-v8-e2e", version: "1.0.0" });
  const logs = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params);
  });
  await client.connect(transport);
  return {
    client,
    logs,
    server,
    dir,
    call: (name, args, opts) => call(client, name, args, opts),
    async close() {
      await client.close();
      if (server) await server.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Calls a tool and returns its structuredContent, asserting it succeeded and that the text
// content carries the same JSON.
export async function call(client, name, args = {}, opts = {}) {
  const res = await client.callTool({ name, arguments: args }, undefined, { timeout: 60000, ...opts });
  assert.notEqual(res.isError, true, `${name} failed: ${JSON.stringify(res.content)}`);
  assert.equal(typeof res.structuredContent, "object");
  assert.deepEqual(JSON.parse(res.content[0].text), res.structuredContent);
  return res.structuredContent;
}

// Calls a tool that must fail: an isError result with a one-line message.
export async function callError(client, name, args = {}) {
  const res = await client.callTool({ name, arguments: args });
  assert.equal(res.isError, true, `${name} should fail: ${JSON.stringify(res)}`);
  const text = res.content[0].text;
  assert.ok(text.length > 0 && !text.includes("\n"), `one-line message expected: ${JSON.stringify(text)}`);
  return text;
}

export const HEX64 = /^[0-9a-f]{64}$/;
