"""Relays one upstream Claude stream to the client as OpenAI SSE, and never drops the socket.

The old backend died with "SocketError: other side closed": an exception escaped its
stream generator and the connection was cut with no explanation. Here:

- every failure after the first byte becomes an in-band ``data: {"error": ...}`` event
  followed by ``data: [DONE]``; a stream that ends without ``message_stop`` is an error;
- while the upstream is silent (long thinking), an SSE comment goes out every
  ``heartbeat`` seconds so proxies and browsers keep the connection;
- when the client goes away, the upstream request is shut down at once, so no tokens are
  paid for nobody.

A reader thread pulls events from the upstream into a queue; the response generator waits
on that queue with a timeout, which is what lets it send heartbeats and notice a departed
client while the upstream says nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from vertexchat.errors import APIError, error_body, internal_error
from vertexchat.streaming import HEARTBEAT, SSE_DONE, StreamTranslator, encode_sse, encode_sse_error

log = logging.getLogger(__name__)

# How often a silent wait checks whether the client is still there.
_PROBE_SECONDS = 0.25


class Upstream(Protocol):
    """An open upstream stream: iterable of Claude event dicts, closable from any thread."""

    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


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

    def get(self, timeout: float) -> object:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return _IDLE


def relay(
    upstream: Upstream,
    translator: StreamTranslator,
    *,
    heartbeat: float,
    client_gone: Callable[[], bool],
    on_end: Callable[[StreamEnd], None],
    request_id: str,
) -> Iterator[bytes]:
    """Yield the SSE bytes for one completion; ``on_end`` runs before the last byte is sent."""
    started = time.monotonic()
    last_sent = started
    first_token_ms: float | None = None
    chunks = 0
    error: APIError | None = None
    outcome = "complete"
    pump = _Pump(upstream)
    try:
        while True:
            item = pump.get(min(_PROBE_SECONDS, heartbeat))
            if item is _END:
                break
            if item is _IDLE:
                if client_gone():
                    raise _ClientGone
                if time.monotonic() - last_sent >= heartbeat:
                    last_sent = time.monotonic()
                    yield HEARTBEAT
                continue
            if isinstance(item, BaseException):
                raise item
            for chunk in translator.feed(item):  # type: ignore[arg-type]
                if first_token_ms is None and _has_content(chunk):
                    first_token_ms = round((time.monotonic() - started) * 1000, 1)
                chunks += 1
                yield encode_sse(chunk)
            last_sent = time.monotonic()
        for chunk in translator.finish():
            chunks += 1
            yield encode_sse(chunk)
    except APIError as exc:
        outcome, error = "error", exc
    except (_ClientGone, GeneratorExit):
        outcome = "client_closed"
    except Exception:
        log.exception("stream relay failed", extra={"fields": {"request_id": request_id}})
        outcome, error = "error", internal_error(request_id)
    finally:
        upstream.close()
        on_end(StreamEnd(outcome, translator, error, first_token_ms, chunks))
    if outcome == "client_closed":
        return
    if error is not None:
        yield encode_sse_error(error_body(error))
    yield SSE_DONE


def _has_content(chunk: dict[str, Any]) -> bool:
    choices = chunk.get("choices") or ()
    if not choices:
        return False
    delta = choices[0].get("delta") or {}
    return bool(delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content"))
