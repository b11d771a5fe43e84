from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.chat_stream import StreamTranslator, assemble
from vertexchat.errors import APIError, OverloadedError, RateLimitError, UpstreamError
from vertexchat.openai_chat.chunks import HEARTBEAT, SSE_DONE, ChatStream, encode_sse
from vertexchat.openai_chat.reply import to_openai_completion
from vertexchat.openai_chat.request import JSON_TOOL, ClaudeRequest, to_claude
from vertexchat.openai_chat.schema import parse_chat_request

FIXTURES = Path(__file__).parent / "fixtures"


def read_sse(name: str) -> list[dict[str, Any]]:
    """Replay a recorded Claude stream: the JSON of each ``data:`` line, in order."""
    events = []
    for frame in (FIXTURES / name).read_text(encoding="utf-8").split("\n\n"):
        data = [line[len("data: "):] for line in frame.splitlines() if line.startswith("data: ")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


def claude_request(**fields: Any) -> ClaudeRequest:
    raw = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}], **fields}
    return to_claude(parse_chat_request(raw), default_max_tokens=4096)


def translator(request: ClaudeRequest | None = None, include_usage: bool = False) -> StreamTranslator:
    return StreamTranslator(request or claude_request(), "chatcmpl-1", 1700000000, "claude-sonnet-4-5", include_usage)


def run(events: list[dict[str, Any]], t: StreamTranslator | None = None) -> list[dict[str, Any]]:
    t = t or translator()
    return [chunk for event in events for chunk in t.feed(event)] + t.finish()


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]


def start(**usage: int) -> dict[str, Any]:
    return {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1, **usage}}}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def end(stop_reason: str = "end_turn", output_tokens: int = 5, **usage: int) -> list[dict[str, Any]]:
    return [{"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
             "usage": {"output_tokens": output_tokens, **usage}},
            {"type": "message_stop"}]


def text_stream(*pieces: str) -> list[dict[str, Any]]:
    return [start(), block_start(0, {"type": "text", "text": ""}),
            *(delta(0, type="text_delta", text=piece) for piece in pieces), block_stop(0), *end()]


# --- the recorded stream -------------------------------------------------------------------------------

def test_recorded_stream_with_thinking_text_and_tool_use() -> None:
    t = translator(claude_request(tools=[{"type": "function", "function": {"name": "get_weather"}}],
                                  reasoning_effort="low"), include_usage=True)
    chunks = run(read_sse("claude_thinking_tool_use.txt"), t)
    signature = "EqQBCkgIARABGAIiQL2mZ3yR0V7dQ1Yk5mP8cX4vN0aFbS9eTg6hJ2uKiLwO3pQrMsGtHyUzVxWjAo=="
    thinking = "The user wants the weather in Paris. I should call get_weather with city=Paris and unit=celsius."
    assert deltas(chunks) == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "The user wants the weather in Paris."},
        {"reasoning_content": " I should call get_weather with city=Paris and unit=celsius."},
        {"thinking_blocks": [{"type": "thinking", "thinking": thinking, "signature": signature}]},
        {"content": "Let me check "},
        {"content": "the weather in Paris for you — één moment."},
        {"tool_calls": [{"index": 0, "id": "toolu_vrtx_01HqL5c3xW9yZ2a7B4n6M8kP", "type": "function",
                         "function": {"name": "get_weather", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'ris", "unit": "cel'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'sius"}'}}]},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2460, "completion_tokens": 87, "total_tokens": 2547,
                                   "prompt_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 0},
                                   "cache_read_input_tokens": 2048, "cache_creation_input_tokens": 0}
    assert t.message["content"] == [
        {"type": "thinking", "thinking": thinking, "signature": signature},
        {"type": "text", "text": "Let me check the weather in Paris for you — één moment."},
        {"type": "tool_use", "id": "toolu_vrtx_01HqL5c3xW9yZ2a7B4n6M8kP", "name": "get_weather",
         "input": {"city": "Paris", "unit": "celsius"}},
    ]
    assert t.message["stop_reason"] == "tool_use"
    completion = to_openai_completion(t.message, json_tool=claude_request().json_tool, completion_id="chatcmpl-1",
                                      created=1700000000, model="claude-sonnet-4-5")
    assert assemble(chunks) == completion


def test_recorded_error_event_raises_the_mapped_error() -> None:
    t = translator()
    events = read_sse("claude_text_overloaded.txt")
    sent = [chunk for event in events[:-1] for chunk in t.feed(event)]
    with pytest.raises(OverloadedError, match="Overloaded"):
        t.feed(events[-1])
    assert deltas(sent)[-1] == {"content": "Once upon"}
    assert t.text == "Once upon"
    assert not t.saw_message_stop


def test_recorded_truncated_stream_is_an_upstream_error() -> None:
    t = translator()
    for event in read_sse("claude_text_truncated.txt"):
        t.feed(event)
    with pytest.raises(UpstreamError):
        t.finish()
    assert t.text == "Hello, wor"
    assert t.message["content"] == [{"type": "text", "text": "Hello, wor"}]


# --- chunk shapes --------------------------------------------------------------------------------------

def test_chunk_envelope_and_first_delta() -> None:
    chunks = translator().feed(start())
    assert chunks == [{
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "claude-sonnet-4-5",
        "system_fingerprint": None,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                     "finish_reason": None}],
        "usage": None,
    }]


def test_each_text_delta_is_sent_as_it_arrives() -> None:
    t = translator()
    t.feed(start())
    t.feed(block_start(0, {"type": "text", "text": ""}))
    assert deltas(t.feed(delta(0, type="text_delta", text="Hel"))) == [{"content": "Hel"}]
    assert deltas(t.feed(delta(0, type="text_delta", text="lo"))) == [{"content": "lo"}]
    assert t.feed(delta(0, type="text_delta", text="")) == []


def test_finish_sends_the_finish_reason_and_no_usage_unless_asked() -> None:
    chunks = run(text_stream("Hi"))
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all(chunk["usage"] is None for chunk in chunks)


def test_include_usage_adds_a_final_usage_chunk() -> None:
    chunks = run(text_stream("Hi"), translator(include_usage=True))
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                                   "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                                   "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
    assert chunks[-1]["object"] == "chat.completion.chunk"


@pytest.mark.parametrize(("stop_reason", "expected"), [
    ("end_turn", "stop"), ("max_tokens", "length"), ("stop_sequence", "stop"), ("refusal", "content_filter"),
    ("pause_turn", "stop"), ("brand_new_reason", "stop"),
])
def test_finish_reason_follows_stop_reason(stop_reason: str, expected: str) -> None:
    events = [start(), block_start(0, {"type": "text", "text": ""}), delta(0, type="text_delta", text="x"),
              block_stop(0), *end(stop_reason)]
    assert run(events)[-1]["choices"][0]["finish_reason"] == expected


def test_thinking_deltas_are_reasoning_content_and_the_signed_block_follows_at_stop() -> None:
    events = [start(), block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
              delta(0, type="thinking_delta", thinking="Let me "), delta(0, type="thinking_delta", thinking="think."),
              delta(0, type="signature_delta", signature="c2lnbmVk"), block_stop(0), *end()]
    assert deltas(run(events))[1:4] == [
        {"reasoning_content": "Let me "}, {"reasoning_content": "think."},
        {"thinking_blocks": [{"type": "thinking", "thinking": "Let me think.", "signature": "c2lnbmVk"}]}]


def test_redacted_thinking_is_sent_whole_at_stop() -> None:
    events = [start(), block_start(0, {"type": "redacted_thinking", "data": "EmwKAhgB"}), block_stop(0), *end()]
    assert deltas(run(events))[1] == {"thinking_blocks": [{"type": "redacted_thinking", "data": "EmwKAhgB"}]}


def test_tool_calls_are_indexed_per_call() -> None:
    events = [start(),
              block_start(0, {"type": "text", "text": ""}), delta(0, type="text_delta", text="Two calls."),
              block_stop(0),
              block_start(1, {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}),
              delta(1, type="input_json_delta", partial_json='{"x":'), delta(1, type="input_json_delta",
                                                                              partial_json=" 1}"),
              block_stop(1),
              block_start(2, {"type": "tool_use", "id": "toolu_b", "name": "g", "input": {}}),
              delta(2, type="input_json_delta", partial_json="{}"), block_stop(2), *end("tool_use")]
    calls = [d["tool_calls"][0] for d in deltas(run(events)) if "tool_calls" in d]
    assert calls == [
        {"index": 0, "id": "toolu_a", "type": "function", "function": {"name": "f", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"x":'}},
        {"index": 0, "function": {"arguments": " 1}"}},
        {"index": 1, "id": "toolu_b", "type": "function", "function": {"name": "g", "arguments": ""}},
        {"index": 1, "function": {"arguments": "{}"}},
    ]


def test_internal_json_tool_streams_as_content() -> None:
    request = claude_request(response_format={"type": "json_object"})
    events = [start(), block_start(0, {"type": "tool_use", "id": "toolu_j", "name": JSON_TOOL, "input": {}}),
              delta(0, type="input_json_delta", partial_json='{"answer": '),
              delta(0, type="input_json_delta", partial_json="42}"), block_stop(0), *end("tool_use")]
    t = translator(request)
    chunks = run(events, t)
    assert deltas(chunks)[1:] == [{"content": '{"answer": '}, {"content": "42}"}, {}]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert t.message["content"][0]["input"] == {"answer": 42}
    assert t.text == '{"answer": 42}'


@pytest.mark.parametrize("event", [
    {"type": "ping"},
    {"type": "some_future_event", "data": 1},
    delta(0, type="citations_delta", citation={"type": "char_location"}),
    delta(0, type="future_delta", x=1),
    delta(7, type="text_delta", text="to a block that never started"),
    block_stop(9),
])
def test_ping_and_unknown_events_send_nothing(event: dict[str, Any]) -> None:
    t = translator()
    t.feed(start())
    t.feed(block_start(0, {"type": "text", "text": ""}))
    assert t.feed(event) == []


def test_unknown_block_types_send_nothing() -> None:
    events = [start(), block_start(0, {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}),
              delta(0, type="input_json_delta", partial_json="{}"), block_stop(0),
              block_start(1, {"type": "text", "text": ""}), delta(1, type="text_delta", text="ok"), block_stop(1),
              *end()]
    assert deltas(run(events)) == [{"role": "assistant", "content": ""}, {"content": "ok"}, {}]


@pytest.mark.parametrize(("error_type", "error_class"), [
    ("overloaded_error", OverloadedError),
    ("rate_limit_error", RateLimitError),
    ("api_error", UpstreamError),
])
def test_error_event_raises_the_classified_error(error_type: str, error_class: type[APIError]) -> None:
    t = translator()
    t.feed(start())
    with pytest.raises(error_class):
        t.feed({"type": "error", "error": {"type": error_type, "message": "boom"}})


def test_content_before_message_start_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError):
        translator().feed(block_start(0, {"type": "text", "text": ""}))


def test_stream_without_message_stop_is_an_error_not_a_stop() -> None:
    t = translator()
    for event in text_stream("Hi")[:-1]:
        t.feed(event)
    with pytest.raises(UpstreamError):
        t.finish()
    assert not t.saw_message_stop


def test_empty_stream_is_an_error() -> None:
    t = translator()
    with pytest.raises(UpstreamError):
        t.finish()
    assert t.message["content"] == []
    assert t.usage is None


# --- the accumulated message ----------------------------------------------------------------------------

def test_message_merges_usage_from_start_and_delta() -> None:
    events = [start(cache_read_input_tokens=100, cache_creation_input_tokens=7),
              block_start(0, {"type": "text", "text": ""}), delta(0, type="text_delta", text="Hi"), block_stop(0),
              {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"},
               "usage": {"output_tokens": 42, "cache_read_input_tokens": None, "input_tokens": 11}},
              {"type": "message_stop"}]
    t = translator()
    run(events, t)
    assert t.saw_message_stop
    assert t.message["usage"] == {"input_tokens": 11, "output_tokens": 42, "cache_read_input_tokens": 100,
                                  "cache_creation_input_tokens": 7}
    assert (t.message["stop_reason"], t.message["stop_sequence"]) == ("stop_sequence", "END")
    assert t.message["id"] == "msg_1"
    assert t.usage == {"prompt_tokens": 118, "completion_tokens": 42, "total_tokens": 160,
                       "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 7},
                       "cache_read_input_tokens": 100, "cache_creation_input_tokens": 7}


def test_message_keeps_partial_tool_input_empty_when_cut() -> None:
    t = translator()
    for event in [start(), block_start(0, {"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}),
                  delta(0, type="input_json_delta", partial_json='{"x": [1, ')]:
        t.feed(event)
    assert t.message["content"] == [{"type": "tool_use", "id": "toolu_a", "name": "f", "input": {}}]


# --- SSE encoding and assembly ---------------------------------------------------------------------------

def test_encode_sse_is_compact_utf8() -> None:
    assert encode_sse({"a": "é", "b": [1, None]}) == 'data: {"a":"é","b":[1,null]}\n\n'.encode()


def test_sse_constants() -> None:
    assert SSE_DONE == b"data: [DONE]\n\n"
    assert HEARTBEAT == b": keep-alive\n\n"


def test_encode_sse_error_is_an_openai_error_payload() -> None:
    raw = ChatStream(json_tool=None, completion_id="c", created=1, model="m", include_usage=False).error(
        OverloadedError("Vertex AI: Overloaded"))
    error, done = raw.split(b"\n\n", 1)
    assert error.startswith(b"data: {")
    assert json.loads(error[len(b"data: "):])["error"]["type"] == "overloaded_error"
    assert done == SSE_DONE


def test_assemble_folds_chunks_into_a_completion() -> None:
    chunks = run(text_stream("Hello", ", ", "world"), translator(include_usage=True))
    completion = assemble(chunks)
    assert completion["object"] == "chat.completion"
    assert completion["id"] == "chatcmpl-1"
    assert completion["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Hello, world"},
                                      "logprobs": None, "finish_reason": "stop"}]
    assert completion["usage"]["total_tokens"] == 15


def test_assemble_merges_tool_calls_by_index() -> None:
    def chunk(delta: dict[str, Any]) -> dict[str, Any]:
        return {"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}

    completion = assemble([
        chunk({"role": "assistant", "content": ""}),
        chunk({"tool_calls": [{"index": 1, "id": "b", "type": "function", "function": {"name": "g"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "a", "type": "function",
                               "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"y"'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": ":2}"}}]}),
    ])
    message = completion["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": '{"y":2}'}},
    ]


def test_tool_call_without_argument_fragments_gets_empty_object_arguments() -> None:
    events = [start(), block_start(0, {"type": "tool_use", "id": "toolu_a", "name": "now", "input": {}}),
              delta(0, type="input_json_delta", partial_json=""), block_stop(0), *end("tool_use")]
    completion = assemble(run(events))
    assert completion["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{}"
