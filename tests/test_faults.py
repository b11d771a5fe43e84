"""One test per upstream fault, through the OpenAI SDK: what the client sees, how many attempts were
made, the request's log line, and the stored transcript (nothing lost, nothing duplicated, failures marked).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer

MODEL = "claude-sonnet-4-5@20250929"
QUOTA = {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
TEXT = {"content": [{"type": "text", "text": "one two three", "chunks": ["one", " two", " three"]}]}


@dataclass(frozen=True)
class Fault:
    steps: tuple[dict[str, Any], ...]
    stream: bool
    sees: type[Exception] | None  # None: the client gets "one two three" as if nothing happened
    attempts: int
    status: int  # of the request's log line
    stored: str | None  # status of the stored reply; None: no reply stored


FAULTS = {
    "429 with Retry-After, then success": Fault(
        ({"status": 429, "body": QUOTA, "headers": {"Retry-After": "1"}}, TEXT), False, None, 2, 200, "complete"),
    "RESOURCE_EXHAUSTED wrapped in a list, everywhere": Fault(
        ({"status": 429, "body": [QUOTA], "headers": {"Retry-After": "90"}, "times": 5},), False,
        openai.RateLimitError, 1, 429, None),
    "Claude overloaded (529), then success": Fault(
        ({"status": 529, "body": OVERLOADED}, TEXT), True, None, 2, 200, "complete"),
    "error event after some deltas": Fault(
        ({**TEXT, "error_after": 2},), True, openai.APIError, 1, 503, "error"),
    "connection reset mid-stream": Fault(
        ({**TEXT, "reset_after": 2},), True, openai.APIError, 1, 502, "error"),
    "stall before the first byte, then success": Fault(
        ({**TEXT, "stall_before_first_event_ms": 3000}, TEXT), True, None, 2, 200, "complete"),
    "stall between events past the idle deadline": Fault(
        ({**TEXT, "stall_after": 1, "stall_ms": 4000},), True, openai.APIError, 1, 504, "error"),
    "slow drip within the idle deadline": Fault(
        ({**TEXT, "interval_ms": 300},), True, None, 1, 200, "complete"),
    "malformed event": Fault(
        ({**TEXT, "malformed_after": 1},), True, openai.APIError, 1, 502, "error"),
    "stream without message_stop": Fault(
        ({**TEXT, "omit_message_stop": True},), True, openai.APIError, 1, 502, "error"),
}


@pytest.fixture(scope="module")
def server(function_env: dict[str, str]) -> Iterator[FunctionServer]:
    env = {**function_env, "UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS": "0.5", "UPSTREAM_IDLE_TIMEOUT_SECONDS": "1",
           "STREAM_HEARTBEAT_SECONDS": "0.2", "BREAKER_FAILURES": "1000"}
    function = FunctionServer("api", env)
    yield function
    function.stop()


def ask(server: FunctionServer, session_id: str, stream: bool, request_id: str) -> str:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=30)
    messages: Any = [{"role": "user", "content": "Hello"}]
    extra = {"extra_body": {"session_id": session_id}, "extra_headers": {"X-Request-Id": request_id}}
    if not stream:
        return client.chat.completions.create(model=MODEL, messages=messages, **extra).choices[0].message.content or ""
    chunks = client.chat.completions.create(model=MODEL, messages=messages, stream=True, **extra)
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault(name: str, server: FunctionServer, sim: VertexSimulator, firestore: str) -> None:
    fault = FAULTS[name]
    sim.script(*fault.steps)
    session_id, request_id = str(uuid.uuid4()), f"fault-{uuid.uuid4().hex}"

    if fault.sees is None:
        assert ask(server, session_id, fault.stream, request_id) == "one two three"
    else:
        with pytest.raises(fault.sees):
            ask(server, session_id, fault.stream, request_id)

    generate = [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]
    assert len(generate) == fault.attempts
    line = server.request_log(request_id)
    assert line["attempts"] == fault.attempts
    assert line["status"] == fault.status
    stored = requests.get(f"{server.url}/v1/sessions/{session_id}/messages", timeout=10).json()["data"]
    assert [m["role"] for m in stored] == (["user"] if fault.stored is None else ["user", "assistant"])
    assert stored[0]["content"] == "Hello"
    if fault.stored is not None:
        reply = stored[1]
        assert reply["status"] == fault.stored
        if fault.stored == "complete":
            assert reply["content"] == "one two three"
        else:
            # What the client saw before the failure, and nothing it did not.
            assert "one two three".startswith(reply["content"] or "")
