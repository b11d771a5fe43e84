"""Prompt caching end to end: the official openai SDK -> the function -> the simulator's prompt cache.

The client marks nothing; vertexchat places the breakpoints. What counts is what the
simulator's cache model bills (``sim.billed()``): the share of prompt tokens read from cache
over turns 2-10, and that ``cached_tokens`` in every response is exactly the billed reads.
"""

from __future__ import annotations

import uuid
from typing import Any

import openai
import pytest
import requests

from local.vertex_sim import VertexSimulator
from local.vertex_sim.prompt import markers
from tests.harness import FunctionServer
from vertexchat.caching import estimate_tokens

MODEL = "claude-sonnet-4-5@20250929"
# About 6,000 tokens under the simulator's estimate (a quarter of the characters).
SYSTEM = " ".join(f"Rule {i}: answer precisely, cite the handbook section {i}, and never guess." for i in range(330))
TOOLS = [{"type": "function", "function": {
    "name": f"tool_{i}", "description": f"Looks up records of kind {i} in the warehouse database.",
    "parameters": {"type": "object", "properties": {"id": {"type": "string"}, "limit": {"type": "integer"}},
                   "required": ["id"]}}} for i in range(12)]
BIG_OUTPUT = "row " + " | ".join(f"item {i}: 42 units in bay {i % 17}" for i in range(330))  # ~2,800 tokens


def generate_requests(sim: VertexSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]


def read_share(sim: VertexSimulator, first: int = 1) -> float:
    billed = [u for u in sim.billed() if u][first:]
    prompt = sum(u["input_tokens"] + u["cache_read_input_tokens"] + u["cache_creation_input_tokens"] for u in billed)
    return sum(u["cache_read_input_tokens"] for u in billed) / prompt


def assert_never_more_than_four(sim: VertexSimulator) -> None:
    for record in generate_requests(sim):
        assert len(markers(record["body"])) <= 4, record["body"]


def test_ten_turn_conversation_reads_most_of_its_prompt_from_cache(client: openai.OpenAI,
                                                                   sim: VertexSimulator) -> None:
    messages: list[Any] = [{"role": "system", "content": SYSTEM}]
    for turn in range(10):
        sim.script({"content": [{"type": "text", "text": f"Answer {turn}: " + "all checked. " * 40}]})
        messages.append({"role": "user", "content": f"Question {turn}: what does rule {turn} mean for bay {turn}?"})
        completion = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        billed = sim.billed()[-1]
        assert billed is not None
        assert completion.usage is not None
        details = completion.usage.prompt_tokens_details
        assert details is not None
        assert details.cached_tokens == billed["cache_read_input_tokens"]
        assert details.to_dict()["cache_write_tokens"] == billed["cache_creation_input_tokens"]
        messages.append({"role": "assistant", "content": completion.choices[0].message.content})

    share = read_share(sim)
    assert share >= 0.80, share
    assert_never_more_than_four(sim)


def test_streamed_usage_reports_the_billed_reads_and_writes(client: openai.OpenAI, sim: VertexSimulator) -> None:
    messages: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "First"}]
    usages = []
    for _ in range(2):
        sim.script({"content": [{"type": "text", "text": "Streamed answer."}]})
        stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True,
                                                stream_options={"include_usage": True})
        usages += [chunk.usage for chunk in stream if chunk.usage is not None]
        messages += [{"role": "assistant", "content": "Streamed answer."}, {"role": "user", "content": "Next"}]

    billed = [u for u in sim.billed() if u]
    assert [u.prompt_tokens_details.cached_tokens for u in usages if u.prompt_tokens_details] == [
        b["cache_read_input_tokens"] for b in billed]
    assert [u.to_dict()["cache_creation_input_tokens"] for u in usages] == [
        b["cache_creation_input_tokens"] for b in billed]
    assert billed[1]["cache_read_input_tokens"] > 6000


def test_eight_step_tool_loop_with_large_outputs_reads_from_cache(client: openai.OpenAI, sim: VertexSimulator) -> None:
    messages: list[Any] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Audit every bay."}]
    for step in range(8):
        sim.script({"content": [{"type": "text", "text": f"Checking bay {step}."},
                                {"type": "tool_use", "id": f"toolu_{step}", "name": f"tool_{step}",
                                 "input": {"id": f"bay-{step}"}}], "stop_reason": "tool_use"})
        completion = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        assert completion.usage is not None
        assert completion.usage.prompt_tokens_details is not None
        assert completion.usage.prompt_tokens_details.cached_tokens == sim.billed()[-1]["cache_read_input_tokens"]
        reply = completion.choices[0].message
        assert reply.tool_calls
        messages.append(reply.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": reply.tool_calls[0].id, "content": BIG_OUTPUT})

    share = read_share(sim)
    assert share >= 0.80, share
    assert_never_more_than_four(sim)


def test_server_held_history_with_a_resent_system_prompt_reads_from_cache(api: FunctionServer, sim: VertexSimulator,
                                                                          firestore: str) -> None:
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused-locally", max_retries=0, timeout=30)
    session = str(uuid.uuid4())
    for turn in range(10):
        sim.script({"content": [{"type": "text", "text": f"Answer {turn}: " + "noted. " * 40}]})
        # The client resends its system prompt every turn, as many do; the server holds the rest.
        raw = client.chat.completions.with_raw_response.create(
            model=MODEL, tools=TOOLS, messages=[{"role": "system", "content": SYSTEM},
                                                {"role": "user", "content": f"Question {turn}"}],
            extra_body={"session_id": session, "session_history": "server"})
        completion, billed = raw.parse(), sim.billed()[-1]
        assert billed is not None
        assert completion.usage is not None
        assert completion.usage.prompt_tokens_details is not None
        assert completion.usage.prompt_tokens_details.cached_tokens == billed["cache_read_input_tokens"]
        logged = api.request_log(raw.headers["X-Request-Id"])["usage"]
        assert logged["prompt_tokens_details"] == {"cached_tokens": billed["cache_read_input_tokens"],
                                                   "cache_write_tokens": billed["cache_creation_input_tokens"]}

    stored = requests.get(f"{api.url}/v1/sessions/{session}/messages", timeout=10).json()["data"]
    replies = [m["usage"] for m in stored if m["role"] == "assistant"]
    assert [(u["cache_read_input_tokens"], u["cache_creation_input_tokens"]) for u in replies] == [
        (b["cache_read_input_tokens"], b["cache_creation_input_tokens"]) for b in sim.billed() if b]

    last = generate_requests(sim)[-1]["body"]
    assert len(last["system"]) == 1, "the resent system prompt was stored and hoisted again"
    assert len(last["messages"]) == 19
    share = read_share(sim)
    assert share >= 0.80, share


def test_a_short_conversation_carries_no_breakpoints(client: openai.OpenAI, sim: VertexSimulator) -> None:
    client.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": "Be brief."},
                                                          {"role": "user", "content": "Hi"}])

    body = generate_requests(sim)[-1]["body"]
    assert markers(body) == []


def test_explicit_cache_control_arrives_on_the_blocks_the_client_marked(client: openai.OpenAI,
                                                                        sim: VertexSimulator) -> None:
    hour = {"type": "ephemeral", "ttl": "1h"}
    tools = [{**TOOLS[0], "cache_control": hour}, *TOOLS[1:3]]
    messages: list[Any] = [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM, "cache_control": hour}]},
        {"role": "user", "content": [{"type": "text", "text": "Context: " + BIG_OUTPUT,
                                      "cache_control": {"type": "ephemeral"}},
                                     {"type": "text", "text": "Question?"}]},
    ]
    client.chat.completions.create(model=MODEL, messages=messages, tools=tools)  # type: ignore[arg-type]

    body = generate_requests(sim)[-1]["body"]
    assert body["tools"][0]["cache_control"] == hour
    assert body["system"][0]["cache_control"] == hour
    assert body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    # One slot was left: the automatic breakpoint takes the end of the conversation.
    assert body["messages"][0]["content"][1]["cache_control"] == {"type": "ephemeral"}
    assert len(markers(body)) == 4
    assert sim.billed()[-1]["cache_creation"]["ephemeral_1h_input_tokens"] > 6000


def test_a_message_level_cache_control_marks_the_messages_last_block(client: openai.OpenAI,
                                                                     sim: VertexSimulator) -> None:
    messages: list[Any] = [{"role": "system", "content": SYSTEM, "cache_control": {"type": "ephemeral"}},
                           {"role": "user", "content": "Hi"}]
    client.chat.completions.create(model=MODEL, messages=messages)

    body = generate_requests(sim)[-1]["body"]
    assert body["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]


@pytest.mark.parametrize("control", [{"type": "persistent"}, {"type": "ephemeral", "ttl": "2h"}])
def test_a_malformed_cache_control_is_a_400_naming_it(client: openai.OpenAI, sim: VertexSimulator,
                                                      control: dict[str, str]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": control}]}])  # type: ignore

    assert caught.value.body is not None
    assert str(caught.value.body["param"]).startswith("messages[0].content[0].cache_control")  # type: ignore[index]
    assert generate_requests(sim) == []


def test_prompt_caching_off_sends_only_the_clients_breakpoints(start_function: Any, sim: VertexSimulator) -> None:
    server = start_function(PROMPT_CACHING="off")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused-locally", max_retries=0, timeout=30)
    client.chat.completions.create(model=MODEL, tools=TOOLS, messages=[{"role": "system", "content": SYSTEM},
                                                                       {"role": "user", "content": "Hi"}])

    assert markers(generate_requests(sim)[-1]["body"]) == []


def test_a_client_adding_a_system_note_every_turn_keeps_tools_and_its_system_prompt_cached(
        client: openai.OpenAI, sim: VertexSimulator) -> None:
    history: list[Any] = [{"role": "system", "content": SYSTEM}]
    for turn in range(10):
        sim.script({"content": [{"type": "text", "text": f"Answer {turn}: " + "all checked. " * 40}]})
        history.append({"role": "user", "content": f"Question {turn}"})
        # A note that changes every turn (the time, retrieved context...), hoisted into Claude's system.
        note = {"role": "system", "content": f"Note: it is now 10:{turn:02d}."}
        completion = client.chat.completions.create(model=MODEL, tools=TOOLS, messages=[*history[:-1], note,
                                                                                        history[-1]])
        history.append({"role": "assistant", "content": completion.choices[0].message.content})

    billed = [u for u in sim.billed() if u][1:]
    stable_prefix = sum(r["cache"]["breakpoints"] != [] for r in generate_requests(sim))
    assert stable_prefix == 10
    # Every later turn reads at least the tools and the system prompt (about 7,000 tokens)...
    assert all(u["cache_read_input_tokens"] >= 6500 for u in billed), billed
    # ...and rewrites the conversation after them, which the changed system invalidates.
    assert all(u["cache_creation_input_tokens"] > 0 for u in billed)
    share = read_share(sim)
    assert share >= 0.70, share


# Tools long enough to be cached on their own (Claude caches nothing shorter than the model's minimum).
LONG_TOOLS = [{"type": "function", "function": {**tool["function"], "description": tool["function"]["description"]
                                                 + " Returns id, kind, bay, quantity and last audit date." * 10}}
              for tool in TOOLS]


def test_toggling_json_mode_keeps_the_tools_read_from_cache(client: openai.OpenAI, sim: VertexSimulator) -> None:
    messages: list[Any] = [{"role": "system", "content": SYSTEM}]
    for turn in range(4):
        json_mode = turn % 2 == 1
        reply = '{"ok": true}' if json_mode else "Plain answer."
        content = ([{"type": "tool_use", "id": f"toolu_{turn}", "name": "json_response", "input": {"ok": True}}]
                   if json_mode else [{"type": "text", "text": reply}])
        sim.script({"content": content, "stop_reason": "tool_use" if json_mode else "end_turn"})
        messages.append({"role": "user", "content": f"Question {turn}"})
        client.chat.completions.create(model=MODEL, messages=messages, tools=LONG_TOOLS,  # type: ignore[arg-type]
                                       response_format={"type": "json_object"} if json_mode else None)
        messages.append({"role": "assistant", "content": reply})

    bodies = [r["body"] for r in generate_requests(sim)]
    client_tools = [t["function"]["name"] for t in TOOLS]
    assert all([t["name"] for t in body["tools"]][:12] == client_tools for body in bodies)
    assert all(r["cache"]["breakpoints"][0]["path"] == "tools.11" for r in generate_requests(sim))
    # Each toggle reads at least the client's tools (the entry at tools.11) from cache.
    tools_tokens = sum(estimate_tokens(tool) for tool in bodies[0]["tools"])
    assert all(u["cache_read_input_tokens"] >= tools_tokens for u in sim.billed()[1:] if u)
