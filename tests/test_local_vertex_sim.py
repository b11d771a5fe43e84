"""The Vertex AI simulator, proven with real clients: the anthropic SDK's AnthropicVertex and raw HTTP."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anthropic
import pytest
from anthropic import AnthropicVertex
from anthropic.types import (
    MessageParam,
    RawContentBlockDeltaEvent,
    RawMessageStartEvent,
    RawMessageStreamEvent,
    TextDelta,
)

from local._http import CloudRunRefusal
from local.vertex_sim import DEFAULT_MODELS, StepError, VertexSimulator
from local.vertex_sim.rules import first_violation

ROOT = Path(__file__).resolve().parent.parent
MODEL = "claude-sonnet-4-5@20250929"
HELLO: list[MessageParam] = [{"role": "user", "content": "Hello there"}]
GENERATE = f"/v1/projects/p/locations/us-east5/publishers/anthropic/models/{MODEL}"
AUTH = {"Authorization": "Bearer t", "Content-Type": "application/json"}


@pytest.fixture
def sim() -> Iterator[VertexSimulator]:
    with VertexSimulator() as simulator:
        yield simulator


@pytest.fixture
def claude(sim: VertexSimulator) -> Iterator[AnthropicVertex]:
    client = AnthropicVertex(region="us-east5", project_id="p", base_url=sim.base_url, access_token="t",
                             max_retries=0)
    yield client
    client.close()


def body(**overrides: Any) -> dict[str, Any]:
    """A valid rawPredict body as the SDK would send it."""
    return {"anthropic_version": "vertex-2023-10-16", "max_tokens": 100, "messages": HELLO, **overrides}


def raw_post(sim: VertexSimulator, path: str, payload: Any, headers: dict[str, str] = AUTH) -> tuple[int, Any]:
    request = urllib.request.Request(sim.url + path, data=json.dumps(payload).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def raw_get(sim: VertexSimulator, path: str) -> tuple[int, Any]:
    request = urllib.request.Request(sim.url + path, headers={"Authorization": "Bearer t"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def open_stream(sim: VertexSimulator) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    host, port = sim.host_port.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("POST", f"{GENERATE}:streamRawPredict", json.dumps(body(stream=True)), AUTH)
    return connection, connection.getresponse()


def stream_text(sim: VertexSimulator) -> str:
    """The whole body of one streamRawPredict call, read over plain HTTP."""
    connection, response = open_stream(sim)
    try:
        return response.read().decode()
    finally:
        connection.close()


def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_unscripted_reply_echoes_the_last_user_text(claude: AnthropicVertex) -> None:
    message = claude.messages.create(model=MODEL, max_tokens=100, messages=HELLO)

    assert message.content[0].type == "text"
    assert message.content[0].text == "You said: Hello there"
    assert (message.stop_reason, message.model) == ("end_turn", MODEL)
    assert message.id.startswith("msg_vrtx_")


def test_scripted_text_tool_use_and_thinking_come_back_non_streamed(
    sim: VertexSimulator, claude: AnthropicVertex
) -> None:
    sim.script({"content": [
        {"type": "thinking", "thinking": "Weather needs a tool.", "signature": "sig-1"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
    ], "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 3}})

    message = claude.messages.create(model=MODEL, max_tokens=2000, messages=HELLO)

    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool_use = message.content
    assert thinking.type == "thinking"
    assert (thinking.thinking, thinking.signature) == ("Weather needs a tool.", "sig-1")
    assert text.type == "text"
    assert text.text == "Checking."
    assert tool_use.type == "tool_use"
    assert (tool_use.id, tool_use.input) == ("toolu_01", {"city": "Paris"})
    assert message.stop_reason == "tool_use"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (10, 5, 3)


def test_streamed_events_fold_into_the_same_message_as_the_non_streamed_reply(
    sim: VertexSimulator, claude: AnthropicVertex
) -> None:
    step = {"id": "msg_vrtx_same", "content": [
        {"type": "thinking", "thinking": "Let me think about this."},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Here is the answer.", "chunks": ["Here is", " the answer."]},
        {"type": "tool_use", "id": "toolu_02", "name": "lookup", "input": {"q": "x", "n": [1, 2]}},
    ]}
    sim.script(step, step)

    whole = claude.messages.create(model=MODEL, max_tokens=100, messages=HELLO)
    with claude.messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        streamed = stream.get_final_message()

    def comparable(message: anthropic.types.Message) -> dict[str, Any]:
        dumped = message.model_dump(include={"id", "content", "stop_reason", "stop_sequence", "usage"})
        for block in dumped["content"]:
            block.pop("parsed_output", None)
            block.pop("signature", None)  # generated per reply when the step leaves it out
        return dumped

    assert comparable(streamed) == comparable(whole)


def test_raw_stream_has_claude_event_sequence(sim: VertexSimulator, claude: AnthropicVertex) -> None:
    sim.script({"text": "one two three"})

    stream = claude.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True)
    events = cast("list[RawMessageStreamEvent]", list(stream))

    kinds = [event.type for event in events]
    assert kinds == ["message_start", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_delta", "content_block_stop", "message_delta", "message_stop"]  # ping is skipped
    assert isinstance(events[0], RawMessageStartEvent)
    assert events[0].message.usage.output_tokens == 1
    assert sim.requests()[0]["body"]["stream"] is True


def test_wire_format_is_event_and_data_lines_with_a_ping(sim: VertexSimulator) -> None:
    connection, response = open_stream(sim)
    text = response.read().decode()
    connection.close()

    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    assert text.startswith("event: message_start\ndata: {")
    assert "event: ping\ndata: {\"type\": \"ping\"}\n\n" in text
    assert text.endswith("event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n")


def test_http_429_step_raises_rate_limit_error(sim: VertexSimulator, claude: AnthropicVertex) -> None:
    sim.script({"status": 429, "headers": {"Retry-After": "2"}})

    with pytest.raises(anthropic.RateLimitError) as caught:
        claude.messages.create(model=MODEL, max_tokens=100, messages=HELLO)

    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.body == {"error": {"code": 429, "message": caught.value.body["error"]["message"],  # type: ignore[index]
                                           "status": "RESOURCE_EXHAUSTED"}}


def test_error_bodies_are_sent_as_scripted(sim: VertexSimulator) -> None:
    wrapped = [{"error": {"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}}]
    sim.script({"status": 503, "body": wrapped}, {"status": 529})

    assert raw_post(sim, f"{GENERATE}:rawPredict", body()) == (503, wrapped)
    status, error = raw_post(sim, f"{GENERATE}:rawPredict", body())
    assert (status, error["error"]["type"]) == (529, "overloaded_error")


def test_error_after_raises_mid_stream(sim: VertexSimulator, claude: AnthropicVertex) -> None:
    sim.script({"text": "a b c d e", "error_after": 2})
    seen: list[str] = []

    def consume() -> None:
        for event in claude.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True):
            if isinstance(event, RawContentBlockDeltaEvent) and isinstance(event.delta, TextDelta):
                seen.append(event.delta.text)

    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        consume()

    assert seen == ["a ", "b "]
    assert sim.requests()[0]["outcome"] == "error"


def test_records_route_token_and_body(sim: VertexSimulator) -> None:
    client = AnthropicVertex(region="europe-west1", project_id="proj-9", base_url=sim.base_url,
                             access_token="token-abc", max_retries=0)
    client.messages.create(model="claude-haiku-4-5@20251001", max_tokens=50, messages=HELLO)

    (record,) = sim.requests()
    assert (record["kind"], record["project"], record["location"]) == ("rawPredict", "proj-9", "europe-west1")
    assert record["model"] == "claude-haiku-4-5@20251001"
    assert record["authorization"] == "Bearer token-abc"
    assert "model" not in record["body"]
    assert record["body"]["anthropic_version"]
    assert (record["outcome"], record["status"], record["closed_early"]) == ("ok", 200, False)


def test_count_tokens(sim: VertexSimulator, claude: AnthropicVertex) -> None:
    counted = claude.messages.count_tokens(model=MODEL, messages=HELLO)

    assert counted.input_tokens >= 1
    assert sim.requests()[0]["kind"] == "countTokens"
    assert sim.requests()[0]["model"] == MODEL


def test_missing_bearer_token_is_a_vertex_401(sim: VertexSimulator) -> None:
    status, error = raw_post(sim, f"{GENERATE}:rawPredict", body(), headers={"Content-Type": "application/json"})

    assert status == 401
    assert error["error"]["status"] == "UNAUTHENTICATED"
    assert error["error"]["message"].startswith("Request is missing required authentication credential")


def test_unknown_paths_are_vertex_404s(sim: VertexSimulator) -> None:
    assert raw_get(sim, "/v1/publishers/anthropic/models")[0] == 404  # the listing exists on v1beta1 only
    status, error = raw_post(sim, f"{GENERATE}:predict", body())
    assert (status, error["error"]["status"]) == (404, "NOT_FOUND")


def test_model_listing_is_paginated(sim: VertexSimulator) -> None:
    names: list[str] = []
    token = ""
    pages = 0
    while True:
        status, page = raw_get(sim, f"/v1beta1/publishers/anthropic/models?pageToken={token}")
        assert status == 200
        assert len(page["publisherModels"]) <= 2
        names += [f"{m['name'].rsplit('/', 1)[1]}@{m['versionId']}" for m in page["publisherModels"]]
        pages += 1
        token = page.get("nextPageToken", "")
        if not token:
            break

    assert names == list(DEFAULT_MODELS)
    assert pages == 3
    assert len(raw_get(sim, "/v1beta1/publishers/anthropic/models?pageSize=5")[1]["publisherModels"]) == 5


def test_empty_text_block_is_rejected_like_claude_does(claude: AnthropicVertex) -> None:
    with pytest.raises(anthropic.BadRequestError, match="text content blocks must be non-empty") as caught:
        claude.messages.create(model=MODEL, max_tokens=100,
                               messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}])

    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


@pytest.mark.parametrize(("overrides", "rule"), [
    ({"max_tokens": None}, "max_tokens"),
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "user", "content": ""}]}, "non-empty content"),
    ({"messages": [*HELLO, {"role": "assistant", "content": "Sure "}]}, "trailing whitespace"),
    ({"messages": [*HELLO, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "bad.id", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "bad.id"}]}]}, "pattern"),
    ({"messages": [*HELLO, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]}, *HELLO]}, "without `tool_result`"),
    ({"thinking": {"type": "enabled", "budget_tokens": 512}}, "budget_tokens"),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 1024}, "greater than"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://example.test/a.png"}}]}]}, "base64"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}]}]}, "media_type"),
    ({"temperature": 1.5}, "temperature"),
])
def test_claude_request_rules(overrides: dict[str, Any], rule: str) -> None:
    violation = first_violation(body(**overrides))

    assert violation is not None
    assert rule in violation


def test_a_valid_tool_loop_passes_the_rules() -> None:
    messages = [*HELLO,
                {"role": "assistant", "content": [{"type": "text", "text": "Let me check."},
                                                  {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]},
                {"role": "assistant", "content": ""}]

    assert first_violation(body(messages=messages)) is None


def test_reset_after_drops_the_connection_mid_body(sim: VertexSimulator) -> None:
    sim.script({"text": "a b c d", "reset_after": 1})
    connection, response = open_stream(sim)

    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    connection.close()

    assert b"text_delta" in caught.value.partial
    assert sim.requests()[0]["outcome"] == "reset"


def test_client_closing_early_is_recorded_promptly(sim: VertexSimulator) -> None:
    sim.script({"text": "one two three four five six", "interval_ms": 1000})
    connection, response = open_stream(sim)
    assert response.readline() == b"event: message_start\n"

    response.close()
    connection.close()
    closed_at = time.time()

    wait_for(lambda: sim.requests()[0]["outcome"] is not None)
    record = sim.requests()[0]
    assert (record["outcome"], record["closed_early"]) == ("client_closed", True)
    assert record["finished_at"] - closed_at < 0.5  # noticed during the 1 s pause, not at a later write


def test_steps_match_by_location_and_otherwise_default_applies(sim: VertexSimulator) -> None:
    sim.script({"match": {"location": "europe-west1"}, "text": "from Europe"})

    assert raw_post(sim, f"{GENERATE}:rawPredict", body())[1]["content"][0]["text"] == "You said: Hello there"
    europe = GENERATE.replace("us-east5", "europe-west1")
    assert raw_post(sim, f"{europe}:rawPredict", body())[1]["content"][0]["text"] == "from Europe"
    assert sim.pending_steps() == 0


def test_stream_faults_and_pacing(sim: VertexSimulator) -> None:
    sim.script({"text": "x y", "omit_message_stop": True}, {"text": "x y", "malformed_after": 1},
               {"text": "slow", "stall_before_first_event_ms": 150})

    assert "message_stop" not in stream_text(sim)
    assert "data: {not json" in stream_text(sim)
    started = time.monotonic()
    stream_text(sim)
    assert time.monotonic() - started >= 0.15


def test_configured_deltas_and_ttft_shape_the_default_reply(sim: VertexSimulator) -> None:
    sim.configure(deltas=7, ttft_ms=100)

    started = time.monotonic()
    text = stream_text(sim)

    assert time.monotonic() - started >= 0.1
    assert text.count("\"text_delta\"") == 7


def test_control_api_over_http(sim: VertexSimulator) -> None:
    assert raw_post(sim, "/_sim/script", {"steps": [{"txet": "typo"}]})[0] == 400
    assert raw_post(sim, "/_sim/script", {"steps": [{"text": "scripted"}]}) == (200, {"pending": 1})
    assert raw_post(sim, f"{GENERATE}:rawPredict", body())[1]["content"][0]["text"] == "scripted"

    status, records = raw_get(sim, "/_sim/requests")
    assert status == 200
    assert records[0]["scripted"] is True
    assert raw_post(sim, "/_sim/config", {"page_size": 4})[1]["page_size"] == 4
    raw_post(sim, "/_sim/reset", {})
    assert raw_get(sim, "/_sim/requests")[1] == []
    assert raw_get(sim, "/_sim/config")[1]["page_size"] == 2

    with pytest.raises(StepError):
        sim.script({"status": 200})


def test_holds_256_concurrent_streams(sim: VertexSimulator) -> None:
    sim.configure(deltas=5, interval_ms=50)
    results: list[bool] = []

    def one_stream() -> None:
        results.append(stream_text(sim).endswith("event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n"))

    threads = [threading.Thread(target=one_stream) for _ in range(256)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert results == [True] * 256
    assert time.monotonic() - started < 5  # 256 x 200 ms one after another would take 51 s
    assert {record["outcome"] for record in sim.requests()} == {"ok"}


def test_cli_announces_its_url_and_serves() -> None:
    with subprocess.Popen([sys.executable, "-m", "local.vertex_sim", "--port", "0", "--deltas", "3"],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "K_SERVICE": ""}) as proc:
        try:
            assert proc.stdout is not None
            banner = proc.stdout.readline().strip()
            assert banner.startswith("vertex simulator listening on http://127.0.0.1:")
            url = banner.rsplit(" ", 1)[1]
            with urllib.request.urlopen(f"{url}/_sim/config", timeout=5) as response:
                assert json.loads(response.read())["deltas"] == 3
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0


def test_refuses_to_start_on_cloud_run(monkeypatch: pytest.MonkeyPatch) -> None:
    done = subprocess.run([sys.executable, "-m", "local.vertex_sim", "--port", "0"], check=False, cwd=ROOT,
                          env={**os.environ, "K_SERVICE": "vertexchat-api"}, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode != 0
    assert "K_SERVICE" in done.stderr
    assert "Cloud Run" in done.stderr

    monkeypatch.setenv("K_SERVICE", "vertexchat-api")
    with pytest.raises(CloudRunRefusal):
        VertexSimulator().start()
