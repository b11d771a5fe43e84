"""Test helpers for the chat stream: the fold and the chunk encoder driven together, and ``assemble``.

Production code never needs these: the relay feeds the fold and the encoder itself, and the
turn stores the reply from the fold. Tests use them to check that chunks and completions agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vertexchat.errors import UpstreamError
from vertexchat.fold import TEXT, TOOL, MessageFold
from vertexchat.openai_chat.chunks import ChatStream
from vertexchat.openai_chat.reply import assistant_message, to_openai_completion, usage_from_claude
from vertexchat.openai_chat.request import ClaudeRequest

JSON = dict[str, Any]


class StreamTranslator:
    """The fold and the chat encoder over one stream, as the relay drives them."""

    def __init__(self, request: ClaudeRequest, completion_id: str, created: int, model: str,
                 include_usage: bool, *, extra: Mapping[str, Any] | None = None) -> None:
        self.request = request
        self.fold = MessageFold()
        self.stream = ChatStream(json_tool=request.json_tool, completion_id=completion_id, created=created,
                                 model=model, include_usage=include_usage, extra=extra)
        self._id, self._created, self._model = completion_id, created, model

    def feed(self, event: Mapping[str, Any]) -> list[JSON]:
        block = self.fold.feed(event)
        return self.stream.chunks(event, block, self.fold)

    def finish(self) -> list[JSON]:
        if not self.fold.complete:
            raise UpstreamError("The Vertex AI stream ended before the reply was complete.")
        return self.stream.final_chunks(self.fold)

    @property
    def message(self) -> JSON:
        return self.fold.message

    @property
    def saw_message_stop(self) -> bool:
        return self.fold.complete

    @property
    def text(self) -> str:
        """The ``content`` sent so far: text blocks and the internal JSON tool's input."""
        json_tool = self.request.json_tool
        parts = []
        for block in (self.fold.block(i) for i in range(len(self.fold.message["content"]))):
            if block is None:
                continue
            if block.kind == TEXT or (block.kind == TOOL and block.block.get("name") == json_tool):
                parts.append(block.text)
        return "".join(parts)

    @property
    def usage(self) -> JSON | None:
        return usage_from_claude(self.fold.usage) if self.fold.usage is not None else None

    @property
    def finish_reason(self) -> str:
        return self.stream.finish_reason(self.fold)

    def completion(self) -> JSON:
        return to_openai_completion(self.fold.message, json_tool=self.request.json_tool,
                                    completion_id=self._id, created=self._created, model=self._model)


def assemble(chunks: Iterable[Mapping[str, Any]]) -> JSON:
    """Fold OpenAI chunks back into a ``chat.completion``-shaped dict."""
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


def _merge_call(calls: dict[int, JSON], delta: Mapping[str, Any]) -> None:
    call = calls.setdefault(delta["index"], {"id": None, "type": "function",
                                             "function": {"name": "", "arguments": ""}})
    if delta.get("id"):
        call["id"] = delta["id"]
    function = delta.get("function") or {}
    if function.get("name"):
        call["function"]["name"] = function["name"]
    call["function"]["arguments"] += function.get("arguments") or ""
