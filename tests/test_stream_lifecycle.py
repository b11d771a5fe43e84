"""A stream's life on the wire: heartbeats while Claude is silent, and prompt cleanup when the client leaves."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer, sse_events

BODY = {"model": "claude-sonnet-4-5@20250929", "messages": [{"role": "user", "content": "Think hard"}],
        "stream": True}


def test_silent_upstream_gets_heartbeat_comments(start_function: Callable[..., FunctionServer],
                                                 sim: VertexSimulator) -> None:
    server = start_function(STREAM_HEARTBEAT_SECONDS="0.2")
    sim.script({"content": [{"type": "text", "text": "after a long think"}], "stop_reason": "end_turn",
                "stall_after": 1, "stall_ms": 1200})

    with requests.post(f"{server.url}/v1/chat/completions", json=BODY, stream=True, timeout=30) as response:
        events = list(sse_events(response))

    heartbeats = [e for e in events if e.startswith(":")]
    assert len(heartbeats) >= 3, events
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                   for e in events if e.startswith("{") and json.loads(e)["choices"])
    assert text == "after a long think"


def _open_stream_and_hang_up(server: FunctionServer, read_bytes: int) -> float:
    """Send a streaming request on a raw socket, read a little, then close; returns the close time (wall clock,
    like the simulator's ``finished_at``)."""
    payload = json.dumps(BODY).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    received = b""
    while len(received) < read_bytes:
        received += sock.recv(4096)
    sock.close()
    return time.time()


def _wait_closed_early(sim: VertexSimulator, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        streams = [r for r in sim.requests() if r["kind"] == "streamRawPredict"]
        if streams and streams[-1].get("closed_early"):
            return streams[-1]
        time.sleep(0.05)
    raise AssertionError(f"the upstream request was not closed: {sim.requests()}")


def test_client_disconnect_mid_stream_closes_upstream(api: FunctionServer, sim: VertexSimulator) -> None:
    # A slow drip: 200 deltas 50 ms apart would run 10 s if nobody noticed the client leaving.
    sim.script({"content": [{"type": "text", "text": "tok " * 200}], "stop_reason": "end_turn",
                "interval_ms": 50})

    hung_up = _open_stream_and_hang_up(api, read_bytes=200)

    record = _wait_closed_early(sim)
    assert record["outcome"] != "ok"
    # The simulator saw its request closed within a second of the client leaving.
    assert record["finished_at"] - hung_up < 1.0


def test_client_disconnect_while_upstream_silent_closes_upstream(api: FunctionServer, sim: VertexSimulator) -> None:
    # Claude "thinks" for 20 s with nothing to relay; the function must still notice the hang-up.
    sim.script({"content": [{"type": "text", "text": "late answer"}], "stop_reason": "end_turn",
                "stall_after": 0, "stall_ms": 20000})

    hung_up = _open_stream_and_hang_up(api, read_bytes=1)

    record = _wait_closed_early(sim, timeout=8.0)
    assert record["finished_at"] - hung_up < 1.0
