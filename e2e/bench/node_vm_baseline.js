// Node.js baseline for the engine benchmark (executor/benches/engine.rs): the same
// snippets run with `vm`, measured the same way (per-run CPU and wall time).
// Usage: node node_vm_baseline.js <iterations>
"use strict";
const vm = require("node:vm");

const n = Number(process.argv[2] || 1000);

function measure(name, fn, iterations) {
  for (let i = 0; i < Math.min(50, iterations); i++) fn(); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e6 / iterations;
  const c = process.cpuUsage(cpu0);
  const cpu = (c.user + c.system) / 1000 / iterations;
  return { name, iterations, cpu_ms: cpu, wall_ms: wall };
}

const results = [
  // A fresh context is what Node offers in place of a fresh isolate.
  measure("fresh context", () => vm.createContext({}), n),
  measure("stateless 1+1", () => vm.runInNewContext("1+1"), n),
  // Node cannot snapshot and restore user state: the same snippet in a new context
  // is what it does per run (state re-created from code, nothing persisted).
  measure("counter snippet in a new context", () => vm.runInNewContext("var counter = 0; counter++"), n),
];
process.stdout.write(JSON.stringify(results) + "\n");
