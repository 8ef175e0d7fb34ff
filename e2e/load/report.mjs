// Builds the `make load` results table from run.sh's runs.tsv (scenario, rate, k6 summary
// file, CPU % of the server, of k6 and of every other process) and the machine description in the environment; writes it to
// the given markdown file and prints it. Exit status 1 when LOAD_STRICT=1 and a target
// is missed.
// Usage: node report.mjs <runs.tsv> <results.md>
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const [runsFile, resultsFile] = process.argv.slice(2);
const env = process.env;

const labels = {
  stateless: "mcp-v8 --stateless",
  stateful: `mcp-v8 stateful (${env.LOAD_SESSIONS} sessions)`,
  node: "Node.js vm baseline",
};

// The targets set for a 2-core machine: [scenario, rate, p95 bound in ms].
const targets = [
  ["stateless", 1000, 10],
  ["stateful", 200, 50],
];

const runs = readFileSync(runsFile, "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "")
  .map((line) => {
    const [scenario, rate, summaryFile, serverCpu, k6Cpu, otherCpu] = line.split("\t");
    const s = JSON.parse(readFileSync(summaryFile, "utf8"));
    return { scenario, rate: Number(rate), serverCpu, k6Cpu, otherCpu, ...s };
  });

const fixed = (x, digits = 2) => Number(x).toFixed(digits);
const successPct = (r) => fixed(r.success_rate * 100);
const header =
  "| Scenario | Target req/s | Achieved iter/s | avg ms | p95 ms | p99 ms | Success % | Dropped | Server CPU % | k6 CPU % | Other CPU % |";
const rows = runs.map(
  (r) =>
    `| ${labels[r.scenario] || r.scenario} | ${r.rate} | ${fixed(r.iterations / r.duration, 1)} | ${fixed(r.avg_ms)} | ` +
    `${fixed(r.p95_ms)} | ${fixed(r.p99_ms)} | ${successPct(r)} | ${r.dropped} | ${r.serverCpu} | ${r.k6Cpu} | ${r.otherCpu} |`,
);

let missed = 0;
const verdicts = [];
for (const [scenario, rate, p95] of targets) {
  const r = runs.find((x) => x.scenario === scenario && x.rate === rate);
  if (!r) {
    verdicts.push(`- ${labels[scenario]} at ${rate}/s with p95 ≤ ${p95} ms: not run`);
    continue;
  }
  const met = r.p95_ms <= p95 && r.dropped === 0 && r.success_rate === 1;
  if (!met) missed++;
  verdicts.push(
    `- ${labels[scenario]} at ${rate}/s with p95 ≤ ${p95} ms, nothing dropped, 100% success: ` +
      `**${met ? "met" : "NOT met"}** (p95 ${fixed(r.p95_ms)} ms, ${r.dropped} dropped, ${successPct(r)}% success)`,
  );
}

// `top` taken halfway through each scenario's highest rate: who had the CPU at saturation.
const snapshots = Object.keys(labels)
  .map((scenario) => {
    const rates = runs.filter((r) => r.scenario === scenario).map((r) => r.rate);
    if (rates.length === 0) return "";
    const rate = Math.max(...rates);
    const file = join(dirname(runsFile), `top-${scenario}-${rate}.txt`);
    if (!existsSync(file)) return "";
    const lines = readFileSync(file, "utf8").split("\n");
    const header = lines.findIndex((line) => line.trim().startsWith("PID"));
    const top = [lines[2], ...lines.slice(header, header + 8)].join("\n");
    return `${labels[scenario]} at ${rate}/s:\n\n\`\`\`\n${top}\n\`\`\`\n`;
  })
  .filter((x) => x !== "");

const text = `# mcp-v8 load test (\`make load\`)

- Date: ${env.LOAD_DATE || new Date().toISOString()}
- Machine: ${env.LOAD_NPROC} CPUs, ${env.LOAD_CPU_MODEL}; load average at start: ${env.LOAD_LOADAVG}
- Tools: ${env.LOAD_K6_VERSION} (GOMAXPROCS=${env.LOAD_K6_CPUS}), Node.js ${process.version}; server: ${env.LOAD_MCP_V8}

k6 constant-arrival-rate executor, \`POST /api/exec\`, ${env.LOAD_DURATION} s per row. Success = HTTP 200 and
status "completed". Latency is k6's request duration (sending to last byte received). Dropped =
iterations k6 could not start because every VU was waiting on the server. CPU % is of one core
(${env.LOAD_NPROC} cores = ${Number(env.LOAD_NPROC) * 100}%), measured over the run: the server with its worker processes,
k6, and every other process on the machine (a busy neighbour makes the numbers meaningless).

${header}
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join("\n")}

Targets:
${verdicts.join("\n")}

\`top\` halfway through the highest rate of each scenario (the mcp-v8 process with the
largest RES is the server, the others its workers):

${snapshots.join("\n")}`;

writeFileSync(resultsFile, text);
process.stdout.write(text);
if (env.LOAD_STRICT === "1" && missed > 0) process.exit(1);
