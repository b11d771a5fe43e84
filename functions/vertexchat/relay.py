"""Relays one upstream Claude stream to the client through an API's encoder, and never drops the socket.

The old backend died with "SocketError: other side closed": an exception escaped its
stream generator and the connection was cut with no explanation. Here:

- :func:`open_stream` opens the upstream on a reader thread and waits for Vertex's first
  event before anything is sent, so a stall (before or after the response headers) or an
  error at the very start is still a retryable failure with a proper HTTP status; a client
  that leaves meanwhile closes the upstream at once and stops the retries;
- after that, every failure (ours, Vertex's, anything raised) becomes the encoder's in-band
  error, then its end of stream; a stream that ends without ``message_stop`` is an error;
- while the upstream is silent (long thinking), the encoder's heartbeat goes out every
  ``heartbeat`` seconds so proxies and browsers keep the connection; past the idle
  deadline, or the total one, the stream ends with an in-band timeout error;
- when the client goes away, or the instance is shutting down (SIGTERM), the upstream
  request is closed at once and the stream ends (in-band, for a shutdown).

Every way a stream ends reaches the :class:`TurnSink` exactly once, before the last bytes
go out (Cloud Functions throttle CPU after the response): the sink stores the reply and
settles the turn, and an error it returns (the reply could not be saved) is sent in-band.

Seams: :class:`Upstream` (iterable of Claude event dicts, closable from any thread) and the
encoder (:class:`StreamEncoder`), so the relay is tested in process with a fake upstream
that raises anything at any point (``tests/test_relay.py``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from vertexchat.errors import (
    APIError,
    ClientClosedError,
    GatewayTimeoutError,
    ServiceUnavailableError,
    UpstreamError,
    classify_upstream,
    internal_error,
)
from vertexchat.fold import Block, Event, MessageFold, carries_content

log = logging.getLogger(__name__)

# How often a silent wait checks whether the client is still there (and the instance is not stopping).
_PROBE_SECONDS = 0.25

COMPLETE, ERROR, CLIENT_CLOSED, SHUTDOWN = "complete", "error", "client_closed", "shutdown"


class Upstream(Protocol):
    """An open upstream stream: iterable of Claude event dicts, closable from any thread."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class StreamEncoder(Protocol):
    """An API's stream encoding: SSE bytes for each event, for the end, for an in-band error."""

    heartbeat: bytes

    def event(self, event: Event, block: Block | None, fold: MessageFold) -> bytes: ...

    def end(self, fold: MessageFold) -> bytes: ...

    def error(self, error: APIError) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Limits on a stream once it has begun, in seconds (see config.py); the first byte's is ``open_stream``'s."""

    heartbeat: float
    idle: float
    total: float


@dataclass(frozen=True, slots=True)
class Watch:
    """What a stream watches besides the upstream: the client's socket and the instance's shutdown."""

    client_gone: Callable[[], bool]
    shutting_down: Callable[[], bool]


@dataclass
class StreamEnd:
    """How a relayed stream ended, for the transcript and the log line."""

    outcome: str  # COMPLETE | ERROR | CLIENT_CLOSED | SHUTDOWN
    fold: MessageFold
    error: APIError | None
    first_token_ms: float | None
    events: int


class TurnSink(Protocol):
    """Who owns the turn: told once, before the last bytes, how the stream ended."""

    def stream_ended(self, end: StreamEnd) -> APIError | None: ...


class _Stopped(Exception):
    """The client left or the instance is stopping: no more bytes are wanted."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


_END = object()
_IDLE = object()


class _Pump:
    """Opens and reads the upstream on its own thread, so the response side can wait with a timeout."""

    def __init__(self, opener: Callable[[], Upstream]) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._opener = opener
        self._lock = threading.Lock()
        self._upstream: Upstream | None = None
        self._closed = False
        threading.Thread(target=self._run, name="upstream-reader", daemon=True).start()

    def _run(self) -> None:
        try:
            upstream = self._opener()
            with self._lock:
                self._upstream = upstream
                closed = self._closed
            if closed:  # abandoned while it was opening
                upstream.close()
                return
            for event in upstream:
                self._queue.put(event)
            self._queue.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the response side, which renders it
            self._queue.put(exc)

    def close(self) -> None:
        """Close the upstream now, or as soon as it has opened."""
        with self._lock:
            self._closed = True
            upstream = self._upstream
        if upstream is not None:
            upstream.close()

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

    first_event: dict[str, Any]
    opened_at: float
    pump: _Pump


def open_stream(opener: Callable[[], Upstream], first_byte_timeout: float, watch: Watch) -> OpenStream:
    """Open the upstream and wait for its first event; a stall, an error event or an empty stream raises.

    The first-byte deadline covers the response headers and the first event alike. A client
    that leaves meanwhile raises :class:`ClientClosedError` (never retried).
    """
    opened_at = time.monotonic()
    pump = _Pump(opener)
    try:
        item = _first_item(pump, opened_at + first_byte_timeout, watch)
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
        pump.close()
        raise
    return OpenStream(event, opened_at, pump)


def _first_item(pump: _Pump, deadline: float, watch: Watch) -> object:
    while True:
        left = deadline - time.monotonic()
        item = pump.get(min(_PROBE_SECONDS, left))
        if item is not _IDLE or left <= _PROBE_SECONDS:
            return item
        if watch.client_gone():
            raise ClientClosedError("The client closed the connection before the reply began.")
        if watch.shutting_down():
            raise ServiceUnavailableError("The server is shutting down; retry the request.", code="shutting_down",
                                          retry_after=1.0)


class RelayBody:
    """A relayed stream as a WSGI body: already started, so ``close()`` always runs its cleanup.

    A generator closed before its first ``next()`` never enters its ``try``, so its ``finally``
    (closing the upstream, telling the sink) would never run. Starting it at once (the first
    event has already arrived, so its bytes are ready) makes ``close()`` safe at any moment;
    the server calls it when the client goes away or the response ends.
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


def relay(stream: OpenStream, encoder: StreamEncoder, sink: TurnSink, *, deadlines: Deadlines, watch: Watch,
          request_id: str) -> RelayBody:
    """The SSE body for one turn's stream."""
    return RelayBody(_Relay(stream, encoder, deadlines, watch).run(sink, request_id))


class _Relay:
    """One stream's state: the fold, the clock and the counters for the log line."""

    def __init__(self, stream: OpenStream, encoder: StreamEncoder, deadlines: Deadlines, watch: Watch) -> None:
        self.stream = stream
        self.encoder = encoder
        self.deadlines = deadlines
        self.watch = watch
        self.fold = MessageFold()
        self.started = stream.opened_at
        self.last_event = self.last_sent = time.monotonic()
        self.first_token_ms: float | None = None
        self.events = 0

    def run(self, sink: TurnSink, request_id: str) -> Iterator[bytes]:
        error: APIError | None = None
        outcome = COMPLETE
        try:
            yield self._encode(self.stream.first_event)
            yield from self._events()
            if not self.fold.complete:
                raise UpstreamError("The Vertex AI stream ended before the reply was complete.")
        except APIError as exc:
            outcome, error = ERROR, exc
        except _Stopped as stop:
            outcome = stop.outcome
            if outcome == SHUTDOWN:
                error = ServiceUnavailableError("The server is shutting down; the reply was cut short. "
                                                "Retry the request.", code="shutting_down", retry_after=1.0)
        except GeneratorExit:
            outcome = CLIENT_CLOSED
        except Exception:
            log.exception("stream relay failed", extra={"fields": {"request_id": request_id}})
            outcome, error = ERROR, internal_error(request_id)
        finally:
            self.stream.pump.close()
            late = _settle(sink, StreamEnd(outcome, self.fold, error, self.first_token_ms, self.events), request_id)
        if outcome == CLIENT_CLOSED:
            return
        error = error or late
        yield self.encoder.error(error) if error is not None else self.encoder.end(self.fold)

    def _events(self) -> Iterator[bytes]:
        pump = self.stream.pump
        while True:
            item = pump.get(min(_PROBE_SECONDS, self.deadlines.heartbeat))
            if item is _IDLE:
                self._check_watch()
                self._check_deadlines(time.monotonic())
                if time.monotonic() - self.last_sent >= self.deadlines.heartbeat:
                    yield self._sent(self.encoder.heartbeat)
                continue
            # Everything already queued goes out in one write: under load a burst of events
            # costs one socket write instead of many; trickling events go one per write.
            parts: list[bytes] = []
            while isinstance(item, dict):
                try:
                    parts.append(self._encode(item))
                except BaseException:
                    if parts:
                        yield self._sent(b"".join(parts))
                    raise
                item = pump.get_nowait()
            if parts:
                yield self._sent(b"".join(parts))
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            # A busy stream never waits, so a shutdown is checked between writes too (a cheap
            # flag; a departed client shows up as a failed write instead).
            if self.watch.shutting_down():
                raise _Stopped(SHUTDOWN)

    def _encode(self, event: dict[str, Any]) -> bytes:
        now = time.monotonic()
        self.last_event = now
        self.events += 1
        if now - self.started > self.deadlines.total:
            raise GatewayTimeoutError(f"The reply took longer than {self.deadlines.total:g}s.")
        block = self.fold.feed(event)
        if self.first_token_ms is None and carries_content(event):
            self.first_token_ms = round((now - self.started) * 1000, 1)
        return self.encoder.event(event, block, self.fold)

    def _sent(self, data: bytes) -> bytes:
        self.last_sent = time.monotonic()
        return data

    def _check_watch(self) -> None:
        if self.watch.client_gone():
            raise _Stopped(CLIENT_CLOSED)
        if self.watch.shutting_down():
            raise _Stopped(SHUTDOWN)

    def _check_deadlines(self, now: float) -> None:
        if now - self.last_event > self.deadlines.idle:
            raise GatewayTimeoutError(f"Vertex AI went silent for more than {self.deadlines.idle:g}s mid-stream.")
        if now - self.started > self.deadlines.total:
            raise GatewayTimeoutError(f"The reply took longer than {self.deadlines.total:g}s.")


def _settle(sink: TurnSink, end: StreamEnd, request_id: str) -> APIError | None:
    """Tell the sink; nothing it raises may escape the generator and cut the stream short."""
    try:
        return sink.stream_ended(end)
    except APIError as exc:
        return exc
    except Exception:
        log.exception("finishing the stream failed", extra={"fields": {"request_id": request_id}})
        return internal_error(request_id)
