"""Core scenarios with the official Python SDK over stdio, Streamable HTTP and SSE."""

import json
import re
import uuid

import anyio
import pytest

pytestmark = pytest.mark.anyio

HEX64 = re.compile(r"^[0-9a-f]{64}$")
TERMINAL = {"completed", "failed", "cancelled", "timed_out"}
SLOW_CODE = (
    'for (let i = 0; i < 50; i++) { console.log("line " + i); await new Promise(r => setTimeout(r, 100)); } "done"'
)
SLOW_OUTPUT = "".join(f"line {i}\n" for i in range(50))


async def call(client, name, args=None, **kwargs):
    """A tool call that must succeed; returns structuredContent (checked against the text)."""
    res = await client.call_tool(name, args or {}, **kwargs)
    assert not res.is_error, f"{name} failed: {res.content}"
    assert json.loads(res.content[0].text) == res.structured_content
    return res.structured_content


async def wait_status(client, execution_id, want, timeout=20.0):
    with anyio.fail_after(timeout):
        while True:
            rec = await call(client, "get_execution", {"execution_id": execution_id})
            if want(rec["status"]):
                return rec
            await anyio.sleep(0.05)


async def test_tools_listed(open_client):
    async with open_client() as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert {"run_js", "get_execution_output", "cancel_execution", "list_session_snapshots", "set_heap_tags"} <= names


async def test_session_chained_over_five_runs(open_client):
    session = f"py-chain-{uuid.uuid4().hex}"
    async with open_client() as client:
        for i in range(1, 6):
            code = "globalThis.n = (globalThis.n ?? 0) + 1; n"
            rec = await call(client, "run_js", {"code": code, "session": session, "wait_ms": 20000})
            assert (rec["status"], rec["result"], rec["session"]) == ("completed", str(i), session)
            assert HEX64.match(rec["heap"])
        entries = (await call(client, "list_session_snapshots", {"session": session}))["entries"]
        assert len(entries) == 5
        # The heap id chains too: resuming the last heap explicitly sees n == 5.
        again = await call(client, "run_js", {"code": "n * 10", "heap": rec["heap"], "wait_ms": 20000})
        assert again["result"] == "50"


async def test_paging_a_running_execution(open_client):
    async with open_client() as client:
        execution_id = (await call(client, "run_js", {"code": SLOW_CODE}))["execution_id"]
        await wait_status(client, execution_id, lambda s: s == "running")
        offset, text, status = 0, "", "running"
        with anyio.fail_after(30):
            while True:
                status = (await call(client, "get_execution", {"execution_id": execution_id}))["status"]
                page = await call(
                    client, "get_execution_output", {"execution_id": execution_id, "line_offset": offset, "line_limit": 4}
                )
                lines = page["data"].count("\n")
                assert lines <= 4
                assert page["next_line_offset"] == offset + lines
                assert page["has_more"] == (page["next_line_offset"] < page["total_lines"])
                text += page["data"]
                offset = page["next_line_offset"]
                if not page["has_more"] and status in TERMINAL:
                    break
                if not page["has_more"]:
                    await anyio.sleep(0.05)
        assert text == SLOW_OUTPUT
        # Byte mode over the finished output: pages of 64 bytes add up to the whole.
        offset, data = 0, b""
        while True:
            page = await call(
                client, "get_execution_output", {"execution_id": execution_id, "byte_offset": offset, "byte_limit": 64}
            )
            chunk = page["data"].encode()
            assert len(chunk) <= 64 and page["next_byte_offset"] == offset + len(chunk)
            data, offset = data + chunk, page["next_byte_offset"]
            if not page["has_more"]:
                break
        assert data.decode() == SLOW_OUTPUT and page["total_bytes"] == len(data)


async def test_cancel_a_running_execution(open_client):
    async with open_client() as client:
        execution_id = (await call(client, "run_js", {"code": SLOW_CODE}))["execution_id"]
        await wait_status(client, execution_id, lambda s: s == "running")
        await call(client, "cancel_execution", {"execution_id": execution_id})
        rec = await wait_status(client, execution_id, lambda s: s in TERMINAL, timeout=10)
        assert rec["status"] == "cancelled"
        listed = (await call(client, "list_executions", {"status": "cancelled"}))["executions"]
        assert execution_id in [e["execution_id"] for e in listed]


async def test_heap_tags(open_client):
    async with open_client() as client:
        heap = (await call(client, "run_js", {"code": "'tagged'", "wait_ms": 20000}))["heap"]
        tag = uuid.uuid4().hex
        await call(client, "set_heap_tags", {"heap": heap, "tags": {"owner": "py", "run": tag}})
        assert (await call(client, "get_heap_tags", {"heap": heap}))["tags"] == {"owner": "py", "run": tag}
        heaps = (await call(client, "query_heaps_by_tags", {"tags": {"run": tag}}))["heaps"]
        assert len(heaps) == 1 and heap in json.dumps(heaps)
        await call(client, "delete_heap_tags", {"heap": heap, "keys": ["owner"]})
        assert (await call(client, "get_heap_tags", {"heap": heap}))["tags"] == {"run": tag}


async def test_wait_ms_record_logging_and_progress(open_client):
    logs, progress = [], []

    async def on_log(params):
        logs.append(params)

    async def on_progress(value, total, message):
        progress.append(message)

    code = 'for (const w of ["one", "two"]) { console.log(w); await new Promise(r => setTimeout(r, 50)); } 6 * 7'
    async with open_client(logging_callback=on_log) as client:
        rec = await call(client, "run_js", {"code": code, "wait_ms": 20000}, progress_callback=on_progress)
        assert (rec["status"], rec.get("result")) == ("completed", "42"), rec
        assert HEX64.match(rec["heap"]) and rec["started_at"] and rec["completed_at"]
        early = await call(client, "run_js", {"code": SLOW_CODE, "wait_ms": 200})
        assert early["status"] in ("queued", "running") and "result" not in early
        await call(client, "cancel_execution", {"execution_id": early["execution_id"]})
    mine = [(m.level, m.logger, m.data["line"]) for m in logs if m.data.get("execution_id") == rec["execution_id"]]
    assert mine == [("info", "console", "one"), ("info", "console", "two")]
    assert progress == ["one", "two"]


async def test_errors_are_results(open_client):
    async with open_client() as client:
        res = await client.call_tool("run_js", {"code": "1", "heap": "../../etc/passwd"})
        assert res.is_error and "64 lowercase hex" in res.content[0].text
        rec = await call(client, "run_js", {"code": "null.x", "wait_ms": 20000})
        assert rec["status"] == "failed" and rec["error"].startswith("TypeError: ")
