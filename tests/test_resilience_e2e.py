"""Faults at the upstream, as the client sees them: retries, failover, breakers and deadlines end to end."""

from __future__ import annotations

import json
import time
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


def generate_requests(sim: VertexSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]


def test_a_429_then_success_is_invisible_to_the_client(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"status": 429, "body": QUOTA}, {"text": "fine"})

    completion = sdk(api).chat.completions.create(model=MODEL, messages=HELLO)

    assert completion.choices[0].message.content == "fine"
    assert len(generate_requests(sim)) == 2


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

    for stream in (False, True):
        response = requests.post(f"{server.url}/v1/chat/completions", timeout=30,
                                 json={"model": MODEL, "messages": HELLO, "stream": stream})
        assert response.status_code == 200

    assert [r["location"] for r in generate_requests(sim)] == [REGION, FALLBACK, REGION, FALLBACK]
    line = server.request_log(response.headers["X-Request-Id"])
    assert line["attempts"] == 2
    assert line["attempt_regions"] == [REGION, FALLBACK]
    assert line["region"] == FALLBACK
    retries = [entry for entry in server.log_lines() if entry.get("event") == "retry"]
    assert {(r["region"], r["error_class"]) for r in retries} == {(REGION, "RateLimitError")}


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
                                                     sim: VertexSimulator) -> None:
    server = start_function(UPSTREAM_IDLE_TIMEOUT_SECONDS="0.6", STREAM_HEARTBEAT_SECONDS="0.2")
    sim.script({"text": "one two three", "stall_after": 1, "stall_ms": 5000})

    with requests.post(f"{server.url}/v1/chat/completions", json={"model": MODEL, "messages": HELLO,
                                                                 "stream": True}, stream=True, timeout=30) as response:
        events = list(sse_events(response))

    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["type"] == "timeout"
    assert any(e.startswith(":") for e in events), "heartbeats while waiting"
    line = server.request_log(response.headers["X-Request-Id"])
    assert line["outcome"] == "error"
    assert line["status"] == 504


def test_a_slow_drip_within_the_idle_deadline_completes(start_function: Callable[..., FunctionServer],
                                                        sim: VertexSimulator) -> None:
    server = start_function(UPSTREAM_IDLE_TIMEOUT_SECONDS="1")
    sim.script({"text": "slow but steady words", "interval_ms": 300})

    chunks = list(sdk(server).chat.completions.create(model=MODEL, messages=HELLO, stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "slow but steady words"


def test_the_openai_sdk_raises_on_an_in_band_error(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"text": "a b c d e", "error_after": 2})

    received: list[Any] = []

    def consume() -> None:
        received.extend(sdk(api).chat.completions.create(model=MODEL, messages=HELLO, stream=True))

    with pytest.raises(openai.APIError, match="Overloaded"):
        consume()
    assert received, "the deltas before the error were delivered"
