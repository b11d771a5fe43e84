"""Chat completions end to end: the official openai SDK -> functions-framework -> the Vertex simulator.

Each test scripts what "Claude" answers, drives the real function with the OpenAI SDK, and
checks both what the client got and what went upstream.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import openai
import pytest

from local.metadata_server import MetadataServer
from local.vertex_sim import VertexSimulator
from tests.harness import PROJECT, REGION
from vertexchat.openai_chat.request import JSON_TOOL

PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()

USAGE = {"input_tokens": 11, "output_tokens": 7, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 3}


def last_upstream(sim: VertexSimulator) -> dict[str, Any]:
    generate = [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]
    assert generate, "no generate request reached the simulator"
    return generate[-1]


def test_non_streaming_text_reply(client: openai.OpenAI, sim: VertexSimulator,
                                  metadata_server: MetadataServer) -> None:
    sim.script({"content": [{"type": "text", "text": "Hi there!"}], "stop_reason": "end_turn", "usage": USAGE})

    completion = client.chat.completions.create(
        model="claude-sonnet-4-5@20250929",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    )

    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "claude-sonnet-4-5@20250929"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Hi there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 11 + 5 + 3
    assert completion.usage.completion_tokens == 7
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 5

    upstream = last_upstream(sim)
    assert upstream["kind"] == "rawPredict"
    assert upstream["project"] == PROJECT
    assert upstream["location"] == REGION
    assert upstream["model"] == "claude-sonnet-4-5@20250929"
    assert upstream["body"]["system"] == [{"type": "text", "text": "Be brief."}]
    assert upstream["body"]["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
    # The bearer token is one the (fake) metadata server issued via google.auth.default().
    token = upstream["authorization"].removeprefix("Bearer ")
    assert token in metadata_server.issued_tokens


def test_streaming_text_reply_with_usage(client: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "text", "text": "One two three", "chunks": ["One", " two", " three"]}],
                "stop_reason": "end_turn", "usage": USAGE})

    stream = client.chat.completions.create(
        model="claude-haiku-4-5@20251001", messages=[{"role": "user", "content": "Count"}],
        stream=True, stream_options={"include_usage": True},
    )
    chunks = list(stream)

    assert len({c.id for c in chunks}) == 1
    assert len({c.created for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert texts == ["One", " two", " three"]
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 19
    assert all(c.usage is None for c in chunks[:-1])
    assert last_upstream(sim)["kind"] == "streamRawPredict"


def test_stream_and_non_stream_report_identical_usage(client: openai.OpenAI, sim: VertexSimulator) -> None:
    step = {"content": [{"type": "text", "text": "Same"}], "stop_reason": "end_turn", "usage": USAGE}
    sim.script(step, step)
    messages: Any = [{"role": "user", "content": "x"}]

    plain = client.chat.completions.create(model="claude-sonnet-4-5@20250929", messages=messages)
    streamed = list(client.chat.completions.create(model="claude-sonnet-4-5@20250929", messages=messages,
                                                   stream=True, stream_options={"include_usage": True}))

    assert plain.usage is not None
    assert streamed[-1].usage is not None
    assert plain.usage.model_dump() == streamed[-1].usage.model_dump()


TOOLS: Any = [{
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather for a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}]


def test_tool_calls_non_streaming_then_tool_result_round_trip(client: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "text", "text": "Let me check."},
                            {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}],
                "stop_reason": "tool_use", "usage": USAGE})

    first = client.chat.completions.create(model="claude-sonnet-4-5@20250929", tools=TOOLS, tool_choice="auto",
                                           messages=[{"role": "user", "content": "Weather in Paris?"}])

    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.id == "toolu_01"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    upstream = last_upstream(sim)["body"]
    assert upstream["tools"][0]["name"] == "get_weather"
    assert upstream["tools"][0]["input_schema"]["properties"]["city"] == {"type": "string"}
    assert upstream["tool_choice"] == {"type": "auto"}

    sim.script({"text": "It is sunny."})
    second = client.chat.completions.create(
        model="claude-sonnet-4-5@20250929", tools=TOOLS,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            choice.message.model_dump(exclude_none=True),  # type: ignore[misc]
            {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny, 21C"},
        ],
    )
    assert second.choices[0].message.content == "It is sunny."
    sent = last_upstream(sim)["body"]["messages"]
    assert sent[1]["role"] == "assistant"
    assert sent[1]["content"][-1] == {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                      "input": {"city": "Paris"}}
    assert sent[2]["role"] == "user"
    assert sent[2]["content"][0]["type"] == "tool_result"
    assert sent[2]["content"][0]["tool_use_id"] == "toolu_01"


def test_tool_calls_streaming_are_indexed_per_call(client: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"content": [
        {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Oslo"},
         "chunks": ['{"ci', 'ty": "Os', 'lo"}']},
        {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Rome"}},
    ], "stop_reason": "tool_use", "usage": USAGE})

    chunks = list(client.chat.completions.create(model="claude-sonnet-4-5@20250929", tools=TOOLS, stream=True,
                                                 messages=[{"role": "user", "content": "Two cities"}]))

    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                assert not entry["id"], "id must come only in the first delta of a call"
                entry["id"] = delta.id
            if delta.function and delta.function.name:
                entry["name"] = delta.function.name
            if delta.function and delta.function.arguments:
                entry["arguments"] += delta.function.arguments
    assert sorted(calls) == [0, 1]
    assert calls[0]["id"] == "toolu_a"
    assert calls[1]["id"] == "toolu_b"
    assert json.loads(calls[0]["arguments"]) == {"city": "Oslo"}
    assert json.loads(calls[1]["arguments"]) == {"city": "Rome"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]


def test_data_url_image_becomes_base64_block(client: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"text": "A pixel."})

    client.chat.completions.create(model="claude-sonnet-4-5@20250929", messages=[{
        "role": "user",
        "content": [{"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_1PX}"}}],
    }])

    content = last_upstream(sim)["body"]["messages"][0]["content"]
    assert {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1PX}} in content


def test_json_schema_comes_back_as_content_without_tool_leak(client: openai.OpenAI, sim: VertexSimulator) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    reply = {"content": [{"type": "tool_use", "id": "toolu_j", "name": JSON_TOOL, "input": {"answer": 42}}],
             "stop_reason": "tool_use", "usage": USAGE}
    response_format: Any = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}

    sim.script(reply)
    completion = client.chat.completions.create(model="claude-sonnet-4-5@20250929", response_format=response_format,
                                                messages=[{"role": "user", "content": "6*7?"}])

    upstream = last_upstream(sim)["body"]
    assert upstream["tools"] == [{"name": JSON_TOOL, "description": upstream["tools"][0]["description"],
                                  "input_schema": schema}]
    assert upstream["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.tool_calls is None
    assert json.loads(completion.choices[0].message.content or "") == {"answer": 42}

    sim.script(reply)
    chunks = list(client.chat.completions.create(model="claude-sonnet-4-5@20250929", response_format=response_format,
                                                 messages=[{"role": "user", "content": "6*7?"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text) == {"answer": 42}
    assert not any(c.choices[0].delta.tool_calls for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_thinking_returns_reasoning_and_signed_blocks(client: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "thinking", "thinking": "Let me think.", "signature": "sig-123"},
                            {"type": "text", "text": "42"}], "stop_reason": "end_turn", "usage": USAGE})

    completion = client.chat.completions.create(
        model="claude-sonnet-4-5@20250929", messages=[{"role": "user", "content": "Meaning of life?"}],
        reasoning_effort="low", temperature=0.2,
    )

    upstream = last_upstream(sim)["body"]
    assert upstream["thinking"]["type"] == "enabled"
    assert upstream["thinking"]["budget_tokens"] >= 1024
    assert upstream["max_tokens"] > upstream["thinking"]["budget_tokens"]
    assert upstream.get("temperature", 1) == 1
    message = completion.choices[0].message
    assert message.content == "42"
    extra = message.model_extra or {}
    assert extra["reasoning_content"] == "Let me think."
    assert extra["thinking_blocks"] == [{"type": "thinking", "thinking": "Let me think.", "signature": "sig-123"}]


def test_streamed_thinking_arrives_as_reasoning_deltas(client: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "thinking", "thinking": "Step one. Step two.", "signature": "sig-9"},
                            {"type": "text", "text": "Done"}], "stop_reason": "end_turn", "usage": USAGE})

    chunks = list(client.chat.completions.create(
        model="claude-sonnet-4-5@20250929", messages=[{"role": "user", "content": "Think"}], stream=True,
        extra_body={"thinking": {"type": "enabled", "budget_tokens": 2048}},
    ))

    deltas = [c.choices[0].delta.model_extra or {} for c in chunks if c.choices]
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "Step one. Step two."
    blocks = [b for d in deltas for b in (d.get("thinking_blocks") or [])]
    assert blocks == [{"type": "thinking", "thinking": "Step one. Step two.", "signature": "sig-9"}]
    assert last_upstream(sim)["body"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}


@pytest.mark.parametrize(("stop_reason", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("refusal", "content_filter"), ("tool_use", "tool_calls"),
])
def test_finish_reason_mapping(client: openai.OpenAI, sim: VertexSimulator, stop_reason: str, finish: str) -> None:
    content: list[dict[str, Any]] = [{"type": "text", "text": "partial"}]
    if stop_reason == "tool_use":
        content.append({"type": "tool_use", "id": "toolu_x", "name": "get_weather", "input": {}})
    sim.script({"content": content, "stop_reason": stop_reason, "usage": USAGE})

    completion = client.chat.completions.create(model="claude-sonnet-4-5@20250929", tools=TOOLS,
                                                messages=[{"role": "user", "content": "x"}])

    assert completion.choices[0].finish_reason == finish


def test_sampling_parameters_reach_vertex(client: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"text": "ok"})

    client.chat.completions.create(model="claude-sonnet-4-5@20250929", messages=[{"role": "user", "content": "x"}],
                                   temperature=0.3, max_completion_tokens=123, stop=["END", "  "], user="u-1")

    body = last_upstream(sim)["body"]
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 123
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["anthropic_version"]
    assert "model" not in body
