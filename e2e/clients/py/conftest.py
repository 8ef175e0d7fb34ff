"""Fixtures: the real mcp-v8 binary (MCP_V8_BIN) on free loopback ports with temp dirs, and
official Python SDK clients to it over stdio, Streamable HTTP and legacy SSE."""

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters

BIN = os.environ.get("MCP_V8_BIN", "/tmp/mcp-v8-bin/mcp-v8")
TRANSPORTS = ["stdio", "http", "sse"]


def stateful_args(directory: Path) -> list[str]:
    return ["--session-db-path", str(directory / "db"), "--directory-path", str(directory / "heaps"), "--log", "warn"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as res:
                if res.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"mcp-v8 not ready at {base}")


def start_server(mode: str, directory: Path):
    """Starts mcp-v8 with --http-port or --sse-port; retries when the free port got taken."""
    for _ in range(5):
        port = free_port()
        log = directory / f"{mode}-{port}.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen([BIN, f"--{mode}-port", str(port), *stateful_args(directory)], stderr=err)
        base = f"http://127.0.0.1:{port}"
        if wait_ready(base, proc):
            return proc, base
        if b"in use" not in log.read_bytes():
            raise RuntimeError(f"mcp-v8 exited: {log.read_text()}")
    raise RuntimeError("no free port for mcp-v8")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One HTTP and one SSE server per test module (each with its own dirs)."""
    started = {}
    try:
        for mode in ("http", "sse"):
            started[mode] = start_server(mode, tmp_path_factory.mktemp(f"mcp-v8-{mode}"))
        yield {mode: base for mode, (_, base) in started.items()}
    finally:
        for proc, _ in started.values():
            stop(proc)


@pytest.fixture(params=TRANSPORTS)
def open_client(request, servers, tmp_path):
    """Returns a function making an (un-entered) SDK Client over the parametrized transport."""
    kind = request.param

    def make(**kwargs) -> Client:
        if kind == "stdio":
            params = StdioServerParameters(command=BIN, args=stateful_args(tmp_path))
            return Client(params, **kwargs)
        if kind == "http":
            return Client(f"{servers['http']}/mcp", **kwargs)
        return Client(sse_client(f"{servers['sse']}/sse"), **kwargs)

    make.kind = kind
    return make
