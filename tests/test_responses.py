"""The Responses API over HTTP with the official openai SDK: create, stream, parse, tool loops, state.

Each test drives the real ``api`` function (functions-framework) with the Vertex simulator and the
Firestore emulator, and asserts the answer the SDK reads and the body Vertex received.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pydantic
import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer

MODEL = "claude-sonnet-4-5@20250929"
WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"], "additionalProperties": False}}
CLAUDE_WEATHER_TOOL = {"name": "get_weather", "description": "Weather for a city.",
                       "input_schema": WEATHER_TOOL["parameters"]}


@pytest.fixture
def oai(api: FunctionServer, sim: VertexSimulator, firestore: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused-locally", max_retries=0, timeout=30)


def last_body(sim: VertexSimulator) -> dict[str, Any]:
    records = [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]
    body: dict[str, Any] = records[-1]["body"]
    return body


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def tool_call_step(call_id: str = "toolu_01", city: str = "Paris") -> dict[str, Any]:
    return {"content": [{"type": "text", "text": "Let me check."},
                        {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": city}}],
            "stop_reason": "tool_use"}


def test_create_answers_with_claude_and_sends_instructions_as_system(oai: openai.OpenAI,
                                                                    sim: VertexSimulator) -> None:
    sim.script({"text": "Hello there."})

    response = oai.responses.create(model=MODEL, input="Hi", instructions="Be brief.", max_output_tokens=300,
                                    temperature=0.5)

    assert response.output_text == "Hello there."
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == MODEL
    assert [item.type for item in response.output] == ["message"]
    assert response.usage is not None
    assert response.usage.total_tokens == (response.usage.input_tokens
                                                                           + response.usage.output_tokens)
    body = last_body(sim)
    assert body["system"] == [{"type": "text", "text": "Be brief."}]
    assert body["messages"] == [user("Hi")]
    assert body["max_tokens"] == 300
    assert body["temperature"] == 0.5


def test_stream_sends_the_semantic_events_in_order(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"text": "Streaming works fine."})

    with oai.responses.stream(model=MODEL, input=[{"role": "user", "content": "Stream please"}]) as stream:
        events = list(stream)
        final = stream.get_final_response()

    assert final.output_text == "Streaming works fine."
    kinds = [event.type for event in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[3] == "response.content_part.added"
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "Streaming works fine."
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert last_body(sim)["messages"] == [user("Stream please")]


class Weather(pydantic.BaseModel):
    city: str
    degrees: int


def test_parse_returns_the_pydantic_model(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "tool_use", "id": "toolu_json", "name": "json_response",
                             "input": {"city": "Paris", "degrees": 21}}], "stop_reason": "tool_use"})

    parsed = oai.responses.parse(model=MODEL, input="Weather in Paris as JSON", text_format=Weather)

    assert parsed.output_parsed == Weather(city="Paris", degrees=21)
    body = last_body(sim)
    assert [tool["name"] for tool in body["tools"]] == ["json_response"]
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert body["tools"][0]["input_schema"]["properties"] == {"city": {"title": "City", "type": "string"},
                                                              "degrees": {"title": "Degrees", "type": "integer"}}


def test_a_tool_loop_continues_with_previous_response_id(oai: openai.OpenAI, sim: VertexSimulator,
                                                         api: FunctionServer) -> None:
    sim.script(tool_call_step(), {"text": "It is sunny in Paris."})

    first = oai.responses.create(model=MODEL, input="Weather in Paris?", tools=[WEATHER_TOOL])
    call = next(item for item in first.output if item.type == "function_call")
    assert (call.call_id, call.name, json.loads(call.arguments)) == ("toolu_01", "get_weather", {"city": "Paris"})
    assert last_body(sim)["tools"] == [CLAUDE_WEATHER_TOOL]

    second = oai.responses.create(model=MODEL, previous_response_id=first.id, tools=[WEATHER_TOOL],
                                  input=[{"type": "function_call_output", "call_id": call.call_id,
                                          "output": "Sunny, 21 C"}])

    assert second.output_text == "It is sunny in Paris."
    assert second.previous_response_id == first.id
    assert last_body(sim)["messages"] == [
        user("Weather in Paris?"),
        {"role": "assistant", "content": [{"type": "text", "text": "Let me check."},
                                          {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01",
                                      "content": [{"type": "text", "text": "Sunny, 21 C"}]}]},
    ]
    stored = oai.responses.retrieve(second.id)
    assert stored.output_text == "It is sunny in Paris."


def test_a_tool_loop_with_the_full_input_resent(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script(tool_call_step("toolu_02", "Rome"), {"text": "Rome is warm."})
    question = [{"role": "user", "content": "Weather in Rome?"}]

    first = oai.responses.create(model=MODEL, input=question, tools=[WEATHER_TOOL], store=False)
    call = next(item for item in first.output if item.type == "function_call")
    resent = [*question, *[item.model_dump(exclude_none=True) for item in first.output],
              {"type": "function_call_output", "call_id": call.call_id, "output": "Warm"}]
    second = oai.responses.create(model=MODEL, input=resent, tools=[WEATHER_TOOL], store=False)

    assert second.output_text == "Rome is warm."
    assert last_body(sim)["messages"] == [
        user("Weather in Rome?"),
        {"role": "assistant", "content": [{"type": "text", "text": "Let me check."},
                                          {"type": "tool_use", "id": "toolu_02", "name": "get_weather",
                                           "input": {"city": "Rome"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_02",
                                      "content": [{"type": "text", "text": "Warm"}]}]},
    ]


def test_store_false_stores_nothing(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"text": "Not kept."})

    response = oai.responses.create(model=MODEL, input="Forget this", store=False)

    assert response.output_text == "Not kept."
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.create(model=MODEL, input="more", previous_response_id=response.id)


def test_get_input_items_and_delete(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"text": "Stored."})
    response = oai.responses.create(model=MODEL, input=[{"role": "user", "content": "keep me"}])

    got = oai.responses.retrieve(response.id)
    listed = oai.responses.input_items.list(response.id)

    assert got.output_text == "Stored."
    assert [(item.type, item.role) for item in listed.data] == [("message", "user")]  # type: ignore[union-attr]
    oai.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.input_items.list(response.id)
    with pytest.raises(openai.NotFoundError):
        oai.responses.delete(response.id)


def test_built_in_tools_are_a_400_naming_the_param(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model=MODEL, input="search", tools=[{"type": "web_search"}])

    assert caught.value.body["param"] == "tools[0].type"  # type: ignore[index]
    assert sim.requests() == []


def test_an_idempotency_key_replays_the_first_response(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"text": "Only once."}, {"text": "Streamed once."})
    headers = {"Idempotency-Key": "resp-key-1"}
    streamed_headers = {"Idempotency-Key": "resp-key-2"}

    first = oai.responses.create(model=MODEL, input="once", extra_headers=headers)
    again = oai.responses.with_raw_response.create(model=MODEL, input="once", extra_headers=headers)
    finals = []
    for _ in range(2):
        with oai.responses.stream(model=MODEL, input="once", extra_headers=streamed_headers) as stream:
            finals.append(stream.get_final_response())

    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parse().id == first.id
    assert [(r.id, r.output_text) for r in finals] == [(finals[0].id, "Streamed once.")] * 2
    assert len(sim.requests()) == 2


def test_stateless_reasoning_round_trips_through_encrypted_content(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    thinking = {"type": "thinking", "thinking": "The user wants weather.", "signature": "sig-abc"}
    sim.script({"content": [thinking, {"type": "tool_use", "id": "toolu_r1", "name": "get_weather",
                                       "input": {"city": "Oslo"}}], "stop_reason": "tool_use"},
               {"text": "Cold in Oslo."})
    question = [{"role": "user", "content": "Weather in Oslo?"}]
    options: dict[str, Any] = {"model": MODEL, "tools": [WEATHER_TOOL], "store": False,
                               "reasoning": {"effort": "medium"}, "include": ["reasoning.encrypted_content"]}

    with oai.responses.stream(input=question, **options) as stream:
        events = list(stream)
        first = stream.get_final_response()
    reasoning, call = first.output
    assert call.type == "function_call"
    assert reasoning.type == "reasoning"
    assert [part.text for part in reasoning.summary] == ["The user wants weather."]
    assert "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta") \
        == "The user wants weather."
    resent = [*question, *[item.model_dump(exclude_none=True) for item in first.output],
              {"type": "function_call_output", "call_id": "toolu_r1", "output": "-3 C"}]
    second = oai.responses.create(input=resent, **options)

    assert second.output_text == "Cold in Oslo."
    body = last_body(sim)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["messages"][1] == {"role": "assistant", "content": [
        thinking, {"type": "tool_use", "id": "toolu_r1", "name": "get_weather", "input": {"city": "Oslo"}}]}


def test_heartbeats_keep_a_silent_stream_open(start_function: Callable[..., FunctionServer], sim: VertexSimulator,
                                              firestore: str) -> None:
    server = start_function(STREAM_HEARTBEAT_SECONDS="0.2")
    sim.script({"text": "After a pause.", "stall_after": 1, "stall_ms": 1200})

    response = requests.post(f"{server.url}/v1/responses", timeout=30,
                             json={"model": MODEL, "input": "wait", "stream": True, "store": False})

    assert response.text.count(": keep-alive\n\n") >= 2
    datas = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert datas[-1]["type"] == "response.completed"
    assert datas[-1]["response"]["output"][0]["content"][0]["text"] == "After a pause."


def test_a_streamed_parse_streams_the_json_as_text(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "tool_use", "id": "toolu_j", "name": "json_response",
                             "input": {"city": "Lima", "degrees": 19},
                             "chunks": ['{"city": "Li', 'ma", "degrees": 19}']}], "stop_reason": "tool_use"})

    with oai.responses.stream(model=MODEL, input="Lima as JSON", text_format=Weather) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()

    assert "".join(deltas) == '{"city": "Lima", "degrees": 19}'
    assert final.output_parsed == Weather(city="Lima", degrees=19)
    assert final.status == "completed"


def test_errors_are_openai_shaped_and_the_turn_logs_one_line(api: FunctionServer, oai: openai.OpenAI,
                                                            sim: VertexSimulator) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        oai.responses.create(model="gpt-4o", input="hi")
    assert unknown.value.code == "model_not_found"
    sim.script({"text": "Logged."})

    raw = oai.responses.with_raw_response.create(model=MODEL, input="log me")

    line = api.request_log(raw.headers["X-Request-Id"])
    assert (line["route"], line["status"], line["response_id"]) == ("responses.create", 200, raw.parse().id)
    assert line["usage"] == raw.http_response.json()["usage"]
    assert line["session_id"] == raw.headers["X-Session-Id"]


# About 6,000 tokens: well over Claude's minimum cacheable prefix.
LONG_INSTRUCTIONS = " ".join(f"Rule {i}: answer precisely and cite section {i}." for i in range(500))


def test_a_chain_reads_its_prompt_from_the_cache(oai: openai.OpenAI, sim: VertexSimulator) -> None:
    sim.script({"text": "First answer."}, {"text": "Second answer."})

    first = oai.responses.create(model=MODEL, input="Question one", instructions=LONG_INSTRUCTIONS)
    second = oai.responses.create(model=MODEL, input="Question two", instructions=LONG_INSTRUCTIONS,
                                  previous_response_id=first.id)

    assert last_body(sim)["system"][-1]["cache_control"] == {"type": "ephemeral"}
    billed = [u for u in sim.billed() if u]
    assert billed[1]["cache_read_input_tokens"] > 0
    assert second.usage is not None
    assert second.usage.input_tokens_details.cached_tokens == billed[1]["cache_read_input_tokens"]
    assert second.usage.to_dict()["input_tokens_details"]["cache_write_tokens"] == \
        billed[1]["cache_creation_input_tokens"]
