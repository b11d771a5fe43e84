"""The Messages API codec's pure parts: request reading, Vertex bodies, beta values, the stream encoder."""

from __future__ import annotations

import json

import pytest

from vertexchat.anthropic_messages import betas
from vertexchat.anthropic_messages.request import count_tokens_body, encode, generate_body, parse
from vertexchat.anthropic_messages.stream import PING, MessagesStream
from vertexchat.errors import InvalidRequestError, OverloadedError, RateLimitError
from vertexchat.fold import MessageFold
from vertexchat.upstream.sse import sse_raw_events

EPHEMERAL = {"type": "ephemeral"}


def test_parse_reads_model_and_stream_only() -> None:
    request = parse({"model": "claude-haiku-4-5", "stream": True, "messages": [], "whatever": 1})
    assert (request.model, request.stream) == ("claude-haiku-4-5", True)
    assert parse({"model": "m"}).stream is False


@pytest.mark.parametrize(("body", "param"), [
    ([], "body"), ({"messages": []}, "model"), ({"model": " "}, "model"), ({"model": "m", "stream": "yes"}, "stream"),
])
def test_parse_refuses_what_cannot_be_routed(body: object, param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse(body)
    assert caught.value.param == param


def test_generate_body_keeps_everything_in_order_but_model() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "x",
                                                                     "cache_control": EPHEMERAL}]}],
            "system": [{"type": "text", "text": "s", "cache_control": EPHEMERAL}], "max_tokens": 5,
            "anthropic_version": "2023-06-01", "context_management": {"edits": []}, "stream": True}

    sent = generate_body(body)

    assert list(sent) == ["messages", "system", "max_tokens", "context_management", "stream", "anthropic_version"]
    assert sent["anthropic_version"] == "vertex-2023-10-16"
    assert sent["messages"] is body["messages"]
    assert json.loads(encode(sent)) == sent


def test_count_tokens_body_names_the_vertex_model() -> None:
    sent = count_tokens_body({"model": "claude-haiku-4-5", "messages": []}, "claude-haiku-4-5@20251001")
    assert sent == {"model": "claude-haiku-4-5@20251001", "messages": [], "anthropic_version": "vertex-2023-10-16"}


def test_encode_keeps_unicode_as_utf8() -> None:
    assert encode({"t": "héllo ✓"}) == '{"t":"héllo ✓"}'.encode()


def test_betas_are_parsed_split_and_merged_with_the_models_headers() -> None:
    asked = betas.parse(["a-1, b-2", "a-1,c-3", ""])
    assert asked == ["a-1", "b-2", "c-3"]
    assert betas.split(asked, {"b-2"}) == (["a-1", "c-3"], ["b-2"])
    assert betas.headers(["a-1"], {"anthropic-beta": "context-1m-2025-08-07"}) == {
        "anthropic-beta": "context-1m-2025-08-07,a-1"}
    assert betas.headers([], {}) == {}


def test_a_refusal_names_the_values_to_drop() -> None:
    sent = {"anthropic-beta": "a-1,b-2,c-3"}
    message = ("Vertex AI: Unexpected value(s) `b-2`, `zzz` for the `anthropic-beta` header. Please consult our "
               "documentation at docs.anthropic.com or try again without the header.")
    assert betas.refused_in(message, sent) == ["b-2"]
    assert betas.refused_in("messages.0: bad `b-2`", sent) == []
    assert betas.without(sent, ["b-2"]) == {"anthropic-beta": "a-1,c-3"}
    assert betas.without({"anthropic-beta": "b-2"}, ["b-2"]) == {}


STREAM = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message",'
          b'"role":"assistant","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
          b'event: ping\ndata: {"type": "ping"}\n\n'
          b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
          b'"content_block":{"type":"text","text":""}}\n\n'
          b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
          b'"delta":{"type":"text_delta","text":"h\\u00e9"}}\n\n'
          b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
          b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
          b'"usage":{"output_tokens":2}}\n\n'
          b'event: message_stop\ndata: {"type":"message_stop"}\n\n')


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_the_encoder_sends_claudes_bytes_unchanged(size: int) -> None:
    chunks = iter([STREAM[i:i + size] for i in range(0, len(STREAM), size)])
    encoder, fold = MessagesStream(), MessageFold()

    out = b"".join(encoder.event(event, fold.feed(event), fold) for event in sse_raw_events(chunks))

    assert out + encoder.end(fold) == STREAM
    assert fold.complete
    assert fold.message["content"] == [{"type": "text", "text": "hé"}]


def test_crlf_streams_are_normalised_and_events_without_bytes_are_encoded() -> None:
    events = list(sse_raw_events(iter([STREAM.replace(b"\n", b"\r\n")])))
    assert b"".join(e.raw for e in events) == STREAM  # type: ignore[attr-defined]
    fold = MessageFold()
    assert MessagesStream().event({"type": "ping"}, None, fold) == b'event: ping\ndata: {"type":"ping"}\n\n'


def test_errors_and_heartbeats_are_anthropics_own_events() -> None:
    encoder = MessagesStream()
    assert encoder.heartbeat == PING
    overloaded = encoder.error(OverloadedError("Vertex AI: Overloaded"))
    assert overloaded.startswith(b"event: error\ndata: ")
    assert json.loads(overloaded.split(b"data: ", 1)[1]) == {
        "type": "error", "error": {"type": "overloaded_error", "message": "Vertex AI: Overloaded"}}
    limited = json.loads(encoder.error(RateLimitError("slow down")).split(b"data: ", 1)[1])
    assert limited["error"]["type"] == "rate_limit_error"
