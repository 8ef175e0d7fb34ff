// k6 scenario for `make load`: POST /api/exec at a constant arrival rate (open model: k6
// starts RATE iterations per second whatever the latency, so a slow server shows up as
// latency and dropped iterations rather than as a lower request rate).
//
// Environment (set by run.sh):
//   BASE_URL   server root, e.g. http://127.0.0.1:8080
//   MODE       stateless | stateful (stateful: every request resumes one of SESSIONS sessions)
//   RATE       iterations per second;  DURATION  seconds;  SESSIONS  (stateful) default 16
//   SUMMARY    file the JSON summary is written to (read by report.mjs)
import http from "k6/http";
import { Rate, Trend } from "k6/metrics";

const baseUrl = __ENV.BASE_URL;
const mode = __ENV.MODE || "stateless";
const rate = Number(__ENV.RATE || 100);
const duration = Number(__ENV.DURATION || 20);
const sessions = Number(__ENV.SESSIONS || 16);
const url = `${baseUrl}/api/exec`;
const params = { headers: { "Content-Type": "application/json" }, timeout: "30s" };

// Only the load requests: setup()'s session creation must not count in the latency.
const execLatency = new Trend("exec_latency", true);
const execSuccess = new Rate("exec_success");

export const options = {
  scenarios: {
    load: {
      executor: "constant-arrival-rate",
      rate,
      timeUnit: "1s",
      duration: `${duration}s`,
      // A VU is busy for one request's latency; enough for ~100 ms at the target rate
      // before k6 has to allocate more, and a ceiling past which iterations are dropped
      // (the server is then clearly saturated).
      preAllocatedVUs: Math.max(20, Math.ceil(rate / 10)),
      maxVUs: Math.max(100, rate),
      gracefulStop: "10s",
    },
  },
  summaryTrendStats: ["avg", "min", "med", "max", "p(95)", "p(99)"],
  setupTimeout: "60s",
};

// Stateless: a tiny computation. Stateful: a counter kept in the session's heap, so each
// run really depends on the heap it resumed.
const statelessCode = "let s = 0; for (let i = 0; i < 100; i++) s += i; s";
const statefulCode = "globalThis.n = (globalThis.n || 0) + 1; n";

export function setup() {
  if (mode !== "stateful") return {};
  for (let k = 0; k < sessions; k++) {
    const res = http.post(url, JSON.stringify({ code: "globalThis.n = 0; n", session: `s${k}` }), params);
    if (res.status !== 200 || !String(res.body).includes('"status":"completed"')) {
      throw new Error(`creating session s${k}: HTTP ${res.status} ${res.body}`);
    }
  }
  return {};
}

export default function () {
  const body =
    mode === "stateful"
      ? JSON.stringify({ code: statefulCode, session: `s${Math.floor(Math.random() * sessions)}` })
      : JSON.stringify({ code: statelessCode });
  const res = http.post(url, body, params);
  // A substring test rather than JSON.parse keeps k6's own CPU use down.
  execLatency.add(res.timings.duration);
  execSuccess.add(res.status === 200 && typeof res.body === "string" && res.body.includes('"status":"completed"'));
}

function metric(data, name, field) {
  const m = data.metrics[name];
  return m && m.values && m.values[field] !== undefined ? m.values[field] : 0;
}

export function handleSummary(data) {
  const summary = {
    mode,
    rate,
    duration,
    iterations: metric(data, "iterations", "count"),
    dropped: metric(data, "dropped_iterations", "count"),
    success_rate: metric(data, "exec_success", "rate"),
    success_count: metric(data, "exec_success", "passes"),
    avg_ms: metric(data, "exec_latency", "avg"),
    med_ms: metric(data, "exec_latency", "med"),
    p95_ms: metric(data, "exec_latency", "p(95)"),
    p99_ms: metric(data, "exec_latency", "p(99)"),
    max_ms: metric(data, "exec_latency", "max"),
    max_vus: metric(data, "vus_max", "value"),
  };
  const line = `${mode} @${rate}/s: ${summary.iterations} iterations, ${summary.dropped} dropped, ` +
    `p95 ${summary.p95_ms.toFixed(2)} ms, success ${(summary.success_rate * 100).toFixed(2)}%\n`;
  return { [__ENV.SUMMARY]: JSON.stringify(summary), stdout: line };
}
