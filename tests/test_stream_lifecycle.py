"""A stream's life on the wire: heartbeats while Claude is silent, and prompt cleanup when the client leaves."""

from __future__ import annotations

import json
import socket
import time
import uuid
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


def _send_and_hang_up(server: FunctionServer) -> float:
    """Send a streaming request on a raw socket and close it before any byte of the answer."""
    payload = json.dumps(BODY).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    time.sleep(0.5)  # the function has opened the upstream, which says nothing yet
    sock.close()
    return time.time()


def test_client_leaving_before_the_first_event_closes_the_upstream_and_is_not_retried(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    """Issue 15, fault 4: the upstream stayed open until the first-byte timeout, then a retry started."""
    server = start_function(UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS="10")
    # Warm: the first request of an instance loads the SDK and the model list first.
    requests.post(f"{server.url}/v1/chat/completions", json=BODY, timeout=30).raise_for_status()
    sim.reset()
    sim.script({"content": [{"type": "text", "text": "too late"}], "stop_reason": "end_turn",
                "stall_before_first_event_ms": 9000})

    hung_up = _send_and_hang_up(server)

    record = _wait_closed_early(sim)
    assert record["finished_at"] - hung_up < 1.0
    time.sleep(0.5)
    assert len([r for r in sim.requests() if r["kind"] == "streamRawPredict"]) == 1  # no retry for nobody
    line = [entry for entry in server.log_lines() if entry.get("logger") == "vertexchat.request"
            and entry.get("route") == "chat.completions"][-1]
    assert (line["status"], line["error_code"]) == (499, "client_closed")


def test_an_unexpected_exception_mid_stream_ends_in_band_and_is_stored_as_error(api: FunctionServer,
                                                                                sim: VertexSimulator) -> None:
    """Issue 15, fault 7: anything raised while relaying (here a malformed event the fold cannot read) must
    end the stream with an in-band error and [DONE], never a dropped socket, and the reply is stored as error."""
    start = {"type": "message_start", "message": {"id": "msg_x", "type": "message", "role": "assistant",
                                                  "content": [], "usage": {"input_tokens": 3, "output_tokens": 0}}}
    sim.script({"events": [
        start,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_start", "index": 1, "content_block": "not an object"},
    ]})
    session_id = str(uuid.uuid4())
    with requests.post(f"{api.url}/v1/chat/completions", json={**BODY, "session_id": session_id}, stream=True,
                       timeout=30) as response:
        events = list(sse_events(response))

    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["code"] == "internal_error"
    stored = requests.get(f"{api.url}/v1/sessions/{session_id}/messages", timeout=10).json()["data"]
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "error")]
    assert stored[1]["content"] == "Hel"
