"""SIGTERM (Cloud Run stopping the instance): streams in flight end cleanly, stored and logged.

Cloud Run sends SIGTERM and kills the instance about 10 s later. A stream in flight must end
within that grace period with an in-band error and ``[DONE]`` (not a cut socket), its reply
stored as ``incomplete``, and its log line written (see ``vertexchat/lifecycle.py``).
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Callable

import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer

pytestmark = pytest.mark.emulator


def test_sigterm_ends_a_stream_in_band_stores_it_incomplete_and_logs_it(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    server = start_function()
    # 200 deltas 50 ms apart: 10 s of stream, cut by the shutdown after the first bytes.
    sim.script({"content": [{"type": "text", "text": "tok " * 200}], "stop_reason": "end_turn", "interval_ms": 50})
    session_id = str(uuid.uuid4())
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Count slowly"}],
            "stream": True, "session_id": session_id}
    lines: list[str] = []
    first = threading.Event()

    def read() -> None:
        with requests.post(f"{server.url}/v1/chat/completions", json=body, stream=True, timeout=30) as response:
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    lines.append(line[6:])
                    first.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert first.wait(10)
    server.proc.popen.send_signal(signal.SIGTERM)  # to gunicorn's master, as Cloud Run does
    started = time.monotonic()
    reader.join(10)
    assert not reader.is_alive()
    assert time.monotonic() - started < 5.0  # well inside Cloud Run's 10 s grace period

    assert lines[-1] == "[DONE]"
    error = json.loads(lines[-2])["error"]
    assert error["code"] == "shutting_down"
    assert 0 < len(lines) - 2 < 200  # cut short, not run to the end

    server.proc.popen.wait(15)
    line = next(entry for entry in server.log_lines()
                if entry.get("logger") == "vertexchat.request" and entry.get("session_id") == session_id)
    assert line["outcome"] == "shutdown"
    assert line["status"] == 503
    stored = [entry for entry in server.log_lines() if entry.get("logger") == "vertexchat.request"]
    assert len([e for e in stored if e.get("session_id") == session_id]) == 1


def test_the_reply_cut_by_a_shutdown_is_stored_incomplete(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator, api: FunctionServer) -> None:
    server = start_function()
    sim.script({"content": [{"type": "text", "text": "tok " * 200}], "stop_reason": "end_turn", "interval_ms": 50})
    session_id = str(uuid.uuid4())
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Count slowly"}],
            "stream": True, "session_id": session_id}
    with requests.post(f"{server.url}/v1/chat/completions", json=body, stream=True, timeout=30) as response:
        chunks = response.iter_lines(decode_unicode=True)
        next(line for line in chunks if "tok" in line)
        server.proc.popen.send_signal(signal.SIGTERM)
        rest = [line for line in chunks if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]"
    # Read back through another instance: the transcript is in Firestore.
    messages = requests.get(f"{api.url}/v1/sessions/{session_id}/messages", timeout=10).json()["data"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["status"] == "incomplete"
    assert messages[1]["content"].startswith("tok")
