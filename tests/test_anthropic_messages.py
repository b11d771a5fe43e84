"""POST /v1/messages through the real function with the official ``anthropic`` Python SDK (and raw HTTP).

Each test asserts what the client sees and the exact body the simulated Vertex received: the
client's own, with ``model`` moved into the URL and ``anthropic_version`` set, every
``cache_control`` breakpoint where the client put it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer
from tests.jwks import IdentityProvider

MODEL = "claude-haiku-4-5-20251001"
VERTEX_MODEL = "claude-haiku-4-5@20251001"
EPHEMERAL = {"type": "ephemeral"}
SYSTEM = [{"type": "text", "text": "You are terse."},
          {"type": "text", "text": "Answer in one sentence.", "cache_control": EPHEMERAL}]
WEATHER = {"name": "get_weather", "description": "Weather for a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


class Recorder:
    """Every request body the SDK sent, as bytes (an httpx2 event hook)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx2.Request) -> None:
        self.bodies.append(json.loads(request.read()))


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def claude(api: FunctionServer, sim: VertexSimulator, sent: Recorder) -> Iterator[anthropic.Anthropic]:
    http = httpx2.Client(event_hooks={"request": [sent]})
    yield anthropic.Anthropic(base_url=api.url, api_key="unused-locally", max_retries=0, timeout=30, http_client=http)
    http.close()


def vertex_body(client_body: dict[str, Any]) -> dict[str, Any]:
    """What Vertex must receive for a client body: the same, in order, without model, with anthropic_version."""
    return {**{k: v for k, v in client_body.items() if k != "model"}, "anthropic_version": "vertex-2023-10-16"}


def cache_paths(value: Any, path: str = "") -> list[str]:
    """Where the cache_control breakpoints sit, in document order."""
    if isinstance(value, dict):
        found = [path] if "cache_control" in value else []
        return found + [p for k, v in value.items() for p in cache_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in cache_paths(v, f"{path}[{i}]")]
    return []


def assert_passed_through(record: dict[str, Any], client_body: dict[str, Any]) -> None:
    expected = vertex_body(client_body)
    assert record["model"] == VERTEX_MODEL
    assert record["body"] == expected
    assert list(record["body"]) == list(expected), "keys reach Vertex in the client's order"
    assert cache_paths(record["body"]) == cache_paths(client_body)


def test_create_passes_the_body_through_and_returns_claudes_message(claude: anthropic.Anthropic,
                                                                      sim: VertexSimulator, sent: Recorder) -> None:
    sim.script({"text": "Hello there.", "usage": {"input_tokens": 11, "output_tokens": 3}})

    message = claude.messages.create(model=MODEL, max_tokens=64, system=SYSTEM,  # type: ignore[arg-type]
                                     messages=[{"role": "user", "content": "Hi"}], metadata={"user_id": "u1"})

    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello there."
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 3
    [record] = sim.requests("rawPredict")
    assert_passed_through(record, sent.bodies[0])
    assert cache_paths(record["body"]) == [".system[1]"]


def test_stream_relays_claudes_events_byte_for_byte(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "text", "text": "One two three.", "chunks": ["One ", "two ", "three."]}]})
    body = {"model": MODEL, "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "Count"}]}

    response = requests.post(f"{api.url}/v1/messages?beta=true", json=body, timeout=30)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.split("\n\n") if block]
    names = [block.split("\n")[0] for block in events]
    assert names[0] == "event: message_start"
    assert names[-1] == "event: message_stop"
    deltas = [json.loads(b.split("data: ", 1)[1])["delta"].get("text") for b in events if "content_block_delta" in b]
    assert "".join(deltas) == "One two three."
    [record] = sim.requests("streamRawPredict")
    assert record["body"] == vertex_body(body)
    assert response.headers["request-id"] == response.headers["X-Request-Id"]


def test_sdk_stream_with_tools_and_a_tool_result_round_trip(claude: anthropic.Anthropic, sim: VertexSimulator,
                                                            sent: Recorder) -> None:
    sim.script({"content": [{"type": "text", "text": "Checking."},
                            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}],
                "stop_reason": "tool_use"},
               {"text": "Sunny in Paris."})
    messages: list[Any] = [{"role": "user", "content": [{"type": "text", "text": "Weather in Paris?",
                                                         "cache_control": EPHEMERAL}]}]
    with claude.messages.stream(model=MODEL, max_tokens=256, tools=[WEATHER],  # type: ignore[list-item]
                                messages=messages) as stream:
        first = stream.get_final_message()
    tool_use = next(block for block in first.content if block.type == "tool_use")
    assert tool_use.input == {"city": "Paris"}
    assert first.stop_reason == "tool_use"
    follow_up = [{"role": "user", "content": "Weather in Paris?"},
                 {"role": "assistant", "content": [block.model_dump() for block in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id,
                                               "content": "Sunny, 21 C", "cache_control": EPHEMERAL}]}]

    second = claude.messages.create(model=MODEL, max_tokens=256, tools=[WEATHER],  # type: ignore[list-item]
                                    messages=follow_up)  # type: ignore[arg-type]

    assert second.content[0].text == "Sunny in Paris."  # type: ignore[union-attr]
    first_record, second_record = sim.requests()
    assert_passed_through(first_record, sent.bodies[0])
    assert_passed_through(second_record, sent.bodies[1])
    assert second_record["body"]["messages"][1]["content"][1]["id"] == "toolu_01"
    assert cache_paths(second_record["body"]) == [".messages[2].content[0]"]


def test_thinking_blocks_come_back_signed_and_go_back_unchanged(claude: anthropic.Anthropic, sim: VertexSimulator,
                                                                sent: Recorder) -> None:
    sim.script({"content": [{"type": "thinking", "thinking": "They want weather.", "signature": "sig-abc"},
                            {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Oslo"}}],
                "stop_reason": "tool_use"},
               {"text": "Cold."})
    thinking = {"type": "enabled", "budget_tokens": 1024}
    first = claude.messages.create(model=MODEL, max_tokens=2048, thinking=thinking,  # type: ignore[arg-type]
                                   tools=[WEATHER], messages=[{"role": "user", "content": "Oslo?"}])  # type: ignore[list-item]
    assert first.content[0].type == "thinking"
    assert first.content[0].signature == "sig-abc"
    follow_up = [{"role": "user", "content": "Oslo?"},
                 {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_02", "content": "-3 C"}]}]

    claude.messages.create(model=MODEL, max_tokens=2048, thinking=thinking,  # type: ignore[arg-type]
                           tools=[WEATHER], messages=follow_up)  # type: ignore[arg-type, list-item]

    second = sim.requests()[1]
    assert_passed_through(second, sent.bodies[1])
    assert second["body"]["messages"][1]["content"][0] == {"type": "thinking", "thinking": "They want weather.",
                                                           "signature": "sig-abc"}


def test_count_tokens_keeps_the_model_in_the_body(claude: anthropic.Anthropic, sim: VertexSimulator,
                                                  sent: Recorder) -> None:
    count = claude.messages.count_tokens(model="claude-haiku-4-5", system=SYSTEM,  # type: ignore[arg-type]
                                         messages=[{"role": "user", "content": "Hi"}], tools=[WEATHER])  # type: ignore[list-item]

    assert count.input_tokens > 0
    [record] = sim.requests("countTokens")
    assert record["body"] == {**sent.bodies[0], "model": VERTEX_MODEL, "anthropic_version": "vertex-2023-10-16"}


def test_unknown_model_is_an_anthropic_404_without_an_upstream_call(claude: anthropic.Anthropic,
                                                                    sim: VertexSimulator) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(model="claude-no-such-model", max_tokens=8, messages=[{"role": "user", "content": "x"}])

    assert caught.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "claude-no-such-model" in caught.value.message
    assert [r for r in sim.requests() if r["kind"] != "listModels"] == []


def test_rate_limit_is_an_anthropic_429_with_retry_after(start_function: Any, sim: VertexSimulator) -> None:
    server = start_function(UPSTREAM_MAX_ATTEMPTS="1")
    sim.script({"status": 429, "headers": {"Retry-After": "7"}})
    claude = anthropic.Anthropic(base_url=server.url, api_key="unused-locally", max_retries=0, timeout=30)

    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}])

    assert caught.value.status_code == 429
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert caught.value.response.headers["retry-after"] == "7"


def test_a_mid_stream_failure_is_an_in_band_error_event(claude: anthropic.Anthropic, sim: VertexSimulator,
                                                        api: FunctionServer) -> None:
    sim.script({"text": "one two three four five", "error_after": 2})
    seen: list[str] = []

    stream = claude.messages.stream(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.APIStatusError) as caught, stream as events:
        seen.extend(event.type for event in events)

    assert "content_block_delta" in seen
    assert "message_stop" not in seen
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    log = api.request_log(caught.value.response.headers["request-id"])
    assert log["outcome"] == "error"
    assert log["error_class"] == "OverloadedError"


def test_refused_betas_are_dropped_and_an_unknown_refusal_is_retried_once(api: FunctionServer,
                                                                          sim: VertexSimulator) -> None:
    sim.configure(refused_betas=["prompt-caching-scope-2026-01-05", "brand-new-beta-2027-01-01"])
    betas = "claude-code-20250219,prompt-caching-scope-2026-01-05,brand-new-beta-2027-01-01"
    body = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]}

    response = requests.post(f"{api.url}/v1/messages", json=body, headers={"anthropic-beta": betas}, timeout=30)

    assert response.status_code == 200, response.text
    refused, accepted = sim.requests()
    assert refused["betas"] == ["claude-code-20250219", "brand-new-beta-2027-01-01"]
    assert accepted["betas"] == ["claude-code-20250219"]
    log = api.request_log(response.headers["request-id"])
    assert log["betas_dropped"] == ["prompt-caching-scope-2026-01-05"]
    assert log["betas_refused"] == ["brand-new-beta-2027-01-01"]


def test_the_log_line_has_usage_with_cache_reads_and_writes(api: FunctionServer, sim: VertexSimulator) -> None:
    big = [{"type": "text", "text": "Stable instructions. " * 400, "cache_control": EPHEMERAL}]
    body = {"model": "claude-sonnet-4-5", "max_tokens": 16, "system": big,
            "messages": [{"role": "user", "content": "x"}]}

    ids = [requests.post(f"{api.url}/v1/messages", json=body, timeout=30).headers["request-id"] for _ in range(2)]

    first, second = (api.request_log(i) for i in ids)
    assert first["usage"]["cache_creation_input_tokens"] > 0
    assert second["usage"]["cache_read_input_tokens"] > 0
    assert second["model"] == "claude-sonnet-4-5"
    assert second["vertex_model"] == "claude-sonnet-4-5@20250929"
    assert second["region"] == "us-east5"
    assert second["attempts"] == 1
    assert second["user"]


def test_tokens_are_accepted_as_bearer_or_x_api_key(start_function: Any, sim: VertexSimulator,
                                                    identity_provider: IdentityProvider) -> None:
    server = start_function(**identity_provider.env())
    token = identity_provider.token()
    body = {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}

    def post(headers: dict[str, str]) -> requests.Response:
        return requests.post(f"{server.url}/v1/messages", json=body, headers=headers, timeout=30)

    assert post({"Authorization": f"Bearer {token}"}).status_code == 200
    assert post({"x-api-key": token}).status_code == 200
    assert post({"x-api-key": token, "Authorization": f"Bearer {token}"}).status_code == 200
    assert post({"x-api-key": token, "Authorization": f"bearer {token}"}).status_code == 200
    refused = post({"x-api-key": "not-a-token"})
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    assert post({"x-api-key": token, "Authorization": "Bearer other"}).status_code == 401
    # The OpenAI routes still read only the Authorization header.
    chat = requests.post(f"{server.url}/v1/chat/completions", headers={"x-api-key": token}, timeout=30,
                         json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    assert chat.status_code == 401


def test_an_overloaded_vertex_is_retried_before_the_first_byte(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"status": 529, "body": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}},
               {"text": "Made it."})
    body = {"model": MODEL, "max_tokens": 16, "stream": True, "messages": [{"role": "user", "content": "x"}]}

    response = requests.post(f"{api.url}/v1/messages", json=body, timeout=30)

    assert response.status_code == 200
    blocks = [block for block in response.text.split("\n\n") if block]
    deltas = [json.loads(b.split("data: ", 1)[1])["delta"].get("text") for b in blocks if "content_block_delta" in b]
    assert "".join(deltas) == "Made it."
    assert blocks[-1].startswith("event: message_stop")
    log = api.request_log(response.headers["request-id"])
    assert log["attempts"] == 2
    assert log["outcome"] == "complete"
    assert log["usage"]["output_tokens"] > 0


def test_a_silent_claude_gets_anthropic_pings(start_function: Any, sim: VertexSimulator) -> None:
    server = start_function(STREAM_HEARTBEAT_SECONDS="0.2")
    sim.script({"text": "after thinking", "stall_after": 1, "stall_ms": 1000})
    body = {"model": MODEL, "max_tokens": 16, "stream": True, "messages": [{"role": "user", "content": "x"}]}

    response = requests.post(f"{server.url}/v1/messages", json=body, timeout=30)

    pings = response.text.count('event: ping\ndata: {"type": "ping"}\n\n')
    assert pings >= 3
    assert response.text.endswith('event: message_stop\ndata: {"type": "message_stop"}\n\n')


def test_a_client_that_leaves_closes_the_upstream_at_once(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"text": "tok " * 200, "interval_ms": 50})
    payload = json.dumps({"model": MODEL, "max_tokens": 1024, "stream": True,
                          "messages": [{"role": "user", "content": "x"}]}).encode()
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=10)
    sock.sendall(b"POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    received = b""
    while len(received) < 400:
        received += sock.recv(4096)
    sock.close()
    hung_up = time.time()

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        streams = [r for r in sim.requests() if r["kind"] == "streamRawPredict" and r.get("closed_early")]
        if streams:
            break
        time.sleep(0.05)
    assert streams, sim.requests()
    assert streams[0]["finished_at"] - hung_up < 1.0
