"""PURE: Claude events from a Server-Sent Events byte stream.

Parsed straight from the (content-decoded) bytes: httpx's text and line layers cost more CPU
per event than everything else the relay does together. Each event's ``data:`` lines are
joined and JSON-decoded (the ``event:`` line repeats the JSON's ``type``, so it is not read);
CRLF line ends are accepted (the SSE specification allows them).

Tested in tests/test_vertex_sse.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from vertexchat.errors import UpstreamError

JSON = dict[str, Any]


def sse_events(chunks: Iterator[bytes]) -> Iterator[JSON]:
    """Claude events from an SSE byte stream: each event's ``data:`` lines, JSON-decoded."""
    for block in _blocks(chunks):
        data = _data_of(block)
        if data is not None:
            yield _parse_event(data)


def _blocks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The SSE blocks (separated by a blank line) of a byte stream, CRLF line ends folded."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        if b"\r" in pending:
            pending = pending.replace(b"\r\n", b"\n")
        *blocks, pending = pending.split(b"\n\n")
        yield from blocks
    yield pending


class RawEvent(dict[str, Any]):
    """A parsed Claude event that keeps the exact bytes it arrived as (``raw``: the SSE block and its
    blank line), so a pass-through codec can send it on unchanged while the fold reads the dict."""

    __slots__ = ("raw",)

    raw: bytes


def sse_raw_events(chunks: Iterator[bytes]) -> Iterator[JSON]:
    """Like :func:`sse_events`, but each event is a :class:`RawEvent` carrying its own bytes."""
    for block in _blocks(chunks):
        event = _raw_event(block)
        if event is not None:
            yield event


def _raw_event(block: bytes) -> RawEvent | None:
    data = _data_of(block)
    if data is None:
        return None
    event = RawEvent(_parse_event(data))
    event.raw = block.strip(b"\n") + b"\n\n"
    return event


def _data_of(block: bytes) -> bytes | None:
    lines = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return lines[0] if len(lines) == 1 else b"\n".join(lines)


def _parse_event(data: str | bytes) -> JSON:
    try:
        event = json.loads(data)
    except ValueError:
        raise UpstreamError("Vertex AI sent a malformed stream event.") from None
    if not isinstance(event, dict):
        raise UpstreamError("Vertex AI sent a stream event that is not an object.")
    return event


