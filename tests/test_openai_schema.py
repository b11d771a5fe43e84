from __future__ import annotations

from typing import Any

import pytest

from vertexchat.errors import InvalidRequestError
from vertexchat.openai_chat.schema import ChatRequest, image_url_of, parse_chat_request

USER = {"role": "user", "content": "Hi"}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "messages": [USER], **fields}


def param_of(raw: object) -> str | None:
    with pytest.raises(InvalidRequestError) as info:
        parse_chat_request(raw)
    assert info.value.status == 400
    return info.value.param


def test_minimal_request_has_defaults() -> None:
    req = parse_chat_request(body())
    assert req == ChatRequest(model="claude-sonnet-4-5", messages=(USER,))
    assert req.stream is False
    assert req.include_usage is False
    assert req.max_tokens is None


def test_unknown_fields_and_nulls_are_ignored() -> None:
    req = parse_chat_request(body(seed=7, frequency_penalty=0.5, store=True, temperature=None, stop=None,
                                  tools=None, logprobs=False, n=1, reasoning_content=None))
    assert req.temperature is None
    assert req.stop == ()
    assert req.tools == ()


def test_full_request_is_parsed() -> None:
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                             "parameters": {"type": "object", "properties": {}}, "strict": True}}
    req = parse_chat_request(body(
        stream=True, stream_options={"include_usage": True}, max_tokens=100, temperature=1.5, top_p=0.5,
        stop=["END"], tools=[tool], tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False, response_format={"type": "json_object"}, reasoning_effort="low",
        thinking={"type": "enabled", "budget_tokens": 2048}, user="u-1", metadata={"k": "v"}, session_id="s-1",
    ))
    assert req.stream is True
    assert req.include_usage is True
    assert (req.max_tokens, req.max_tokens_param) == (100, "max_tokens")
    assert (req.temperature, req.top_p) == (1.5, 0.5)
    assert req.stop == ("END",)
    assert req.tools == (tool,)
    assert req.tool_choice == {"type": "function", "function": {"name": "get_weather"}}
    assert req.parallel_tool_calls is False
    assert req.response_format == {"type": "json_object"}
    assert req.reasoning_effort == "low"
    assert req.thinking == {"type": "enabled", "budget_tokens": 2048}
    assert (req.user, req.metadata, req.session_id) == ("u-1", {"k": "v"}, "s-1")


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    req = parse_chat_request(body(max_tokens=10, max_completion_tokens=20))
    assert (req.max_tokens, req.max_tokens_param) == (20, "max_completion_tokens")


def test_integral_float_counts_as_integer() -> None:
    assert parse_chat_request(body(max_completion_tokens=256.0)).max_tokens == 256


def test_stop_string_becomes_tuple() -> None:
    assert parse_chat_request(body(stop="###")).stop == ("###",)


def test_messages_are_kept_as_plain_dicts() -> None:
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "Be terse."}]},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA",
                                                                         "detail": "low"}},
                                     {"type": "image_url", "image_url": "https://example.com/cat.png"}]},
        {"role": "assistant", "content": None, "reasoning_content": "hmm",
         "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "sig"},
                             {"type": "redacted_thinking", "data": "opaque"}],
         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "42"}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
    ]
    req = parse_chat_request(body(messages=messages))
    assert list(req.messages) == messages
    assert req.messages[1]["content"][1] is messages[1]["content"][1]


@pytest.mark.parametrize(("part", "url"), [
    ({"type": "image_url", "image_url": {"url": "https://x/y.png"}}, "https://x/y.png"),
    ({"type": "image_url", "image_url": "https://x/z.png"}, "https://x/z.png"),
])
def test_image_url_of_accepts_object_or_bare_string(part: dict[str, Any], url: str) -> None:
    assert image_url_of(part) == url


@pytest.mark.parametrize(("raw", "param"), [
    ([], None),
    (body(model=None), "model"),
    (body(model=""), "model"),
    (body(model=3), "model"),
    ({"model": "m"}, "messages"),
    (body(messages=[]), "messages"),
    (body(messages="hi"), "messages"),
    (body(messages=["hi"]), "messages[0]"),
    (body(messages=[USER, {"role": "robot", "content": "x"}]), "messages[1].role"),
    (body(messages=[{"role": "function", "name": "f", "content": "x"}]), "messages[0].role"),
    (body(messages=[{"role": "user"}]), "messages[0].content"),
    (body(messages=[{"role": "user", "content": None}]), "messages[0].content"),
    (body(messages=[{"role": "system", "content": 5}]), "messages[0].content"),
    (body(messages=[{"role": "user", "content": ["hi"]}]), "messages[0].content[0]"),
    (body(messages=[{"role": "user", "content": [{"type": "text"}]}]), "messages[0].content[0].text"),
    (body(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]),
     "messages[0].content[0].type"),
    (body(messages=[{"role": "system", "content": [{"type": "image_url", "image_url": "https://x"}]}]),
     "messages[0].content[0].type"),
    (body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": ""}}]}]),
     "messages[0].content[0].image_url.url"),
    (body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": 7}]}]),
     "messages[0].content[0].image_url"),
    (body(messages=[{"role": "assistant", "tool_calls": "x"}]), "messages[0].tool_calls"),
    (body(messages=[{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]),
     "messages[0].tool_calls[0].id"),
    (body(messages=[{"role": "assistant", "tool_calls": [{"id": "c", "type": "custom",
                                                          "function": {"name": "f"}}]}]),
     "messages[0].tool_calls[0].type"),
    (body(messages=[{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": ""}}]}]),
     "messages[0].tool_calls[0].function.name"),
    (body(messages=[{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}]),
     "messages[0].tool_calls[0].function.arguments"),
    (body(messages=[{"role": "assistant", "thinking_blocks": [{"type": "thinking", "thinking": "x"}]}]),
     "messages[0].thinking_blocks[0].signature"),
    (body(messages=[{"role": "assistant", "thinking_blocks": [{"type": "redacted_thinking"}]}]),
     "messages[0].thinking_blocks[0].data"),
    (body(messages=[{"role": "assistant", "thinking_blocks": [{"type": "text", "text": "x"}]}]),
     "messages[0].thinking_blocks[0].type"),
    (body(messages=[{"role": "tool", "content": "42"}]), "messages[0].tool_call_id"),
    (body(messages=[{"role": "tool", "tool_call_id": "c"}]), "messages[0].content"),
    (body(stream="yes"), "stream"),
    (body(stream_options=True), "stream_options"),
    (body(stream_options={"include_usage": "yes"}), "stream_options.include_usage"),
    (body(max_tokens=0), "max_tokens"),
    (body(max_completion_tokens=-5), "max_completion_tokens"),
    (body(max_completion_tokens=1.5), "max_completion_tokens"),
    (body(max_completion_tokens=True), "max_completion_tokens"),
    (body(temperature=2.5), "temperature"),
    (body(temperature=-0.1), "temperature"),
    (body(temperature="hot"), "temperature"),
    (body(temperature=True), "temperature"),
    (body(temperature=float("nan")), "temperature"),
    (body(top_p=1.1), "top_p"),
    (body(stop=5), "stop"),
    (body(stop=["a", 1]), "stop"),
    (body(stop=[str(i) for i in range(17)]), "stop"),
    (body(n=2), "n"),
    (body(n=True), "n"),
    (body(logprobs=True), "logprobs"),
    (body(tools={}), "tools"),
    (body(tools=[{"type": "code_interpreter"}]), "tools[0].type"),
    (body(tools=[{"type": "function"}]), "tools[0].function"),
    (body(tools=[{"type": "function", "function": {"name": "has space"}}]), "tools[0].function.name"),
    (body(tools=[{"type": "function", "function": {"name": "x" * 65}}]), "tools[0].function.name"),
    (body(tools=[{"type": "function", "function": {"name": "f", "description": 3}}]),
     "tools[0].function.description"),
    (body(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
     "tools[0].function.parameters"),
    (body(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]),
     "tools[0].function.parameters"),
    (body(tools=[{"type": "function", "function": {"name": "f", "strict": "yes"}}]),
     "tools[0].function.strict"),
    (body(tools=[{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]),
     "tools[1].function.name"),
    (body(tool_choice="any"), "tool_choice"),
    (body(tool_choice={"type": "function"}), "tool_choice"),
    (body(parallel_tool_calls="no"), "parallel_tool_calls"),
    (body(response_format="json"), "response_format"),
    (body(response_format={"type": "xml"}), "response_format.type"),
    (body(response_format={}), "response_format.type"),
    (body(response_format={"type": "json_schema"}), "response_format.json_schema"),
    (body(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": "s"}}),
     "response_format.json_schema.schema"),
    (body(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "array"}}}),
     "response_format.json_schema.schema"),
    (body(response_format={"type": "json_schema", "json_schema": {"name": 1}}), "response_format.json_schema.name"),
    (body(reasoning_effort="max"), "reasoning_effort"),
    (body(thinking={"type": "on"}), "thinking.type"),
    (body(thinking={"type": "enabled"}), "thinking.budget_tokens"),
    (body(thinking={"type": "enabled", "budget_tokens": "lots"}), "thinking.budget_tokens"),
    (body(user=42), "user"),
    (body(metadata={"k": 1}), "metadata"),
    (body(metadata=[]), "metadata"),
    (body(session_id=1), "session_id"),
])
def test_bad_field_is_a_400_naming_it(raw: object, param: str | None) -> None:
    assert param_of(raw) == param


def test_error_message_names_the_problem() -> None:
    with pytest.raises(InvalidRequestError, match="not supported"):
        parse_chat_request(body(logprobs=True))
    with pytest.raises(InvalidRequestError, match="n=1"):
        parse_chat_request(body(n=3))


def test_assistant_content_may_be_null_but_user_content_may_not() -> None:
    parse_chat_request(body(messages=[USER, {"role": "assistant", "content": None}]))
    parse_chat_request(body(messages=[USER, {"role": "assistant"}]))
    assert param_of(body(messages=[{"role": "user", "content": None}])) == "messages[0].content"
