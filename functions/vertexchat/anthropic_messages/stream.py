"""PURE: the Messages API's stream encoder: Claude's SSE events, sent on as they came.

Each event Vertex sent goes out as the exact bytes it arrived as (the upstream keeps them on
a :class:`~vertexchat.upstream.sse.RawEvent`), so the client reads Claude's stream byte for
byte; an event without its bytes is written as Claude writes one, ``event: <type>`` and
``data: <json>``. While Vertex is silent the heartbeat is Claude's own ``event: ping``. An
error after the stream began is Anthropic's in-band ``event: error`` with its error body;
a stream is never ended silently (Claude Code reports a stream without ``message_stop`` as a
success with empty output), which the relay guarantees by calling :meth:`MessagesStream.error`
for every incomplete end.

Tested in tests/test_anthropic_messages_codec.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vertexchat.errors import APIError, anthropic_error
from vertexchat.fold import Block, Event, MessageFold

PING = b'event: ping\ndata: {"type": "ping"}\n\n'

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event as Claude writes it: ``event: <type>``, ``data: <json>``, a blank line."""
    return f"event: {event.get('type')}\ndata: {_encode(event)}\n\n".encode()


class MessagesStream:
    """The relay's encoder for ``POST /v1/messages`` with ``stream: true``."""

    heartbeat = PING

    def event(self, event: Event, block: Block | None, fold: MessageFold) -> bytes:
        raw = getattr(event, "raw", None)
        return raw if isinstance(raw, bytes) else encode_event(event)

    def end(self, fold: MessageFold) -> bytes:
        # The relay ends a stream this way only after message_stop, which already went out.
        return b""

    def error(self, error: APIError) -> bytes:
        _, body = anthropic_error(error)
        return encode_event(body)
