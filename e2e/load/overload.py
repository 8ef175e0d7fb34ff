#!/usr/bin/env python3
"""`make overload`: drive far more runs than mcp-v8 may run or queue, and record how it copes.

Starts `mcp-v8 --stateless --max-concurrent-executions C --max-queued-executions Q` on a free
loopback port, then for OVERLOAD_DURATION seconds keeps OVERLOAD_CLIENTS clients (default
8 x C) posting CPU-heavy and memory-heavy runs to /api/exec, each client retrying after 20 ms
when told 429. It samples the resident memory of the server and its workers every 100 ms,
then measures recovery: how long until a trivial run answers and /metrics shows an empty
queue. Figures go to OVERLOAD_RESULTS (default e2e/load/overload.md) and stdout; the exit
status is 1 if any request got something other than 200/429, an accepted run timed out, or
the recovery took longer than 5 s. Standard library only.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

CPU = "let x = 0; for (let i = 0; i < 2e7; i++) x = (x + i * 7) % 1000003; x > -1"
MEM = "const a = []; for (let i = 0; i < 24; i++) a.push(new Array(1e5).fill(i + 0.5)); a.length"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid):
    total = rss(pid)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            total += rss(int(name))
    return total


def request(port, method, path, body=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def metric(port, name):
    _, text = request(port, "GET", "/metrics")
    for line in text.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def main():
    exe = os.environ.get("MCP_V8") or sys.exit("set MCP_V8 to the mcp-v8 binary")
    concurrency = int(os.environ.get("OVERLOAD_CONCURRENCY", "2"))
    queue = int(os.environ.get("OVERLOAD_QUEUE", "4"))
    clients = int(os.environ.get("OVERLOAD_CLIENTS", str(8 * concurrency)))
    duration = float(os.environ.get("OVERLOAD_DURATION", "60"))
    heap_mb = int(os.environ.get("OVERLOAD_HEAP_MB", "32"))
    results = os.environ.get("OVERLOAD_RESULTS", os.path.join(os.path.dirname(__file__), "overload.md"))

    port = free_port()
    work = tempfile.mkdtemp(prefix="mcp-v8-overload-")
    server = subprocess.Popen(
        [exe, "--http-port", str(port), "--stateless", "--session-db-path", work,
         "--max-concurrent-executions", str(concurrency), "--max-queued-executions", str(queue),
         "--heap-memory-max", str(heap_mb), "--log", "warn"],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                if request(port, "GET", "/readyz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("mcp-v8 never became ready")
            time.sleep(0.1)
        baseline = tree_rss(server.pid)

        lock = threading.Lock()
        counts = {"completed": 0, "failed": 0, "timed_out": 0, "busy": 0, "other": 0}
        latencies = []
        stop = threading.Event()

        def client(n):
            i = n
            while not stop.is_set():
                i += 1
                code = CPU if i % 2 == 0 else MEM
                t = time.time()
                try:
                    status, body = request(port, "POST", "/api/exec",
                                           {"code": code, "execution_timeout_secs": 30})
                    doc = json.loads(body or b"null") or {}
                except (OSError, ValueError) as e:
                    status, doc = 0, {"error": str(e)}
                with lock:
                    if status == 200 and doc.get("status") in counts:
                        counts[doc["status"]] += 1
                        latencies.append(time.time() - t)
                    elif status == 429 and "busy" in (doc.get("error") or ""):
                        counts["busy"] += 1
                    else:
                        counts["other"] += 1
                        print(f"unexpected answer {status}: {doc}", file=sys.stderr)
                if status == 429:
                    time.sleep(0.02)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        started = time.time()
        for t in threads:
            t.start()
        peak, max_queued = baseline, 0
        while time.time() - started < duration:
            peak = max(peak, tree_rss(server.pid))
            max_queued = max(max_queued, metric(port, "mcpv8_queued_runs") or 0)
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join()
        burst = time.time() - started

        t = time.time()
        status, body = request(port, "POST", "/api/exec", {"code": "1 + 1"})
        first_run = time.time() - t
        ok_after = status == 200 and json.loads(body).get("result") == "2"
        while metric(port, "mcpv8_queued_runs") != 0 or metric(port, "mcpv8_running_runs") != 0:
            time.sleep(0.05)
        recovery = time.time() - t
        settled_rss = tree_rss(server.pid)
        alive = server.poll() is None
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    total = sum(counts.values())
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0
    mb = lambda b: f"{b / 2**20:.0f} MB"
    rows = [
        ("configuration", f"{concurrency} workers, {queue} queue places, {heap_mb} MB heap limit, {clients} clients ({clients // concurrency}x the concurrency)"),
        ("burst", f"{burst:.0f} s of alternating CPU-heavy and memory-heavy runs"),
        ("requests", str(total)),
        ("200 completed / failed / timed out", f"{counts['completed']} / {counts['failed']} / {counts['timed_out']}"),
        ("429 busy", str(counts["busy"])),
        ("other answers (5xx, resets)", str(counts["other"])),
        ("accepted run latency p50 / p99", f"{p(0.5) * 1000:.0f} ms / {p(0.99) * 1000:.0f} ms"),
        ("highest queue depth seen", f"{max_queued:.0f}"),
        ("RSS (server + workers) before / peak / after", f"{mb(baseline)} / {mb(peak)} / {mb(settled_rss)}"),
        ("first run after the burst", f"{first_run * 1000:.0f} ms ({'ok' if ok_after else 'FAILED'})"),
        ("queue and running back to 0 after", f"{recovery * 1000:.0f} ms"),
        ("server alive throughout", "yes" if alive else "NO"),
    ]
    text = "# Overload results\n\nGenerated by `make overload` (e2e/load/overload.py) against `" + os.path.basename(exe) + "`.\n\n"
    text += "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    with open(results, "w") as f:
        f.write(text)
    print(text)
    bad = counts["other"] or counts["timed_out"] or not ok_after or recovery > 5 or not alive
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
