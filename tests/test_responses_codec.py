"""The Responses codec's pure parts: request parsing, items -> chat messages, params, the response, the events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vertexchat.errors import InvalidRequestError, NotFoundError, UpstreamError
from vertexchat.fold import MessageFold
from vertexchat.openai_responses import items
from vertexchat.openai_responses.events import ResponsesStream, replay_events
from vertexchat.openai_responses.reply import ResponseBuilder, usage
from vertexchat.openai_responses.request import claude_request, conversation
from vertexchat.openai_responses.schema import parse_responses_request

MODEL = "claude-sonnet-4-5"


def claude_body(body: dict[str, Any], history: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    request = parse_responses_request({"model": MODEL, **body})
    named, _ = items.with_ids(request.input)
    return claude_request(conversation(request, named, history, "previous_response_id"),
                          default_max_tokens=1000).body


@pytest.mark.parametrize(("body", "param"), [
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "name": "bad name"}]}, "tools[0].name"),
    ({"tool_choice": {"type": "file_search"}}, "tool_choice.type"),
    ({"background": True}, "background"),
    ({"truncation": "auto"}, "truncation"),
    ({"include": ["file_search_call.results"]}, "include[0]"),
    ({"reasoning": {"effort": "extreme"}}, "reasoning.effort"),
    ({"text": {"format": {"type": "json_schema"}}}, "text.format.schema"),
    ({"input": [{"type": "web_search_call"}]}, "input[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input[0].content[0].type"),
    ({"input": [{"type": "function_call_output", "call_id": "nope", "output": "x"}]}, "input[0].call_id"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1"}]}, "input[0].arguments"),
    ({"input": [{"type": "reasoning", "summary": [], "encrypted_content": "forged"}]},
     "input[0].encrypted_content"),
    ({"input": []}, "input"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
])
def test_unsupported_or_bad_fields_are_a_400_naming_the_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        claude_body({"input": "hi", **body})
    assert caught.value.param == param


def test_items_become_the_claude_conversation_the_chat_codec_would_send() -> None:
    body = claude_body({
        "instructions": "Be brief.",
        "input": [{"role": "developer", "content": "Use metric units."},
                  {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
                  {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                  {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"c\":1}"},
                  {"type": "function_call_output", "call_id": "call_1", "output": "Sunny"}],
        "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "get_weather"}, "parallel_tool_calls": False,
        "temperature": 1.7, "safety_identifier": "user-7"})

    assert body["system"] == [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use metric units."}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": "call_1", "name": "get_weather",
                                           "input": {"c": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                                      "content": [{"type": "text", "text": "Sunny"}]}]},
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}
    assert body["temperature"] == 1.0  # clamped as for chat
    assert body["metadata"] == {"user_id": "user-7"}


def test_reasoning_effort_turns_thinking_on_and_encrypted_content_round_trips() -> None:
    body = claude_body({"input": "think", "reasoning": {"effort": "medium"}, "max_output_tokens": 8000})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}

    block = {"type": "thinking", "thinking": "Hmm.", "signature": "sig-1"}
    builder = ResponseBuilder(model=MODEL, echo={}, json_tool=None, encrypted_reasoning=True)
    [reasoning] = builder.output([block])
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Hmm."}]
    resent = claude_body({"input": [{"role": "user", "content": "q"}, reasoning,
                                    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                                    {"type": "function_call_output", "call_id": "c1", "output": "ok"}]})
    assert resent["messages"][1]["content"][0] == block


def test_history_errors_name_previous_response_id() -> None:
    history = ({"role": "tool", "tool_call_id": "ghost", "content": "x"},)
    with pytest.raises(InvalidRequestError) as caught:
        claude_body({"input": "next"}, history)
    assert caught.value.param == "previous_response_id"


def test_item_references_resolve_or_are_a_404() -> None:
    found = {"msg_1": {"id": "msg_1", "type": "message", "role": "assistant",
                       "content": [{"type": "output_text", "text": "Hi"}]}}
    given = ({"type": "item_reference", "id": "msg_1"}, {"type": "item_reference", "id": "msg_2"})

    assert items.references(given) == [("input[0].id", "msg_1"), ("input[1].id", "msg_2")]
    assert items.resolved(given[:1], found) == (found["msg_1"],)
    with pytest.raises(NotFoundError) as caught:
        items.resolved(given, found)
    assert caught.value.param == "input[1].id"


def test_usage_counts_cached_tokens_as_input() -> None:
    assert usage({"input_tokens": 10, "cache_read_input_tokens": 90, "cache_creation_input_tokens": 5,
                  "output_tokens": 7}) == {
        "input_tokens": 105, "input_tokens_details": {"cached_tokens": 90, "cache_write_tokens": 5}, "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 112}


def test_max_tokens_is_an_incomplete_response() -> None:
    builder = ResponseBuilder(model=MODEL, echo={}, json_tool=None, encrypted_reasoning=False)
    body = builder.response({"content": [{"type": "text", "text": "cut"}], "stop_reason": "max_tokens"})
    assert (body["status"], body["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})


def events_of(stream: ResponsesStream, claude: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fold = MessageFold()
    raw = b""
    for event in claude:
        raw += stream.event(event, fold.feed(event), fold)
    raw += stream.end(fold)
    return [json.loads(chunk.split(b"\ndata: ", 1)[1]) for chunk in raw.split(b"\n\n") if chunk]


START = {"type": "message_start", "message": {"id": "m", "role": "assistant", "content": [], "usage": {}}}
STOP = [{"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"}]


def test_the_stream_names_every_item_and_numbers_every_event() -> None:
    builder = ResponseBuilder(model=MODEL, echo={}, json_tool=None, encrypted_reasoning=False)
    events = events_of(ResponsesStream(builder), [
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}},
        {"type": "content_block_stop", "index": 1}, *STOP])

    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    assert [item["id"] for item in final["output"]] == [events[2]["item"]["id"], events[8]["item"]["id"]]
    assert events[11]["arguments"] == "{\"a\":1}"
    assert events[9]["output_index"] == 1
    # A stored reply replays as a stream that ends with the same response.
    replayed = [json.loads(c.split(b"\ndata: ", 1)[1]) for c in replay_events(final)]
    assert replayed[-1]["response"] == final


def test_an_error_after_the_start_is_an_error_event_then_response_failed() -> None:
    builder = ResponseBuilder(model=MODEL, echo={}, json_tool=None, encrypted_reasoning=False)
    stream = ResponsesStream(builder)
    fold = MessageFold()
    stream.event(START, fold.feed(START), fold)

    tail = [json.loads(c.split(b"\ndata: ", 1)[1]) for c in
            stream.error(UpstreamError("Vertex failed.")).split(b"\n\n") if c]

    assert [e["type"] for e in tail] == ["error", "response.failed"]
    assert tail[0]["message"] == "Vertex failed."
    assert tail[1]["response"]["status"] == "failed"
    assert tail[1]["response"]["error"]["message"] == "Vertex failed."
    assert tail[1]["sequence_number"] == 3


def test_resent_output_items_merge_into_one_assistant_message_and_errors_name_the_item() -> None:
    output = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
              {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
              {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{\"x\":1}"}]
    messages, _ = items.chat_messages(({"role": "user", "content": "q"}, *output))

    assert messages[1] == {"role": "assistant", "content": [{"type": "text", "text": "Checking."}],
                           "tool_calls": [{"id": "c1", "type": "function",
                                           "function": {"name": "f", "arguments": "{}"}},
                                          {"id": "c2", "type": "function",
                                           "function": {"name": "f", "arguments": "{\"x\":1}"}}]}
    broken = [*output[:2], {**output[2], "arguments": "not json"}]
    with pytest.raises(InvalidRequestError) as caught:
        claude_body({"input": [{"role": "user", "content": "q"}, *broken]})
    assert caught.value.param == "input[3].arguments"


def test_input_images_are_data_urls_sent_as_base64_blocks() -> None:
    pixel = "iVBORw0KGgo="
    body = claude_body({"input": [{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": f"data:image/png;base64,{pixel}"}]}]})

    assert body["messages"][0]["content"][1] == {"type": "image", "source": {"type": "base64",
                                                                             "media_type": "image/png",
                                                                             "data": pixel}}
    with pytest.raises(InvalidRequestError) as caught:
        claude_body({"input": [{"role": "user", "content": [{"type": "input_image",
                                                             "image_url": "data:text/plain;base64,aGk="}]}]})
    assert caught.value.param == "input[0].content[0].image_url"
