"""PURE stream conversion: Claude's streaming events -> OpenAI ``chat.completion.chunk`` dicts.

A :class:`StreamTranslator` is a fold over one stream's events, in the manner of the
anthropic SDK's ``accumulate_event``: :meth:`StreamTranslator.feed` returns the chunks to
send for an event as soon as it arrives (no buffering of tokens), and meanwhile the full
Claude message is accumulated for storage. :meth:`StreamTranslator.finish` ends the
stream; a stream that never reached ``message_stop`` is an error, never a normal stop.

Chunks carry what the non-streamed completion carries, so that :func:`assemble` of a
stream equals :func:`vertexchat.translate.to_openai_completion` of its message:
``role`` first, then ``content``, ``reasoning_content`` (thinking text),
``thinking_blocks`` (one per signed or redacted block, when it closes), ``tool_calls``
deltas indexed per client tool, and the internal JSON tool's input as ``content``.

SSE encoding lives here too: it runs once per chunk at high concurrency, so the encoder
is built once and the constant chunk envelope is cheap to build.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from vertexchat.errors import UpstreamError, classify_upstream
from vertexchat.openai_schema import JSON
from vertexchat.translate import ClaudeRequest, assistant_message, finish_reason, usage_from_claude

SSE_DONE = b"data: [DONE]\n\n"
HEARTBEAT = b": keep-alive\n\n"

# json.dumps builds a new encoder on every call when given options; this one is reused.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_sse(chunk: Mapping[str, Any]) -> bytes:
    """One SSE event: ``data: <compact json>`` and a blank line."""
    return f"data: {_encode(chunk)}\n\n".encode()


def encode_sse_error(body: Mapping[str, Any]) -> bytes:
    """An in-stream error (an OpenAI error body); the OpenAI SDKs raise on a ``data:`` with ``error``."""
    return encode_sse(body)


class _Block:
    """One content block being streamed: its accumulated dict and the pieces still to join."""

    __slots__ = ("block", "kind", "parts", "signature", "tool_index")

    def __init__(self, block: JSON, kind: str, parts: list[str], tool_index: int = -1) -> None:
        self.block = block
        self.kind = kind  # text, thinking, redacted_thinking, tool, json (internal JSON tool) or other
        self.parts = parts  # joined on demand: += on a long string would copy it per delta
        self.signature: str | None = block.get("signature") if kind == "thinking" else None
        self.tool_index = tool_index

    def close(self) -> None:
        """Write the accumulated pieces into the block dict (idempotent)."""
        if self.kind == "text":
            self.block["text"] = "".join(self.parts)
        elif self.kind == "thinking":
            self.block["thinking"] = "".join(self.parts)
            self.block["signature"] = self.signature
        elif self.kind in ("tool", "json") and self.parts:
            self.block["input"] = _parse_input("".join(self.parts))


def _parse_input(text: str) -> JSON:
    # A stream cut mid-call leaves partial JSON; the stored message keeps an empty input then.
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


Event = Mapping[str, Any]
_Handler = Callable[["StreamTranslator", Event], list[JSON]]


class StreamTranslator:
    """Translate one Claude event stream into OpenAI chunks, accumulating the message."""

    _handlers: ClassVar[dict[str, _Handler]]
    _delta_handlers: ClassVar[dict[str, Callable[[StreamTranslator, _Block, Event], list[JSON]]]]

    def __init__(self, request: ClaudeRequest, completion_id: str, created: int, model: str,
                 include_usage: bool, *, extra: Mapping[str, Any] | None = None) -> None:
        # Extra top-level fields (the session id) go on the first and the finishing chunk only.
        self._extra = dict(extra or {})
        self._json_tool = request.json_tool
        self._id = completion_id
        self._created = created
        self._model = model
        self._include_usage = include_usage
        self._message: JSON | None = None
        self._blocks: dict[int, _Block] = {}
        self._tool_count = 0
        self._json_answer = False
        self._saw_stop = False

    def feed(self, event: Event) -> list[JSON]:
        """The chunks to send for one Claude event (none for ping and unknown events).

        An ``error`` event raises the mapped :mod:`vertexchat.errors` exception.
        """
        handler = self._handlers.get(event.get("type", ""))
        return handler(self, event) if handler else []

    def finish(self) -> list[JSON]:
        """The final chunk (with ``finish_reason``) and, if asked for, the usage chunk.

        Raises UpstreamError when the stream ended without ``message_stop``.
        """
        if not self._saw_stop:
            raise UpstreamError("The Vertex AI stream ended before the reply was complete.")
        chunks = [{**self._chunk({}, self.finish_reason), **self._extra}]
        if self._include_usage:
            chunks.append({**self._chunk({}), "choices": [], "usage": self.usage})
        return chunks

    @property
    def message(self) -> JSON:
        """The Claude message accumulated so far (complete once ``message_stop`` was seen)."""
        if self._message is None:
            return {"type": "message", "role": "assistant", "content": [], "stop_reason": None, "usage": {}}
        for state in self._blocks.values():
            state.close()
        return self._message

    @property
    def saw_message_stop(self) -> bool:
        """Whether the upstream finished the message properly."""
        return self._saw_stop

    @property
    def text(self) -> str:
        """The ``content`` sent to the client so far, also when the stream broke."""
        return "".join(part for state in self._blocks.values() if state.kind in ("text", "json")
                       for part in state.parts)

    @property
    def finish_reason(self) -> str:
        """The OpenAI finish_reason for what has been seen so far."""
        stop_reason = self._message.get("stop_reason") if self._message else None
        return finish_reason(stop_reason, json_mode=self._json_answer and self._tool_count == 0)

    @property
    def usage(self) -> JSON | None:
        """OpenAI usage from the usage seen so far; None before ``message_start``."""
        return usage_from_claude(self._message.get("usage")) if self._message else None

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

    def _started(self) -> JSON:
        if self._message is None:
            raise UpstreamError("The Vertex AI stream sent content before message_start.")
        return self._message

    def _on_message_start(self, event: Event) -> list[JSON]:
        if self._message is not None:  # a repeated start would reset what was already sent
            return []
        message = dict(event.get("message") or {})
        message["content"] = []
        message["usage"] = dict(message.get("usage") or {})
        self._message = message
        return [{**self._chunk({"role": "assistant", "content": ""}), **self._extra}]

    def _on_block_start(self, event: Event) -> list[JSON]:
        content: list[JSON] = self._started()["content"]
        block = dict(event.get("content_block") or {})
        content.append(block)
        index = event.get("index", len(content) - 1)
        kind = block.get("type", "")
        if kind == "text":
            return self._open(index, _Block(block, kind, [block.get("text") or ""]), "content")
        if kind == "thinking":
            return self._open(index, _Block(block, kind, [block.get("thinking") or ""]), "reasoning_content")
        if kind == "tool_use" and block.get("name") == self._json_tool:
            self._json_answer = True
            self._blocks[index] = _Block(block, "json", [])
            return []
        if kind == "tool_use":
            return self._open_tool(index, block)
        self._blocks[index] = _Block(block, kind if kind == "redacted_thinking" else "other", [])
        return []

    def _open(self, index: int, state: _Block, field: str) -> list[JSON]:
        self._blocks[index] = state
        initial = state.parts[0]
        return [self._chunk({field: initial})] if initial else []

    def _open_tool(self, index: int, block: JSON) -> list[JSON]:
        tool_index = self._tool_count
        self._tool_count += 1
        self._blocks[index] = _Block(block, "tool", [], tool_index)
        call = {"index": tool_index, "id": block.get("id"), "type": "function",
                "function": {"name": block.get("name"), "arguments": ""}}
        return [self._chunk({"tool_calls": [call]})]

    def _on_block_delta(self, event: Event) -> list[JSON]:
        state = self._blocks.get(event.get("index", -1))
        delta = event.get("delta") or {}
        handler = self._delta_handlers.get(delta.get("type", ""))
        # Deltas for unknown blocks, unknown delta types and citations have no OpenAI form.
        return handler(self, state, delta) if handler and state else []

    def _on_text(self, state: _Block, delta: Event) -> list[JSON]:
        text = delta.get("text") or ""
        if state.kind != "text" or not text:
            return []
        state.parts.append(text)
        return [self._chunk({"content": text})]

    def _on_thinking(self, state: _Block, delta: Event) -> list[JSON]:
        thinking = delta.get("thinking") or ""
        if state.kind != "thinking" or not thinking:
            return []
        state.parts.append(thinking)
        return [self._chunk({"reasoning_content": thinking})]

    def _on_signature(self, state: _Block, delta: Event) -> list[JSON]:
        if state.kind == "thinking":
            state.signature = delta.get("signature")
        return []

    def _on_input_json(self, state: _Block, delta: Event) -> list[JSON]:
        fragment = delta.get("partial_json") or ""
        if not fragment or state.kind not in ("tool", "json"):
            return []
        state.parts.append(fragment)
        if state.kind == "json":
            return [self._chunk({"content": fragment})]
        return [self._chunk({"tool_calls": [{"index": state.tool_index, "function": {"arguments": fragment}}]})]

    def _on_block_stop(self, event: Event) -> list[JSON]:
        state = self._blocks.get(event.get("index", -1))
        if state is None:
            return []
        state.close()
        block = state.block
        if state.kind in ("tool", "json") and not state.parts:
            # Claude streams no fragment for an empty input; clients parse arguments as JSON.
            return self._on_input_json(state, {"partial_json": json.dumps(block.get("input") or {})})
        # Signed thinking goes out whole, so the client can send it back in a tool loop.
        if state.kind == "thinking" and state.signature:
            signed = {"type": "thinking", "thinking": block["thinking"], "signature": state.signature}
            return [self._chunk({"thinking_blocks": [signed]})]
        if state.kind == "redacted_thinking" and block.get("data"):
            return [self._chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": block["data"]}]})]
        return []

    def _on_message_delta(self, event: Event) -> list[JSON]:
        message = self._started()
        delta = event.get("delta") or {}
        for key in ("stop_reason", "stop_sequence"):
            if key in delta:
                message[key] = delta[key]
        # message_delta usage is cumulative; absent or null counters keep message_start's values.
        message["usage"].update((k, v) for k, v in (event.get("usage") or {}).items() if v is not None)
        return []

    def _on_message_stop(self, event: Event) -> list[JSON]:
        self._started()
        self._saw_stop = True
        return []

    def _on_error(self, event: Event) -> list[JSON]:
        error = event.get("error") or {}
        raise classify_upstream(None, error.get("type"), str(error.get("message") or ""))


StreamTranslator._handlers = {
    "message_start": StreamTranslator._on_message_start,
    "content_block_start": StreamTranslator._on_block_start,
    "content_block_delta": StreamTranslator._on_block_delta,
    "content_block_stop": StreamTranslator._on_block_stop,
    "message_delta": StreamTranslator._on_message_delta,
    "message_stop": StreamTranslator._on_message_stop,
    "error": StreamTranslator._on_error,
}
StreamTranslator._delta_handlers = {
    "text_delta": StreamTranslator._on_text,
    "thinking_delta": StreamTranslator._on_thinking,
    "signature_delta": StreamTranslator._on_signature,
    "input_json_delta": StreamTranslator._on_input_json,
}


def assemble(chunks: Iterable[Mapping[str, Any]]) -> JSON:
    """Fold OpenAI chunks back into a ``chat.completion``-shaped dict (for tests and replay)."""
    content: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[JSON] = []
    calls: dict[int, JSON] = {}
    finish: str | None = None
    usage: JSON | None = None
    head: Mapping[str, Any] = {}
    for chunk in chunks:
        head = head or chunk
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            thinking_blocks.extend(delta.get("thinking_blocks") or ())
            for call in delta.get("tool_calls") or ():
                _merge_call(calls, call)
            finish = choice.get("finish_reason") or finish
    message = assistant_message("".join(content), [calls[i] for i in sorted(calls)], "".join(reasoning),
                                thinking_blocks)
    return {
        "id": head.get("id"),
        "object": "chat.completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "system_fingerprint": head.get("system_fingerprint"),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
    }


def replay_chunks(completion: Mapping[str, Any], *, include_usage: bool) -> list[JSON]:
    """A finished ``chat.completion`` as the chunks of a stream (``assemble`` folds them back).

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


def _merge_call(calls: dict[int, JSON], delta: Mapping[str, Any]) -> None:
    call = calls.setdefault(delta["index"], {"id": None, "type": "function",
                                             "function": {"name": "", "arguments": ""}})
    if delta.get("id"):
        call["id"] = delta["id"]
    function = delta.get("function") or {}
    if function.get("name"):
        call["function"]["name"] = function["name"]
    call["function"]["arguments"] += function.get("arguments") or ""
