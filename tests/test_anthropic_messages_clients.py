"""POST /v1/messages driven by real Node clients: ``@anthropic-ai/sdk`` and the Claude Code CLI (offline).

Each test asserts what the client saw (its result, the requests it made and their statuses) and
what the simulated Vertex received.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.vertex_sim import VertexSimulator
from tests import clients
from tests.harness import FunctionServer

MODEL = "claude-haiku-4-5"
VERTEX_MODEL = "claude-haiku-4-5@20251001"
EPHEMERAL = {"type": "ephemeral"}


def options(api: FunctionServer, **extra: Any) -> clients.DriverOptions:
    return clients.DriverOptions(base_url=api.url, token="local-token", model=MODEL, **extra)


def generated(sim: VertexSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]


@pytest.mark.parametrize("auth", ["api-key", "x-api-key"])
def test_node_sdk_create(api: FunctionServer, sim: VertexSimulator, auth: str) -> None:
    sim.script({"text": "Hello from Vertex."})

    result = clients.anthropic_sdk("create", options(api, auth=auth))  # type: ignore[arg-type]

    assert result["ok"], result
    assert result["text"] == "Hello from Vertex."
    assert [(r["path"], r["status"]) for r in result["requests"]] == [("/v1/messages", 200)]
    [record] = generated(sim)
    assert record["model"] == VERTEX_MODEL
    assert record["body"]["system"] == [{"type": "text", "text": "You are a terse assistant.",
                                         "cache_control": EPHEMERAL}]
    assert "model" not in record["body"]
    assert record["body"]["anthropic_version"] == "vertex-2023-10-16"


def test_node_sdk_stream_gets_claudes_events_unchanged(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "text", "text": "Hi there.", "chunks": ["Hi ", "there."]}]})

    result = clients.anthropic_sdk("stream", options(api, raw=True))

    assert result["ok"], result
    assert result["text_deltas"] == ["Hi ", "there."]
    [request] = result["requests"]
    assert request["wire_events"][0] == "message_start"
    assert request["wire_events"][-1] == "message_stop"
    assert generated(sim)[0]["body"]["stream"] is True


def test_node_sdk_thinking_and_tool_result_round_trip(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "thinking", "thinking": "Use the tool.", "signature": "sig-1"},
                            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Paris"}}],
                "stop_reason": "tool_use"},
               {"text": "Sunny."})

    result = clients.anthropic_sdk("thinking", options(api))

    assert result["ok"], result
    assert result["text"] == "Sunny."
    assert result["thinking_blocks"] == [{"type": "thinking", "thinking": "Use the tool.", "signature": "sig-1"}]
    first, second = generated(sim)
    assert first["body"]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assistant, tool_result = second["body"]["messages"][1:]
    assert assistant["content"][0] == {"type": "thinking", "thinking": "Use the tool.", "signature": "sig-1"}
    assert tool_result["content"][0]["content"] == result["tool_result"]


def test_node_sdk_image_and_count_tokens(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"text": "Red."})

    image = clients.anthropic_sdk("image", options(api))
    count = clients.anthropic_sdk("count_tokens", options(api))

    assert image["ok"], image
    assert image["text"] == "Red."
    [record] = generated(sim)
    assert record["body"]["messages"][0]["content"][0]["source"]["media_type"] == "image/png"
    assert count["ok"], count
    assert count["count"]["input_tokens"] > 0
    [counted] = sim.requests("countTokens")
    assert counted["body"]["model"] == VERTEX_MODEL
    assert counted["body"]["tools"][0]["name"] == "get_weather"


def test_node_sdk_sees_anthropic_errors(api: FunctionServer, sim: VertexSimulator) -> None:
    unknown = clients.anthropic_sdk("unknown_model", options(api))
    sim.script({"text": "one two three four", "error_after": 1})
    midstream = clients.anthropic_sdk("midstream_error", options(api))

    assert unknown["error"]["status"] == 404
    assert unknown["error"]["type"] == "not_found_error"
    assert midstream["ok"] is False
    assert midstream["error"]["type"] == "overloaded_error"
    assert midstream["requests"][0]["wire_events"][-1] == "error"


def test_node_sdk_rate_limited(start_function: Any, sim: VertexSimulator) -> None:
    server = start_function(UPSTREAM_MAX_ATTEMPTS="1")
    sim.script({"status": 429, "headers": {"Retry-After": "3"}})

    result = clients.anthropic_sdk("rate_limited", options(server))

    assert result["error"]["status"] == 429
    assert result["error"]["type"] == "rate_limit_error"
    assert result["error"]["retry_after"] == "3"


@pytest.mark.parametrize("auth", ["api-key", "auth-token"])
def test_claude_code_answers_a_prompt_offline(api: FunctionServer, sim: VertexSimulator, auth: str) -> None:
    sim.script({"content": [{"type": "thinking", "thinking": "Greet.", "signature": "sig-cc"},
                            {"type": "text", "text": "hi from vertex"}]})
    run = clients.claude_code("say hi", clients.ClaudeCodeOptions(api.url, "local-token", model=MODEL,
                                                                  auth=auth))  # type: ignore[arg-type]

    assert run.returncode == 0, (run.output, run.stderr[-2000:])
    assert run.output["is_error"] is False
    assert run.output["result"] == "hi from vertex"
    records = generated(sim)
    assert records
    assert all(r["status"] == 200 for r in records), [(r["status"], r.get("outcome")) for r in records]
    body = records[0]["body"]
    # Claude Code's own breakpoints reach Vertex where it put them: two system blocks and the prompt.
    assert [i for i, block in enumerate(body["system"]) if "cache_control" in block] == [1, 2]
    assert "cache_control" in body["messages"][0]["content"][-1]
    # prompt-caching-scope is advertised by Claude Code and refused by Vertex: dropped, never a failure.
    assert "prompt-caching-scope-2026-01-05" not in records[0]["betas"]
    assert "claude-code-20250219" in records[0]["betas"]
    assert len(json.dumps(body)) > 50_000
