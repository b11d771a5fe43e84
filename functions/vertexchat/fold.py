"""PURE: one Claude event stream folded into the message it describes.

In the manner of the anthropic SDK's ``accumulate_event``: :meth:`MessageFold.feed` takes
the events in order and keeps the message they build (content blocks, stop reason, usage);
nothing here encodes anything for a client. Every API codec encodes its own stream from
the events and this fold's state, and the turn stores the reply from the fold, so a
streamed reply is assembled exactly once.

Rules (Claude's streaming reference, see ``shared/REFERENCE.md``):
- ``message_start`` opens the message; content before it is a broken stream. A repeated
  ``message_start`` is ignored (it would reset what was already sent).
- Text, thinking and tool input arrive as deltas per block ``index``; the pieces are joined
  only when the message is read (``+=`` on a long string would copy it per delta).
- ``message_delta`` usage is cumulative; absent or null counters keep the start's values.
- An ``error`` event raises the mapped :mod:`vertexchat.errors` exception; ``ping`` and
  unknown events change nothing.
- A stream is complete only once ``message_stop`` was seen.

Tested in tests/test_streaming.py. Tested in tests/test_relay.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vertexchat.errors import UpstreamError, classify_upstream

JSON = dict[str, Any]
Event = Mapping[str, Any]

# What a block is, for the codecs: the kinds they encode differently.
TEXT, THINKING, REDACTED, TOOL, OTHER = "text", "thinking", "redacted_thinking", "tool_use", "other"
_KINDS = {TEXT: TEXT, THINKING: THINKING, REDACTED: REDACTED, TOOL: TOOL}
_INITIAL = {TEXT: "text", THINKING: "thinking"}
_DELTAS = {"text_delta": (TEXT, "text"), "thinking_delta": (THINKING, "thinking"),
           "input_json_delta": (TOOL, "partial_json")}


class Block:
    """One content block being streamed: its dict and the pieces still to join."""

    __slots__ = ("block", "index", "kind", "parts", "signature", "stopped")

    def __init__(self, index: int, block: JSON) -> None:
        self.index = index
        self.block = block
        self.kind = _KINDS.get(str(block.get("type", "")), OTHER)
        initial = block.get(_INITIAL[self.kind]) if self.kind in _INITIAL else None
        self.parts: list[str] = [initial] if isinstance(initial, str) and initial else []
        self.signature: str | None = block.get("signature") if self.kind == THINKING else None
        self.stopped = False

    @property
    def text(self) -> str:
        """What the block's deltas carried so far (text, thinking or raw tool-input JSON)."""
        return "".join(self.parts)

    def close(self) -> None:
        """Write the joined pieces into the block dict (idempotent)."""
        if self.kind == TEXT:
            self.block["text"] = self.text
        elif self.kind == THINKING:
            self.block["thinking"] = self.text
            self.block["signature"] = self.signature
        elif self.kind == TOOL and self.parts:
            self.block["input"] = _parse_input(self.text)


def _parse_input(text: str) -> JSON:
    # A stream cut mid-call leaves partial JSON; the stored message keeps an empty input then.
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class MessageFold:
    """The Claude message accumulated from one stream's events."""

    def __init__(self) -> None:
        self._message: JSON | None = None
        self._blocks: dict[int, Block] = {}
        self.complete = False

    def feed(self, event: Event) -> Block | None:
        """Fold one event in; returns the block it touched, if any.

        Raises the mapped error for an ``error`` event, and UpstreamError for content that
        arrives before ``message_start``.
        """
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_stop":
            block = self._blocks.get(event.get("index", -1))
            if block is not None:
                block.close()
                block.stopped = True
            return block
        if kind == "message_start":
            self._start(event)
        elif kind == "message_delta":
            self._message_delta(event)
        elif kind == "message_stop":
            self._started()
            self.complete = True
        elif kind == "error":
            error = event.get("error") or {}
            raise classify_upstream(None, error.get("type"), str(error.get("message") or ""))
        return None

    @property
    def started(self) -> bool:
        return self._message is not None

    @property
    def message(self) -> JSON:
        """The message so far (whole once :attr:`complete`); an empty assistant message before the start."""
        if self._message is None:
            return {"type": "message", "role": "assistant", "content": [], "stop_reason": None, "usage": {}}
        for block in self._blocks.values():
            block.close()
        return self._message

    @property
    def stop_reason(self) -> str | None:
        return self._message.get("stop_reason") if self._message else None

    @property
    def usage(self) -> JSON | None:
        """Claude's usage counters so far; None before ``message_start``."""
        return self._message["usage"] if self._message else None

    def block(self, index: int) -> Block | None:
        return self._blocks.get(index)

    def _started(self) -> JSON:
        if self._message is None:
            raise UpstreamError("The Vertex AI stream sent content before message_start.")
        return self._message

    def _start(self, event: Event) -> None:
        if self._message is not None:
            return
        message = dict(event.get("message") or {})
        message["content"] = []
        message["usage"] = dict(message.get("usage") or {})
        self._message = message

    def _block_start(self, event: Event) -> Block:
        content: list[JSON] = self._started()["content"]
        data = dict(event.get("content_block") or {})
        content.append(data)
        index = event.get("index", len(content) - 1)
        block = self._blocks[index] = Block(index, data)
        return block

    def _delta(self, event: Event) -> Block | None:
        block = self._blocks.get(event.get("index", -1))
        delta = event.get("delta") or {}
        if block is None:
            return None
        if delta.get("type") == "signature_delta":
            if block.kind == THINKING:
                block.signature = delta.get("signature")
            return block
        wanted = _DELTAS.get(str(delta.get("type", "")))
        # Deltas for the wrong block kind, unknown delta types and citations change no text.
        if wanted is None or wanted[0] != block.kind:
            return block
        piece = delta.get(wanted[1]) or ""
        if piece:
            block.parts.append(piece)
        return block

    def _message_delta(self, event: Event) -> None:
        message = self._started()
        delta = event.get("delta") or {}
        for key in ("stop_reason", "stop_sequence"):
            if key in delta:
                message[key] = delta[key]
        message["usage"].update((k, v) for k, v in (event.get("usage") or {}).items() if v is not None)


@dataclass(frozen=True, slots=True)
class TokenCounts:
    """Claude's usage as every OpenAI-style codec reports it: prompt tokens include cache reads and writes.

    (Claude's ``input_tokens`` leaves both out.)
    """

    prompt: int
    cache_read: int
    cache_write: int
    output: int

    @classmethod
    def of(cls, usage: Mapping[str, Any] | None) -> TokenCounts:
        usage = usage or {}
        read = int(usage.get("cache_read_input_tokens") or 0)
        write = int(usage.get("cache_creation_input_tokens") or 0)
        return cls(int(usage.get("input_tokens") or 0) + read + write, read, write,
                   int(usage.get("output_tokens") or 0))


def carries_content(event: Event) -> bool:
    """Whether an event puts something the client reads on the wire (for time to first token)."""
    kind = event.get("type")
    if kind == "content_block_delta":
        delta = event.get("delta") or {}
        return bool(delta.get("text") or delta.get("thinking") or delta.get("partial_json"))
    if kind == "content_block_start":
        block = event.get("content_block") or {}
        return block.get("type") == TOOL or bool(block.get("text") or block.get("thinking"))
    return False
