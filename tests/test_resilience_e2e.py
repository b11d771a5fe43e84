"""Faults at the upstream, as the client sees them: retries, failover, breakers and deadlines end to end."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import openai
import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import REGION, FunctionServer, sse_events

MODEL = "claude-sonnet-4-5@20250929"
FALLBACK = "europe-west1"
HELLO: Any = [{"role": "user", "content": "Hello"}]
QUOTA = {"error": {"code": 429, "message": "Quota exceeded for aiplatform.googleapis.com",
                   "status": "RESOURCE_EXHAUSTED"}}


def sdk(server: FunctionServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0, timeout=30)


def transcript(server: FunctionServer, session_id: str) -> list[tuple[str, str, Any]]:
    """(role, status, content) of every stored message, in seq order."""
    response = requests.get(f"{server.url}/v1/sessions/{session_id}/messages", timeout=10)
    assert response.status_code == 200, response.text
    return [(m["role"], m["status"], m["content"]) for m in response.json()["data"]]


def generate_requests(sim: VertexSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]


def test_a_429_then_success_is_invisible_to_the_client(api: FunctionServer, sim: VertexSimulator,
                                                       firestore: str) -> None:
    sim.script({"status": 429, "body": QUOTA}, {"text": "fine"})
    session_id = str(uuid.uuid4())

    completion = sdk(api).chat.completions.create(model=MODEL, messages=HELLO, extra_body={"session_id": session_id})

    assert completion.choices[0].message.content == "fine"
    assert len(generate_requests(sim)) == 2
    # The retry stored nothing twice.
    assert transcript(api, session_id) == [("user", "complete", "Hello"), ("assistant", "complete", "fine")]


def test_429_everywhere_gives_429_with_retry_after(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"status": 429, "body": QUOTA, "headers": {"Retry-After": "120"}, "times": 10})

    with pytest.raises(openai.RateLimitError) as caught:
        sdk(api).chat.completions.create(model=MODEL, messages=HELLO)

    assert caught.value.response.headers["Retry-After"] == "120"
    assert caught.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
    # Waiting two minutes would cross the retry deadline: the client is told at once.
    assert len(generate_requests(sim)) == 1


def test_a_regional_429_fails_over_to_the_fallback_region(start_function: Callable[..., FunctionServer],
                                                          sim: VertexSimulator) -> None:
    server = start_function(VERTEX_FALLBACK_REGIONS=FALLBACK)
    sim.script({"status": 429, "body": QUOTA, "match": {"location": REGION}, "times": 10})
    session_id = str(uuid.uuid4())
    history: list[dict[str, Any]] = []

    for stream in (False, True):
        history.append({"role": "user", "content": f"turn {len(history)}"})
        response = requests.post(f"{server.url}/v1/chat/completions", timeout=30, json={
            "model": MODEL, "messages": history, "stream": stream, "session_id": session_id})
        assert response.status_code == 200
        if not stream:
            history.append(response.json()["choices"][0]["message"])

    assert [r["location"] for r in generate_requests(sim)] == [REGION, FALLBACK, REGION, FALLBACK]
    line = server.request_log(response.headers["X-Request-Id"])
    assert line["attempts"] == 2
    assert line["attempt_regions"] == [REGION, FALLBACK]
    assert line["region"] == FALLBACK
    retries = [entry for entry in server.log_lines() if entry.get("event") == "retry"]
    assert {(r["region"], r["error_class"]) for r in retries} == {(REGION, "RateLimitError")}
    assert [(role, status) for role, status, _ in transcript(server, session_id)] == \
        [("user", "complete"), ("assistant", "complete")] * 2


def test_an_open_breaker_skips_the_failing_region_without_waiting(start_function: Callable[..., FunctionServer],
                                                                  sim: VertexSimulator) -> None:
    server = start_function(VERTEX_FALLBACK_REGIONS=FALLBACK, BREAKER_FAILURES="2", BREAKER_COOLDOWN_SECONDS="60")
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    sim.script({"status": 529, "body": overloaded, "match": {"location": REGION}, "times": 100})
    client = sdk(server)

    for _ in range(2):
        assert client.chat.completions.create(model=MODEL, messages=HELLO).choices[0].message.content
    before = len(generate_requests(sim))
    started = time.monotonic()
    client.chat.completions.create(model=MODEL, messages=HELLO)

    after = generate_requests(sim)[before:]
    assert [r["location"] for r in after] == [FALLBACK]
    assert time.monotonic() - started < 2
    assert any(entry.get("event") == "breaker" and entry.get("state") == "open" for entry in server.log_lines())


def test_a_stall_before_the_first_event_is_retried(start_function: Callable[..., FunctionServer],
                                                   sim: VertexSimulator) -> None:
    server = start_function(UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS="0.5")
    sim.script({"text": "late", "stall_before_first_event_ms": 5000}, {"text": "on time"})

    chunks = list(sdk(server).chat.completions.create(model=MODEL, messages=HELLO, stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "on time"
    assert len(generate_requests(sim)) == 2


def test_a_stall_past_the_idle_deadline_ends_in_band(start_function: Callable[..., FunctionServer],
                                                     sim: VertexSimulator, firestore: str) -> None:
    server = start_function(UPSTREAM_IDLE_TIMEOUT_SECONDS="0.6", STREAM_HEARTBEAT_SECONDS="0.2")
    sim.script({"content": [{"type": "text", "text": "one two three", "chunks": ["one", " two", " three"]}],
                "stall_after": 1, "stall_ms": 5000})
    session_id = str(uuid.uuid4())

    with requests.post(f"{server.url}/v1/chat/completions", stream=True, timeout=30, json={
            "model": MODEL, "messages": HELLO, "stream": True, "session_id": session_id}) as response:
        events = list(sse_events(response))

    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["type"] == "timeout"
    assert any(e.startswith(":") for e in events), "heartbeats while waiting"
    line = server.request_log(response.headers["X-Request-Id"])
    assert line["outcome"] == "error"
    assert line["status"] == 504
    # The turn is kept, marked as failed, with what the client saw.
    assert transcript(server, session_id) == [("user", "complete", "Hello"), ("assistant", "error", "one")]


def test_a_slow_drip_within_the_idle_deadline_completes(start_function: Callable[..., FunctionServer],
                                                        sim: VertexSimulator) -> None:
    server = start_function(UPSTREAM_IDLE_TIMEOUT_SECONDS="1")
    sim.script({"text": "slow but steady words", "interval_ms": 300})

    chunks = list(sdk(server).chat.completions.create(model=MODEL, messages=HELLO, stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "slow but steady words"


def test_the_openai_sdk_raises_on_an_in_band_error(api: FunctionServer, sim: VertexSimulator,
                                                   firestore: str) -> None:
    sim.script({"content": [{"type": "text", "text": "a b c", "chunks": ["a", " b", " c"]}], "error_after": 2})
    session_id = str(uuid.uuid4())
    received: list[Any] = []

    def consume() -> None:
        received.extend(sdk(api).chat.completions.create(model=MODEL, messages=HELLO, stream=True,
                                                         extra_body={"session_id": session_id}))

    with pytest.raises(openai.APIError, match="Overloaded"):
        consume()
    assert received, "the deltas before the error were delivered"
    assert transcript(api, session_id) == [("user", "complete", "Hello"), ("assistant", "error", "a b")]


@pytest.mark.parametrize("fallback", ["", FALLBACK], ids=["one region", "with a fallback region"])
def test_one_clients_burst_of_429s_never_locks_out_other_callers(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator, fallback: str) -> None:
    # Default breaker settings: 5 failures in 60 s used to open a circuit for 30 s.
    server = start_function(VERTEX_FALLBACK_REGIONS=fallback)
    sim.script({"status": 429, "body": QUOTA, "times": 12})

    for _ in range(3):
        with pytest.raises(openai.RateLimitError) as caught:
            sdk(server).chat.completions.create(model=MODEL, messages=HELLO)
        assert caught.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
    assert len(generate_requests(sim)) == 12, "every attempt of the burst reached Vertex"

    # Another caller, right after: Vertex answers again, and so does vertexchat.
    other = requests.post(f"{server.url}/v1/chat/completions", timeout=30,
                          json={"model": MODEL, "messages": HELLO})
    assert other.status_code == 200, other.text
    assert len(generate_requests(sim)) == 13
    assert not any(entry.get("event") == "breaker" for entry in server.log_lines())
    circuits = requests.get(f"{server.url}/health?deep=0", timeout=10).json()["checks"]["circuits"]
    assert circuits["open"] == []


def test_a_breaker_counts_requests_not_attempts_and_waits_what_vertex_asked(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    server = start_function(BREAKER_FAILURES="2", UPSTREAM_MAX_ATTEMPTS="3")
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    sim.script({"status": 503, "body": overloaded, "headers": {"Retry-After": "1"}, "times": 4})
    client = sdk(server)

    # One request, three failed attempts: one failure, the circuit stays closed.
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO)
    assert caught.value.status_code == 503
    assert len(generate_requests(sim)) == 3
    # A second failing request opens it ...
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=HELLO)
    assert len(generate_requests(sim)) == 4
    # ... for about what Vertex asked (Retry-After: 1), not BREAKER_COOLDOWN_SECONDS (30).
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO)
    assert caught.value.body["code"] == "circuit_open"  # type: ignore[index]
    assert caught.value.response.headers["Retry-After"] == "1"
    assert len(generate_requests(sim)) == 4

    time.sleep(1.1)
    assert client.chat.completions.create(model=MODEL, messages=HELLO).choices[0].message.content
    assert len(generate_requests(sim)) == 5


def test_a_stall_before_the_response_headers_is_bounded_by_the_first_byte_timeout(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    server = start_function(UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS="0.5", UPSTREAM_IDLE_TIMEOUT_SECONDS="30")
    client = sdk(server)
    # Warm (the chat path imports the anthropic SDK on first use): the timing below is the attempts'.
    client.chat.completions.create(model=MODEL, messages=HELLO)
    sim.script({"text": "late", "stall_before_headers_ms": 60000}, {"text": "on time"})

    started = time.monotonic()
    chunks = list(client.chat.completions.create(model=MODEL, messages=HELLO, stream=True))
    elapsed = time.monotonic() - started

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "on time"
    assert len(generate_requests(sim)) == 3
    # The first attempt was given up after the first-byte timeout (0.5 s), not the idle one (30 s).
    assert elapsed < 10, elapsed


def test_a_silence_mid_stream_longer_than_the_first_byte_timeout_is_allowed(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    # Headers must come within the first-byte timeout, but once they have, Vertex may fall
    # silent for up to the idle timeout (long thinking) without the socket giving up.
    server = start_function(UPSTREAM_FIRST_BYTE_TIMEOUT_SECONDS="0.5", UPSTREAM_IDLE_TIMEOUT_SECONDS="4",
                            STREAM_HEARTBEAT_SECONDS="0.3")
    sim.script({"content": [{"type": "text", "text": "one two three", "chunks": ["one", " two", " three"]}],
                "stall_after": 1, "stall_ms": 1500})

    chunks = list(sdk(server).chat.completions.create(model=MODEL, messages=HELLO, stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert len(generate_requests(sim)) == 1
