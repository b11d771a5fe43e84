"""What the simulated Vertex accepts from Messages API clients (Claude Code, the Anthropic SDKs) and what it refuses."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from anthropic import AnthropicVertex

from local.vertex_sim import VertexSimulator
from local.vertex_sim.envelope import REFUSED_BETAS

MODEL = "claude-sonnet-4-5@20250929"
BASE = "/v1/projects/proj-cc/locations/us-east5/publishers/anthropic/models"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
PDF = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
CLAUDE_CODE_BETAS = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27"
EPHEMERAL = {"type": "ephemeral"}


@pytest.fixture
def sim() -> Iterator[VertexSimulator]:
    with VertexSimulator() as simulator:
        yield simulator


def claude_code_body(**overrides: Any) -> dict[str, Any]:
    """A body shaped like Claude Code's, after the gateway moved `model` into the URL."""
    tools = [{"name": f"Tool{i}", "description": f"Tool number {i}.", "input_schema": {
        "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}} for i in range(24)]
    tools[-1]["cache_control"] = EPHEMERAL
    return {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 32000,
        "stream": True,
        "temperature": 1,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "user_abc123_account__session_0f1e"},
        "system": [{"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
                   {"type": "text", "text": "Follow the repository conventions. " * 50, "cache_control": EPHEMERAL}],
        "tools": tools,
        "tool_choice": {"type": "auto"},
        "stop_sequences": ["</done>"],
        "service_tier": "auto",
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PDF}},
            {"type": "text", "text": "Summarise the screenshot and the spec.", "cache_control": EPHEMERAL},
        ]}],
        **overrides,
    }


def post(sim: VertexSimulator, path: str, body: Any, betas: str | None = None) -> tuple[int, Any, bytes]:
    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    if betas is not None:
        headers["anthropic-beta"] = betas
    request = urllib.request.Request(sim.url + path, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw), raw
    except ValueError:
        return status, None, raw


@pytest.mark.parametrize("method", ["streamRawPredict", "rawPredict"])
def test_a_claude_code_body_is_accepted_and_recorded_exactly(sim: VertexSimulator, method: str) -> None:
    body = claude_code_body(stream=method == "streamRawPredict")

    status, _, raw = post(sim, f"{BASE}/{MODEL}:{method}", body, CLAUDE_CODE_BETAS)

    assert status == 200, raw[:300]
    (record,) = sim.requests()
    assert record["body"] == body
    assert record["headers"]["anthropic-beta"] == CLAUDE_CODE_BETAS
    assert record["betas"] == CLAUDE_CODE_BETAS.split(",")
    assert record["cache"]["breakpoints"] == [
        {"position": 23, "path": "tools.23", "ttl": "5m"},
        {"position": 25, "path": "system.1", "ttl": "5m"},
        {"position": 28, "path": "messages.0.content.2", "ttl": "5m"}]
    if method == "streamRawPredict":
        assert b"event: message_start" in raw


def test_interleaved_thinking_lets_the_budget_reach_max_tokens(sim: VertexSimulator) -> None:
    body = claude_code_body(stream=False, max_tokens=8000, thinking={"type": "enabled", "budget_tokens": 16000})

    assert post(sim, f"{BASE}/{MODEL}:rawPredict", body, CLAUDE_CODE_BETAS)[0] == 200
    status, error, _ = post(sim, f"{BASE}/{MODEL}:rawPredict", body, "context-management-2025-06-27")
    assert status == 400
    assert error["error"]["message"] == "`max_tokens` must be greater than `thinking.budget_tokens`"


@pytest.mark.parametrize(("change", "message"), [
    ({"model": MODEL}, "model: Extra inputs are not permitted"),
    ({"cache_control": EPHEMERAL}, "cache_control: Extra inputs are not permitted"),
    ({"fallbacks": [MODEL]}, "fallbacks: Extra inputs are not permitted"),
    ({"output_config": {"effort": "high"}}, "output_config.effort: Extra inputs are not permitted"),
])
def test_fields_vertex_refuses_are_claude_shaped_400s(sim: VertexSimulator, change: dict[str, Any],
                                                      message: str) -> None:
    status, error, _ = post(sim, f"{BASE}/{MODEL}:rawPredict", claude_code_body(stream=False, **change),
                            CLAUDE_CODE_BETAS)

    assert status == 400
    assert error["type"] == "error"
    assert error["error"] == {"type": "invalid_request_error", "message": message}
    assert error["request_id"].startswith("req_vrtx_")


def test_effort_is_accepted_from_a_4_6_model(sim: VertexSimulator) -> None:
    body = claude_code_body(stream=False, output_config={"effort": "high"})

    assert post(sim, f"{BASE}/claude-opus-4-6:rawPredict", body, CLAUDE_CODE_BETAS)[0] == 200


def test_context_management_needs_its_beta(sim: VertexSimulator) -> None:
    status, error, _ = post(sim, f"{BASE}/{MODEL}:rawPredict", claude_code_body(stream=False),
                            "interleaved-thinking-2025-05-14")

    assert status == 400
    assert error["error"]["message"] == "context_management: Extra inputs are not permitted"


def test_a_refused_beta_is_a_400_naming_every_refused_value(sim: VertexSimulator) -> None:
    betas = f"{CLAUDE_CODE_BETAS},prompt-caching-scope-2026-01-05,effort-2025-11-24"

    status, error, _ = post(sim, f"{BASE}/{MODEL}:streamRawPredict", claude_code_body(), betas)

    assert status == 400
    assert error["error"] == {"type": "invalid_request_error", "message": (
        "Unexpected value(s) `prompt-caching-scope-2026-01-05`, `effort-2025-11-24` for the `anthropic-beta` "
        "header. Please consult our documentation at docs.anthropic.com or try again without the header.")}
    assert error["request_id"].startswith("req_vrtx_")
    (record,) = sim.requests()
    assert record["betas"][-2:] == ["prompt-caching-scope-2026-01-05", "effort-2025-11-24"]
    assert (record["status"], record["usage"]) == (400, None)
    assert sim.cache_entries() == []


def test_the_refused_list_has_the_documented_values_and_tests_can_replace_it(sim: VertexSimulator) -> None:
    assert "prompt-caching-2024-07-31" in REFUSED_BETAS
    assert sim.configure(refused_betas=["claude-code-20250219"])["refused_betas"] == ["claude-code-20250219"]

    status, error, _ = post(sim, f"{BASE}/{MODEL}:rawPredict", claude_code_body(stream=False), CLAUDE_CODE_BETAS)
    assert status == 400
    assert "`claude-code-20250219`" in error["error"]["message"]
    assert post(sim, f"{BASE}/{MODEL}:rawPredict", claude_code_body(stream=False),
                "prompt-caching-2024-07-31,context-management-2025-06-27")[0] == 200
    sim.reset()
    assert "prompt-caching-2024-07-31" in sim.configure()["refused_betas"]


def test_sdk_beta_client_sends_the_header_and_the_simulator_records_it(sim: VertexSimulator) -> None:
    with AnthropicVertex(region="us-east5", project_id="proj-cc", base_url=sim.base_url, access_token="t",
                         max_retries=0) as claude:
        message = claude.beta.messages.create(
            model=MODEL, max_tokens=64, betas=["context-management-2025-06-27"],
            context_management={"edits": [{"type": "clear_tool_uses_20250919"}]},
            messages=[{"role": "user", "content": "Hello"}])

    assert message.content[0].type == "text"
    (record,) = sim.requests()
    assert record["betas"] == ["context-management-2025-06-27"]
    assert "model" not in record["body"]
    assert record["body"]["context_management"] == {"edits": [{"type": "clear_tool_uses_20250919"}]}


def test_count_tokens_takes_the_model_in_the_body_and_the_same_rules(sim: VertexSimulator) -> None:
    path = f"{BASE}/count-tokens:rawPredict"
    body = {key: value for key, value in claude_code_body().items()
            if key in ("anthropic_version", "system", "tools", "messages", "thinking", "tool_choice")}

    status, counted, _ = post(sim, path, {**body, "model": MODEL}, CLAUDE_CODE_BETAS)
    assert (status, sorted(counted)) == (200, ["input_tokens"])
    assert post(sim, path, body)[1]["error"]["message"] == "model: Field required"
    assert post(sim, path, {**body, "model": MODEL, "max_tokens": 10})[1]["error"]["message"] == (
        "max_tokens: Extra inputs are not permitted")
    assert post(sim, path, {**body, "model": MODEL}, "effort-2025-11-24")[0] == 400
    assert sim.requests()[0]["model"] == MODEL
    assert sim.requests()[0]["betas"] == CLAUDE_CODE_BETAS.split(",")


def test_valid_blocks_clients_send_pass_the_rules(sim: VertexSimulator) -> None:
    messages = [
        {"role": "user", "content": "Run the tool."},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should call it.", "signature": "EqoB"},
            {"type": "tool_use", "id": "toolu_01", "name": "Tool0", "input": {"path": "a"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01", "cache_control": EPHEMERAL, "content": [
                {"type": "text", "text": "file contents"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]},
            {"type": "text", "text": "Continue."}]},
    ]
    body = claude_code_body(stream=False, messages=messages)

    status, message, raw = post(sim, f"{BASE}/{MODEL}:rawPredict", body, CLAUDE_CODE_BETAS)

    assert status == 200, raw[:300]
    assert message["usage"]["cache_creation"]["ephemeral_5m_input_tokens"] == message["usage"][
        "cache_creation_input_tokens"]
