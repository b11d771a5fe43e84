"""Relays one upstream Claude stream to the client as OpenAI SSE, and never drops the socket.

The old backend died with "SocketError: other side closed": an exception escaped its
stream generator and the connection was cut with no explanation. Here:

- :func:`open_stream` waits for Vertex's first event before anything is sent, so a stall or
  an error at the very start is still a retryable failure with a proper HTTP status;
- after that, every failure becomes an in-band ``data: {"error": ...}`` event followed by
  ``data: [DONE]``; a stream that ends without ``message_stop`` is an error;
- while the upstream is silent (long thinking), an SSE comment goes out every
  ``heartbeat`` seconds so proxies and browsers keep the connection; past the idle
  deadline, or the total one, the stream ends with an in-band timeout error;
- when the client goes away, the upstream request is shut down at once, so no tokens are
  paid for nobody.

A reader thread pulls events from the upstream into a queue; the response generator waits
on that queue with a timeout, which is what lets it send heartbeats, enforce deadlines and
notice a departed client while the upstream says nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from vertexchat.errors import (
    APIError,
    GatewayTimeoutError,
    UpstreamError,
    classify_upstream,
    error_body,
    internal_error,
)
from vertexchat.streaming import HEARTBEAT, SSE_DONE, StreamTranslator, encode_sse, encode_sse_error

log = logging.getLogger(__name__)

# How often a silent wait checks whether the client is still there.
_PROBE_SECONDS = 0.25


class Upstream(Protocol):
    """An open upstream stream: iterable of Claude event dicts, closable from any thread."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Stream timing limits, in seconds (see config.py)."""

    heartbeat: float
    first_byte: float
    idle: float
    total: float


@dataclass
class StreamEnd:
    """How a relayed stream ended, for the transcript and the log line."""

    outcome: str  # "complete" | "error" | "client_closed"
    translator: StreamTranslator
    error: APIError | None
    first_token_ms: float | None
    chunks: int


class _ClientGone(Exception):
    pass


_END = object()
_IDLE = object()


class _Pump:
    """Reads the upstream on its own thread so the response side can wait with a timeout."""

    def __init__(self, upstream: Iterable[dict[str, Any]]) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._upstream = upstream
        self._thread = threading.Thread(target=self._run, name="upstream-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._upstream:
                self._queue.put(event)
            self._queue.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the response side, which renders it
            self._queue.put(exc)

    def get_nowait(self) -> object:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return _IDLE

    def get(self, timeout: float) -> object:
        try:
            return self._queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return _IDLE


@dataclass
class OpenStream:
    """An upstream stream whose first event has arrived."""

    upstream: Upstream
    first_event: dict[str, Any]
    opened_at: float
    pump: _Pump


def open_stream(upstream: Upstream, first_byte_timeout: float) -> OpenStream:
    """Wait for the first event; a stall, an error event or an empty stream raises (and closes)."""
    opened_at = time.monotonic()
    pump = _Pump(upstream)
    item = pump.get(first_byte_timeout)
    try:
        if item is _IDLE:
            raise GatewayTimeoutError(f"Vertex AI sent nothing for {first_byte_timeout:g}s.")
        if item is _END:
            raise UpstreamError("Vertex AI ended the stream before it began.")
        if isinstance(item, APIError):
            raise item
        if isinstance(item, BaseException):
            raise UpstreamError(f"Reading from Vertex AI failed ({type(item).__name__}).")
        event: dict[str, Any] = item  # type: ignore[assignment]
        if event.get("type") == "error":
            detail = event.get("error") or {}
            raise classify_upstream(None, detail.get("type"), str(detail.get("message") or ""))
    except APIError:
        upstream.close()
        raise
    return OpenStream(upstream, event, opened_at, pump)


class RelayBody:
    """A relayed stream as a WSGI body: already started, so ``close()`` always runs its cleanup.

    A generator closed before its first ``next()`` never enters its ``try``, so its ``finally``
    (closing the upstream, storing the turn, the log line) would never run. Starting it at once
    (the first event has already arrived, so its chunks are ready) makes ``close()`` safe at
    any moment; the server calls it when the client goes away or the response ends.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._first = next(chunks)

    def __iter__(self) -> Iterator[bytes]:
        yield self._first
        yield from self._chunks

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def relay(
    stream: OpenStream,
    translator: StreamTranslator,
    *,
    deadlines: Deadlines,
    client_gone: Callable[[], bool],
    on_end: Callable[[StreamEnd], APIError | None],
    request_id: str,
) -> RelayBody:
    """The SSE body for one completion.

    ``on_end`` runs before the last byte is sent (it stores the reply); an error it returns
    (the reply could not be saved) is sent in-band before ``[DONE]``.
    """
    return RelayBody(_relay(stream, translator, deadlines, client_gone, on_end, request_id))


def _relay(  # noqa: PLR0917 - private; relay() is the keyword-only front
    stream: OpenStream,
    translator: StreamTranslator,
    deadlines: Deadlines,
    client_gone: Callable[[], bool],
    on_end: Callable[[StreamEnd], APIError | None],
    request_id: str,
) -> Iterator[bytes]:
    clock = _Clock(stream.opened_at)
    error: APIError | None = None
    outcome = "complete"
    try:
        yield from clock.emit(translator.feed(stream.first_event))
        while True:
            item = stream.pump.get(min(_PROBE_SECONDS, deadlines.heartbeat))
            if item is _END:
                break
            if item is _IDLE:
                if client_gone():
                    raise _ClientGone
                clock.check(deadlines)
                if clock.silent_for() >= deadlines.heartbeat:
                    clock.sent()
                    yield HEARTBEAT
                continue
            if isinstance(item, BaseException):
                raise item
            batch, stopper = _drain(stream.pump, translator, clock, deadlines, item)
            if batch:
                yield batch
                clock.sent()
            if stopper is _END:
                break
            if isinstance(stopper, BaseException):
                raise stopper
        yield from clock.emit(translator.finish())
    except APIError as exc:
        outcome, error = "error", exc
    except (_ClientGone, GeneratorExit):
        outcome = "client_closed"
    except Exception:
        log.exception("stream relay failed", extra={"fields": {"request_id": request_id}})
        outcome, error = "error", internal_error(request_id)
    finally:
        stream.upstream.close()
        late = _settle(on_end, StreamEnd(outcome, translator, error, clock.first_token_ms, clock.chunks),
                       request_id)
    if outcome == "client_closed":
        return
    error = error or late
    if error is not None:
        yield encode_sse_error(error_body(error))
    yield SSE_DONE


def _drain(pump: _Pump, translator: StreamTranslator, clock: _Clock, deadlines: Deadlines,
           item: object) -> tuple[bytes, object]:
    """Translate ``item`` and every event already queued behind it, for one write.

    Nothing waits for more: under load this turns a burst of events into one socket write
    instead of many, and when events trickle in it is one event per write as before.
    Returns the bytes and what stopped the batch (``_IDLE``, ``_END`` or an exception, raised
    by the caller only after the bytes before it went out).
    """
    parts: list[bytes] = []
    while isinstance(item, dict):
        try:
            clock.event(deadlines)
            parts.extend(clock.encode(translator.feed(item)))
        except APIError as exc:
            return b"".join(parts), exc
        item = pump.get_nowait()
    return b"".join(parts), item


def _settle(on_end: Callable[[StreamEnd], APIError | None], end: StreamEnd, request_id: str) -> APIError | None:
    """Run ``on_end``; nothing it raises may escape the generator and cut the stream short."""
    try:
        return on_end(end)
    except APIError as exc:
        return exc
    except Exception:
        log.exception("finishing the stream failed", extra={"fields": {"request_id": request_id}})
        return internal_error(request_id)


class _Clock:
    """Timing of one relayed stream: deadlines, heartbeats and the log line's numbers."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.last_event = self.last_sent = time.monotonic()
        self.first_token_ms: float | None = None
        self.chunks = 0

    def emit(self, chunks: list[dict[str, Any]]) -> Iterator[bytes]:
        encoded = self.encode(chunks)
        if encoded:
            yield b"".join(encoded)
            self.sent()

    def encode(self, chunks: list[dict[str, Any]]) -> list[bytes]:
        for chunk in chunks:
            if self.first_token_ms is None and _has_content(chunk):
                self.first_token_ms = round((time.monotonic() - self.started) * 1000, 1)
        self.chunks += len(chunks)
        return [encode_sse(chunk) for chunk in chunks]

    def event(self, deadlines: Deadlines) -> None:
        self.last_event = time.monotonic()
        if self.last_event - self.started > deadlines.total:
            raise GatewayTimeoutError(f"The completion took longer than {deadlines.total:g}s.")

    def sent(self) -> None:
        self.last_sent = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self.last_sent

    def check(self, deadlines: Deadlines) -> None:
        now = time.monotonic()
        if now - self.last_event > deadlines.idle:
            raise GatewayTimeoutError(f"Vertex AI went silent for more than {deadlines.idle:g}s mid-stream.")
        if now - self.started > deadlines.total:
            raise GatewayTimeoutError(f"The completion took longer than {deadlines.total:g}s.")


def _has_content(chunk: dict[str, Any]) -> bool:
    choices = chunk.get("choices") or ()
    if not choices:
        return False
    delta = choices[0].get("delta") or {}
    return bool(delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content"))
