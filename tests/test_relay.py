"""The relay in process, with a fake upstream (a one-method seam, like httpx's ``MockTransport``).

The fake yields scripted Claude events, sleeps, or raises anything at any point; the sink
records how the stream ended, as the turn does; the chat encoder renders the bytes. Every
way a stream ends must reach the sink exactly once, and the client always gets an in-band
error and ``[DONE]`` rather than a dropped socket (the seed's failure 4).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import flask
import pytest
import werkzeug.test

from vertexchat import web
from vertexchat.errors import APIError, ClientClosedError, GatewayTimeoutError, UpstreamError
from vertexchat.openai_chat.chunks import SSE_DONE, ChatStream
from vertexchat.relay import Deadlines, StreamEnd, Watch, open_stream, relay
from vertexchat.turn import STORED_STATUS

START = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                              "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 0}}}
TEXT = [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " world"}}]
END = [{"type": "content_block_stop", "index": 0},
       {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
       {"type": "message_stop"}]
DEADLINES = Deadlines(heartbeat=0.2, idle=0.6, total=30.0)
FIRST_BYTE = 2.0


class FakeUpstream:
    """Scripted Claude events; ``"sleep:S"`` waits S seconds, an exception instance is raised there."""

    def __init__(self, *script: object) -> None:
        self.script = script
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for step in self.script:
            if self.closed.is_set():
                return
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, str) and step.startswith("sleep:"):
                self.closed.wait(float(step[6:]))
                continue
            assert isinstance(step, dict)
            yield step

    def close(self) -> None:
        self.closed.set()


class Sink:
    """What the turn is told: every call recorded."""

    def __init__(self, late: APIError | None = None) -> None:
        self.ends: list[StreamEnd] = []
        self.late = late

    def stream_ended(self, end: StreamEnd) -> APIError | None:
        self.ends.append(end)
        return self.late


class Flags:
    def __init__(self) -> None:
        self.gone = False
        self.stopping = False

    def watch(self) -> Watch:
        return Watch(client_gone=lambda: self.gone, shutting_down=lambda: self.stopping)


def encoder() -> ChatStream:
    return ChatStream(json_tool=None, completion_id="chatcmpl-1", created=1, model="claude", include_usage=False)


def start(upstream: FakeUpstream, flags: Flags, sink: Sink) -> Any:
    stream = open_stream(lambda: upstream, FIRST_BYTE, flags.watch())
    return relay(stream, encoder(), sink, deadlines=DEADLINES, watch=flags.watch(), request_id="req_test")


def payloads(data: bytes) -> list[str]:
    return [line[6:] for line in data.decode().split("\n") if line.startswith("data: ")]


def test_a_complete_stream_reaches_the_sink_once_and_ends_with_done() -> None:
    upstream, sink = FakeUpstream(START, *TEXT, *END), Sink()
    body = b"".join(start(upstream, Flags(), sink))
    assert body.endswith(SSE_DONE)
    texts = [json.loads(p)["choices"][0]["delta"].get("content") for p in payloads(body)[:-1]]
    assert "".join(t or "" for t in texts) == "Hello world"
    [end] = sink.ends
    assert (end.outcome, end.error) == ("complete", None)
    assert end.fold.message["content"] == [{"type": "text", "text": "Hello world"}]
    assert upstream.closed.is_set()


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyError("x"), ValueError("bad"), OSError("reset")])
def test_an_unexpected_exception_mid_stream_is_an_in_band_error_and_a_stored_error(failure: Exception) -> None:
    sink = Sink()
    body = b"".join(start(FakeUpstream(START, *TEXT, failure), Flags(), sink))
    *_, error, done = payloads(body)
    assert done == "[DONE]"
    assert json.loads(error)["error"]["type"] in ("api_error",)
    [end] = sink.ends
    assert end.outcome == "error"
    assert STORED_STATUS[end.outcome] == "error"  # never "complete"
    assert end.fold.message["content"][0]["text"] == "Hello world"  # the partial reply is kept


def test_an_exception_raised_by_the_encoder_still_ends_the_stream_in_band() -> None:
    class Exploding(ChatStream):
        def chunks(self, event: Any, block: Any, fold: Any) -> list[dict[str, Any]]:
            if event.get("type") == "content_block_delta":
                raise TypeError("encoder bug")
            return super().chunks(event, block, fold)

    sink = Sink()
    stream = open_stream(lambda: FakeUpstream(START, *TEXT, *END), 2.0, Flags().watch())
    exploding = Exploding(json_tool=None, completion_id="c", created=1, model="m", include_usage=False)
    body = b"".join(relay(stream, exploding, sink, deadlines=DEADLINES, watch=Flags().watch(), request_id="r"))
    assert payloads(body)[-1] == "[DONE]"
    assert json.loads(payloads(body)[-2])["error"]["code"] == "internal_error"
    assert [end.outcome for end in sink.ends] == ["error"]


def test_a_stream_without_message_stop_is_an_error_not_a_stop() -> None:
    sink = Sink()
    body = b"".join(start(FakeUpstream(START, *TEXT), Flags(), sink))
    assert json.loads(payloads(body)[-2])["error"]["type"] == "api_error"
    assert sink.ends[0].outcome == "error"
    assert isinstance(sink.ends[0].error, UpstreamError)


def test_an_idle_upstream_times_out_in_band_after_heartbeats() -> None:
    sink = Sink()
    body = b"".join(start(FakeUpstream(START, *TEXT, "sleep:5"), Flags(), sink))
    assert b": keep-alive" in body
    assert json.loads(payloads(body)[-2])["error"]["code"] == "upstream_timeout"
    [end] = sink.ends
    assert end.outcome == "error"
    assert isinstance(end.error, GatewayTimeoutError)


def test_a_client_that_leaves_mid_stream_closes_the_upstream_and_stores_incomplete() -> None:
    upstream, flags, sink = FakeUpstream(START, *TEXT, "sleep:5", *END), Flags(), Sink()
    body = iter(start(upstream, flags, sink))
    next(body)
    flags.gone = True
    rest = b"".join(body)  # what was already queued may still go out; no ending does
    assert SSE_DONE not in rest
    assert b'"error"' not in rest
    assert upstream.closed.wait(1.0)
    [end] = sink.ends
    assert end.outcome == "client_closed"
    assert STORED_STATUS[end.outcome] == "incomplete"


def test_closing_the_body_early_tells_the_sink_once() -> None:
    upstream, sink = FakeUpstream(START, *TEXT, "sleep:5", *END), Sink()
    body = start(upstream, Flags(), sink)
    body.close()
    body.close()
    assert [end.outcome for end in sink.ends] == ["client_closed"]
    assert upstream.closed.is_set()


def test_a_shutdown_ends_the_stream_in_band_and_stores_incomplete() -> None:
    upstream, flags, sink = FakeUpstream(START, *TEXT, "sleep:5", *END), Flags(), Sink()
    body = iter(start(upstream, flags, sink))
    next(body)
    flags.stopping = True
    started = time.monotonic()
    rest = b"".join(body)
    assert time.monotonic() - started < 2.0
    assert json.loads(payloads(rest)[-2])["error"]["code"] == "shutting_down"
    assert payloads(rest)[-1] == "[DONE]"
    [end] = sink.ends
    assert end.outcome == "shutdown"
    assert STORED_STATUS[end.outcome] == "incomplete"
    assert upstream.closed.is_set()


def test_a_reply_that_could_not_be_saved_is_reported_in_band() -> None:
    late = UpstreamError("not saved", code="session_not_saved")
    body = b"".join(start(FakeUpstream(START, *TEXT, *END), Flags(), Sink(late=late)))
    assert json.loads(payloads(body)[-2])["error"]["code"] == "session_not_saved"


def test_a_sink_that_raises_cannot_cut_the_stream() -> None:
    class Broken(Sink):
        def stream_ended(self, end: StreamEnd) -> APIError | None:
            raise RuntimeError("storage bug")

    body = b"".join(start(FakeUpstream(START, *TEXT, *END), Flags(), Broken()))
    assert payloads(body)[-1] == "[DONE]"
    assert json.loads(payloads(body)[-2])["error"]["code"] == "internal_error"


def test_a_client_that_leaves_before_the_first_event_closes_the_upstream_at_once() -> None:
    upstream, flags = FakeUpstream("sleep:10", START), Flags()
    flags.gone = True
    started = time.monotonic()
    with pytest.raises(ClientClosedError):
        open_stream(lambda: upstream, 10.0, flags.watch())
    assert time.monotonic() - started < 1.0
    assert upstream.closed.wait(1.0)


def test_a_stall_before_the_first_event_is_bounded_by_the_first_byte_deadline() -> None:
    upstream = FakeUpstream("sleep:10", START)
    started = time.monotonic()
    with pytest.raises(GatewayTimeoutError):
        open_stream(lambda: upstream, 0.5, Flags().watch())
    assert time.monotonic() - started < 1.5
    assert upstream.closed.wait(1.0)


def test_an_upstream_that_fails_to_open_raises_its_error_before_any_byte() -> None:
    def failing() -> FakeUpstream:
        raise UpstreamError("refused")

    with pytest.raises(UpstreamError):
        open_stream(failing, 2.0, Flags().watch())


class Recording(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize(("script", "watch_flag", "outcome", "status"), [
    ((START, *TEXT, "sleep:5", *END), "gone", "client_closed", 200),
    ((START, *TEXT, "sleep:5", *END), "stopping", "shutdown", 503),
    ((START, *TEXT, "sleep:5"), None, "error", 504),
])
def test_each_ending_writes_exactly_one_log_line(script: tuple[object, ...], watch_flag: str | None, outcome: str,
                                                 status: int) -> None:
    """The sink records the outcome on the call; the response's close writes the one log line."""
    request = flask.Request(werkzeug.test.EnvironBuilder(path="/v1/chat/completions", method="POST").get_environ())
    call = web.Call(request=request, function="api", request_id="req_log_test")
    flags, handler = Flags(), Recording()

    class TurnLike(Sink):
        def stream_ended(self, end: StreamEnd) -> APIError | None:
            call.fields["outcome"] = end.outcome
            call.outcome(end.error.status if end.error else 200, end.error)
            return None

    logger = logging.getLogger("vertexchat.request")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        response = web.sse_response(start(FakeUpstream(*script), flags, TurnLike()), call)
        response.call_on_close(call.finish_log)
        chunks = iter(response.response)
        next(chunks)
        if watch_flag is not None:
            setattr(flags, watch_flag, True)
        for _ in chunks:
            pass
        response.close()
        response.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [r for r in handler.records if getattr(r, "fields", {}).get("request_id") == "req_log_test"]
    assert len(lines) == 1
    assert lines[0].fields["outcome"] == outcome  # type: ignore[attr-defined]
    assert lines[0].fields["status"] == status  # type: ignore[attr-defined]
