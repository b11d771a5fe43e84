"""Property tests: the translation never sends what Claude rejects, and a stream means what the
non-streamed reply means."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.chat_stream import StreamTranslator, assemble
from vertexchat.errors import APIError, InvalidRequestError, UpstreamError
from vertexchat.openai_chat.chunks import encode_sse
from vertexchat.openai_chat.reply import to_openai_completion
from vertexchat.openai_chat.request import JSON_TOOL, ClaudeRequest, to_claude
from vertexchat.openai_chat.schema import parse_chat_request

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLAUDE_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")

# --- OpenAI conversations ----------------------------------------------------------------------------

TEXTS = st.sampled_from(["", " ", "\n\t", "hi", "hi ", " hi\n", "two words  ", "ok"]) | st.text(min_size=1, max_size=6)
ODD_IDS = st.sampled_from(["call_1", "call_2", "call.3", "", "x" * 70, "id with space", "toolu_ok-1", "функция"])
# Mostly valid arguments, so that most conversations get through to the invariants.
ARGUMENTS = st.sampled_from(["", " ", "{}", '{"a": 1}', '{"nested": {"b": [1, 2]}}'] * 10 + ["[1]", "{bad", "null"])
TEXT_PART = st.builds(lambda t: {"type": "text", "text": t}, TEXTS)
IMAGE_PART = st.sampled_from([
    {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="},
    {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,AAAA", "detail": "low"}},
])
PLAIN_CONTENT = TEXTS | st.lists(TEXT_PART, max_size=3)
USER_CONTENT = TEXTS | st.lists(TEXT_PART | IMAGE_PART, max_size=3)
THINKING_BLOCK = st.sampled_from([
    {"type": "thinking", "thinking": "Let me think.", "signature": "c2ln"},
    {"type": "thinking", "thinking": "", "signature": "c2ln"},
    {"type": "redacted_thinking", "data": "b3BhcXVl"},
])
TOOL_CALL = st.builds(lambda call_id, name, arguments: {"id": call_id, "type": "function",
                                                        "function": {"name": name, "arguments": arguments}},
                      ODD_IDS, st.sampled_from(["get_weather", "now"]), ARGUMENTS)


@st.composite
def assistant_messages(draw: st.DrawFn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": draw(st.none() | PLAIN_CONTENT)}
    calls = draw(st.lists(TOOL_CALL, max_size=3))
    if calls:
        message["tool_calls"] = calls
    thinking = draw(st.lists(THINKING_BLOCK, max_size=2))
    if thinking:
        message["thinking_blocks"] = thinking
        message["reasoning_content"] = "ignored"
    return message


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Mostly plausible conversations: tool messages usually answer the last assistant's calls."""
    messages: list[dict[str, Any]] = []
    open_ids: list[str] = []
    for _ in range(draw(st.integers(1, 10))):
        role = draw(st.sampled_from(["system", "developer", "user", "user", "assistant", "assistant", "tool", "tool"]))
        if role == "assistant":
            message = draw(assistant_messages())
            calls = [call["id"] for call in message.get("tool_calls", [])]
            open_ids = calls or ([] if message["content"] else open_ids)
        elif role == "tool" and (open_ids or not draw(st.integers(0, 4))):
            call_id = draw(st.sampled_from(open_ids) if open_ids and draw(st.integers(0, 9)) else ODD_IDS)
            message = {"role": "tool", "tool_call_id": call_id, "content": draw(PLAIN_CONTENT)}
        else:
            role = "user" if role == "tool" else role
            message = {"role": role, "content": draw(USER_CONTENT if role == "user" else PLAIN_CONTENT)}
        messages.append(message)
    return messages


OPTIONS = st.fixed_dictionaries({}, optional={
    "max_completion_tokens": st.integers(1, 40000),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "stop": st.lists(st.sampled_from(["END", " ", "\n", "###"]), max_size=3),
    "tools": st.just([{"type": "function", "function": {"name": "get_weather"}},
                      {"type": "function", "function": {"name": "now", "parameters": {}}}]),
    "tool_choice": st.sampled_from(["auto", "none", "required", {"type": "function", "function": {"name": "now"}}]),
    "parallel_tool_calls": st.booleans(),
    "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"},
                                        {"type": "json_schema", "json_schema": {"name": "r", "schema": {
                                            "type": "object", "properties": {"a": {"type": "integer"}}}}}]),
    "reasoning_effort": st.sampled_from(["none", "minimal", "low", "medium", "high"]),
    "thinking": st.sampled_from([{"type": "disabled"}] + [{"type": "enabled", "budget_tokens": n}
                                                          for n in (500, 1024, 9000)]),
    "user": st.sampled_from(["u1", "u" * 300]),
})


@PROPERTY
@given(messages=conversations(), options=OPTIONS)
def test_translation_never_sends_what_claude_rejects(messages: list[dict[str, Any]], options: dict[str, Any]) -> None:
    try:
        request = to_claude(parse_chat_request({"model": "claude", "messages": messages, **options}),
                            default_max_tokens=4096)
    except InvalidRequestError:
        return
    check_messages(request.body["messages"])
    check_system(request.body.get("system", []))
    check_options(request)


def check_messages(messages: list[dict[str, Any]]) -> None:
    assert messages
    assert messages[0]["role"] == "user"
    seen_tool_ids: set[str] = set()
    for k, message in enumerate(messages):
        assert message["content"], "every message has content"
        if k:
            assert message["role"] != messages[k - 1]["role"], "roles alternate"
        for block in message["content"]:
            check_text(block)
            for inner in block.get("content", []) if block["type"] == "tool_result" else []:
                check_text(inner)
        if message["role"] == "assistant":
            check_assistant(message, messages[k + 1] if k + 1 < len(messages) else None, seen_tool_ids)
        else:
            check_user(message, messages[k - 1] if k else None)
    last = messages[-1]
    if last["role"] == "assistant" and last["content"][-1]["type"] == "text":
        assert last["content"][-1]["text"] == last["content"][-1]["text"].rstrip()


def check_text(block: dict[str, Any]) -> None:
    if block["type"] == "text":
        assert block["text"].strip(), "no empty or whitespace-only text block"


def check_assistant(message: dict[str, Any], following: dict[str, Any] | None, seen: set[str]) -> None:
    kinds = [block["type"] for block in message["content"]]
    thinking = [k for k in kinds if k in ("thinking", "redacted_thinking")]
    assert kinds[:len(thinking)] == thinking, "thinking comes first"
    ids = [block["id"] for block in message["content"] if block["type"] == "tool_use"]
    for tool_id in ids:
        assert CLAUDE_ID.fullmatch(tool_id)
        assert tool_id not in seen, "tool_use ids are unique"
        seen.add(tool_id)
    if ids:
        assert following is not None, "every tool_use is answered"
        answered = [b["tool_use_id"] for b in following["content"] if b["type"] == "tool_result"]
        assert sorted(answered) == sorted(ids)


def check_user(message: dict[str, Any], previous: dict[str, Any] | None) -> None:
    kinds = [block["type"] for block in message["content"]]
    results = kinds.count("tool_result")
    assert kinds[:results] == ["tool_result"] * results, "tool results come first"
    if results:
        assert previous is not None
        called = {block["id"] for block in previous["content"] if block["type"] == "tool_use"}
        answered = [b["tool_use_id"] for b in message["content"] if b["type"] == "tool_result"]
        assert set(answered) <= called
        assert len(answered) == len(set(answered))


def check_system(system: list[dict[str, Any]]) -> None:
    for block in system:
        check_text(block)


def check_options(request: ClaudeRequest) -> None:
    body = request.body
    assert body["max_tokens"] >= 1
    assert not ("temperature" in body and "top_p" in body)
    assert body.get("temperature", 0) <= 1
    if "thinking" in body:
        assert 1024 <= body["thinking"]["budget_tokens"] < body["max_tokens"]
        assert body.get("temperature", 1) == 1
        assert body.get("tool_choice", {}).get("type") not in ("any", "tool")
    assert all(s.strip() for s in body.get("stop_sequences", []))
    assert len(body.get("metadata", {}).get("user_id", "")) <= 256
    names = [tool["name"] for tool in body.get("tools", [])]
    assert len(names) == len(set(names))
    if request.json_mode:
        assert request.json_tool in names
    if "tool_choice" in body:
        assert names
        if body["tool_choice"]["type"] == "tool":
            assert body["tool_choice"]["name"] in names


# --- Claude streams ---------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=4),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                       max_size=3),
                           max_leaves=6)
INPUTS = st.dictionaries(st.text(max_size=4), JSON_VALUES, max_size=3)
STOP_REASONS = st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
                                "model_context_window_exceeded", "brand_new", None])


def pieces(text: str, cuts: list[int]) -> list[str]:
    points = sorted({min(c, len(text)) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@st.composite
def block_events(draw: st.DrawFn, index: int, kind: str) -> list[dict[str, Any]]:
    cuts = draw(st.lists(st.integers(0, 60), max_size=5))

    def deltas(delta_type: str, field: str, text: str) -> list[dict[str, Any]]:
        return [{"type": "content_block_delta", "index": index, "delta": {"type": delta_type, field: part}}
                for part in pieces(text, cuts)]

    if kind == "text":
        opening, events = {"type": "text", "text": ""}, deltas("text_delta", "text", draw(st.text(max_size=30)))
    elif kind == "thinking":
        opening = {"type": "thinking", "thinking": "", "signature": ""}
        events = deltas("thinking_delta", "thinking", draw(st.text(max_size=30)))
        if draw(st.integers(0, 4)):  # Claude always signs; a missing signature must not break the fold
            events.append({"type": "content_block_delta", "index": index,
                           "delta": {"type": "signature_delta", "signature": draw(st.sampled_from(["c2ln", "ZZ=="]))}})
    elif kind == "redacted_thinking":
        opening, events = {"type": "redacted_thinking", "data": "b3BhcXVl"}, []
    else:
        tool_input = draw(INPUTS)
        raw = json.dumps(tool_input, ensure_ascii=draw(st.booleans()),
                         separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
        if tool_input == {} and draw(st.booleans()):
            raw = ""
        name = JSON_TOOL if kind == "json" else draw(st.sampled_from(["get_weather", "now"]))
        opening = {"type": "tool_use", "id": f"toolu_{index:02d}", "name": name, "input": {}}
        events = deltas("input_json_delta", "partial_json", raw)
    return [{"type": "content_block_start", "index": index, "content_block": opening}, *events,
            {"type": "content_block_stop", "index": index}]


@st.composite
def claude_streams(draw: st.DrawFn, *, json_mode: bool) -> list[dict[str, Any]]:
    if json_mode:  # Claude answers through the tool: thinking, then at most one JSON tool (and client tools)
        kinds = draw(st.lists(st.sampled_from(["thinking", "redacted_thinking"]), max_size=2))
        kinds += draw(st.lists(st.sampled_from(["json", "tool"]), max_size=2, unique=True))
    else:
        kinds = draw(st.lists(st.sampled_from(["text", "thinking", "redacted_thinking", "tool"]), max_size=5))
    usage = {"input_tokens": draw(st.integers(0, 10**6)), "output_tokens": draw(st.integers(0, 5))}
    usage.update(draw(st.fixed_dictionaries({}, optional={
        "cache_read_input_tokens": st.integers(0, 10**6),
        "cache_creation_input_tokens": st.integers(0, 10**5) | st.none()})))
    events: list[dict[str, Any]] = [{"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": usage}}]
    for index, kind in enumerate(kinds):
        events += draw(block_events(index, kind))
    final_usage = {"output_tokens": draw(st.integers(0, 10**5))}
    final_usage.update(draw(st.fixed_dictionaries({}, optional={
        "cache_read_input_tokens": st.integers(0, 99) | st.none(), "input_tokens": st.integers(0, 99)})))
    events += [{"type": "message_delta", "delta": {"stop_reason": draw(STOP_REASONS), "stop_sequence": None},
                "usage": final_usage}, {"type": "message_stop"}]
    for position in draw(st.lists(st.integers(1, len(events) - 1), max_size=3)):
        events.insert(position, {"type": "ping"})
    return events


REQUEST = to_claude(parse_chat_request({"model": "claude", "messages": [{"role": "user", "content": "Hi"}]}),
                    default_max_tokens=4096)
JSON_REQUEST = to_claude(parse_chat_request({"model": "claude", "messages": [{"role": "user", "content": "Hi"}],
                                             "response_format": {"type": "json_object"}}), default_max_tokens=4096)


def replay(request: ClaudeRequest, events: list[dict[str, Any]]) -> tuple[StreamTranslator, list[dict[str, Any]]]:
    translator = StreamTranslator(request, "chatcmpl-1", 1, "claude", include_usage=True)
    chunks = [chunk for event in events for chunk in translator.feed(event)]
    return translator, chunks + translator.finish()


def normalised(completion: dict[str, Any], *, json_mode: bool) -> dict[str, Any]:
    message = dict(completion["choices"][0]["message"])
    if json_mode and message["content"] is not None:
        message["content"] = json.loads(message["content"])
    for call in message.get("tool_calls", []):
        call["function"] = {**call["function"], "arguments": json.loads(call["function"]["arguments"])}
    return {"message": message, "finish_reason": completion["choices"][0]["finish_reason"],
            "usage": completion["usage"]}


@PROPERTY
@given(data=st.data(), json_mode=st.booleans())
def test_stream_assembles_to_the_non_streamed_completion(data: st.DataObject, json_mode: bool) -> None:
    request = JSON_REQUEST if json_mode else REQUEST
    translator, chunks = replay(request, data.draw(claude_streams(json_mode=json_mode)))
    for chunk in chunks:
        encode_sse(chunk)  # every chunk is JSON-serialisable
    completion = to_openai_completion(translator.message, json_tool=request.json_tool,
                                      completion_id="chatcmpl-1", created=1,
                                      model="claude")
    assert normalised(assemble(chunks), json_mode=json_mode) == normalised(completion, json_mode=json_mode)
    assert all(call["function"]["name"] != JSON_TOOL
               for call in completion["choices"][0]["message"].get("tool_calls", []))


@PROPERTY
@given(data=st.data(), json_mode=st.booleans())
def test_truncated_stream_fails_and_feed_raises_only_our_errors(data: st.DataObject, json_mode: bool) -> None:
    request = JSON_REQUEST if json_mode else REQUEST
    events = data.draw(claude_streams(json_mode=json_mode))
    cut = data.draw(st.integers(0, len(events) - 1))  # drops message_stop at least
    events = events[:cut]
    if data.draw(st.booleans()):
        events.append({"type": "error", "error": {"type": data.draw(st.sampled_from(
            ["overloaded_error", "api_error", "rate_limit_error", "weird_error"])), "message": "boom"}})
    translator = StreamTranslator(request, "chatcmpl-1", 1, "claude", include_usage=True)
    try:
        for event in events:
            translator.feed(event)
    except APIError:
        return
    try:
        translator.finish()
    except UpstreamError:
        assert not translator.saw_message_stop
        assert isinstance(translator.message["content"], list)  # still readable, to store a partial reply
        return
    raise AssertionError("a stream without message_stop finished normally")
