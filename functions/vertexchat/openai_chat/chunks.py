"""PURE: Claude's stream events -> OpenAI ``chat.completion.chunk`` SSE, the chat codec's stream encoder.

:class:`ChatStream` encodes each event as soon as it arrives (no buffering of tokens), from
the event and the :class:`~vertexchat.fold.MessageFold` that the turn feeds it into; it
accumulates nothing of the message itself. Chunks carry what the non-streamed completion
carries (``reply.to_openai_completion`` of the fold's message), in this order: ``role``
first, then ``content``, ``reasoning_content`` (thinking text), ``thinking_blocks`` (one per
signed or redacted block, when it closes), ``tool_calls`` deltas indexed per client tool,
and the internal JSON tool's input as ``content``. The stream ends with the finishing chunk,
the usage chunk when ``stream_options.include_usage`` asked for it, then ``data: [DONE]``;
an error after the first byte goes in-band as ``data: {"error": ...}`` and then ``[DONE]``.

SSE encoding runs once per chunk at high concurrency, so the JSON encoder is built once and
the constant chunk envelope is cheap to build.

Tested in tests/test_streaming.py. Tested in tests/test_translate_properties.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vertexchat.errors import APIError, error_body
from vertexchat.fold import REDACTED, TEXT, THINKING, TOOL, Block, Event, MessageFold
from vertexchat.openai_chat.reply import finish_reason, usage_from_claude

JSON = dict[str, Any]

SSE_DONE = b"data: [DONE]\n\n"
HEARTBEAT = b": keep-alive\n\n"

# json.dumps builds a new encoder on every call when given options; this one is reused.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_sse(chunk: Mapping[str, Any]) -> bytes:
    """One SSE event: ``data: <compact json>`` and a blank line."""
    return f"data: {_encode(chunk)}\n\n".encode()


class ChatStream:
    """The chunks of one streamed completion; ``extra`` fields (the session id) go on the first and last."""

    heartbeat = HEARTBEAT

    def __init__(self, *, json_tool: str | None, completion_id: str, created: int, model: str,
                 include_usage: bool, extra: Mapping[str, Any] | None = None) -> None:
        self._extra = dict(extra or {})
        self._json_tool = json_tool
        self._id = completion_id
        self._created = created
        self._model = model
        self._include_usage = include_usage
        self._tool_index: dict[int, int] = {}  # Claude block index -> OpenAI tool_calls index
        self._json_blocks: set[int] = set()
        self._opened = False

    # The relay's side: SSE bytes.

    def event(self, event: Event, block: Block | None, fold: MessageFold) -> bytes:
        return b"".join(encode_sse(chunk) for chunk in self.chunks(event, block, fold))

    def end(self, fold: MessageFold) -> bytes:
        return b"".join(encode_sse(chunk) for chunk in self.final_chunks(fold)) + SSE_DONE

    def error(self, error: APIError) -> bytes:
        """An in-stream error: the OpenAI SDKs raise on a ``data:`` payload with ``error``."""
        return encode_sse(error_body(error)) + SSE_DONE

    # The pure encoding, chunk dicts.

    def chunks(self, event: Event, block: Block | None, fold: MessageFold) -> list[JSON]:
        """The chunks for one event already folded into ``fold`` (``block``: the block it touched)."""
        kind = event.get("type")
        if kind == "message_start" and not self._opened:
            self._opened = True
            return [{**self._chunk({"role": "assistant", "content": ""}), **self._extra}]
        if block is None:
            return []
        if kind == "content_block_start":
            return self._block_start(block)
        if kind == "content_block_delta":
            return self._delta(block, event.get("delta") or {})
        if kind == "content_block_stop":
            return self._block_stop(block)
        return []

    def final_chunks(self, fold: MessageFold) -> list[JSON]:
        """The finishing chunk (with ``finish_reason``) and, if asked for, the usage chunk."""
        chunks = [{**self._chunk({}, self.finish_reason(fold)), **self._extra}]
        if self._include_usage:
            chunks.append({**self._chunk({}), "choices": [], "usage": usage_from_claude(fold.usage)})
        return chunks

    def finish_reason(self, fold: MessageFold) -> str:
        json_answer = bool(self._json_blocks) and not self._tool_index
        return finish_reason(fold.stop_reason, json_mode=json_answer)

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }

    def _block_start(self, block: Block) -> list[JSON]:
        if block.kind == TEXT:
            return [self._chunk({"content": block.parts[0]})] if block.parts else []
        if block.kind == THINKING:
            return [self._chunk({"reasoning_content": block.parts[0]})] if block.parts else []
        if block.kind != TOOL:
            return []
        if block.block.get("name") == self._json_tool:
            self._json_blocks.add(block.index)
            return []
        tool_index = self._tool_index[block.index] = len(self._tool_index)
        call = {"index": tool_index, "id": block.block.get("id"), "type": "function",
                "function": {"name": block.block.get("name"), "arguments": ""}}
        return [self._chunk({"tool_calls": [call]})]

    def _delta(self, block: Block, delta: Mapping[str, Any]) -> list[JSON]:
        kind = delta.get("type")
        if kind == "text_delta" and block.kind == TEXT and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "thinking_delta" and block.kind == THINKING and delta.get("thinking"):
            return [self._chunk({"reasoning_content": delta["thinking"]})]
        if kind == "input_json_delta" and block.kind == TOOL and delta.get("partial_json"):
            return self._arguments(block, delta["partial_json"])
        return []

    def _arguments(self, block: Block, fragment: str) -> list[JSON]:
        if block.index in self._json_blocks:
            return [self._chunk({"content": fragment})]
        if block.index not in self._tool_index:
            return []
        call = {"index": self._tool_index[block.index], "function": {"arguments": fragment}}
        return [self._chunk({"tool_calls": [call]})]

    def _block_stop(self, block: Block) -> list[JSON]:
        data = block.block
        if block.kind == TOOL and not block.parts:
            # Claude streams no fragment for an empty input; clients parse arguments as JSON.
            return self._arguments(block, json.dumps(data.get("input") or {}))
        # Signed thinking goes out whole, so the client can send it back in a tool loop.
        if block.kind == THINKING and block.signature:
            signed = {"type": "thinking", "thinking": data["thinking"], "signature": block.signature}
            return [self._chunk({"thinking_blocks": [signed]})]
        if block.kind == REDACTED and data.get("data"):
            return [self._chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": data["data"]}]})]
        return []


def replay_chunks(completion: Mapping[str, Any], *, include_usage: bool) -> list[JSON]:
    """A finished ``chat.completion`` as the chunks of a stream.

    Used to replay a stored reply for a repeated ``Idempotency-Key`` without calling Vertex.
    """
    choice = completion["choices"][0]
    message = choice.get("message") or {}
    base = {key: completion.get(key) for key in ("id", "created", "model", "system_fingerprint")}

    def chunk(delta: JSON, finish: str | None = None) -> JSON:
        return {**base, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], "usage": None}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if message.get("reasoning_content"):
        chunks.append(chunk({"reasoning_content": message["reasoning_content"]}))
    if message.get("thinking_blocks"):
        chunks.append(chunk({"thinking_blocks": message["thinking_blocks"]}))
    if message.get("content"):
        chunks.append(chunk({"content": message["content"]}))
    for index, call in enumerate(message.get("tool_calls") or ()):
        chunks.append(chunk({"tool_calls": [{"index": index, **call}]}))
    chunks.append(chunk({}, choice.get("finish_reason")))
    if include_usage:
        chunks.append({**chunk({}), "choices": [], "usage": completion.get("usage")})
    return chunks
