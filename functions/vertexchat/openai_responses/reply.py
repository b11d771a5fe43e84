"""PURE: a Claude message -> an OpenAI ``response`` object, for the non-streamed reply and the stream's events.

One :class:`ResponseBuilder` per response holds its id, its creation time, the request's
echoed fields and the ids of its output items, so the streamed events, the final
``response.completed`` and the stored response all name the same items.

Output items, one per Claude content block, in order: ``text`` -> a ``message`` with one
``output_text`` part; ``tool_use`` -> a ``function_call`` (``call_id`` is Claude's tool_use
id); the structured-output tool (``text.format``) -> a ``message`` whose text is the JSON;
``thinking`` / ``redacted_thinking`` -> a ``reasoning`` item whose summary is the thinking
text, with ``encrypted_content`` (the signed block, see ``items.py``) when ``include`` asks
for ``reasoning.encrypted_content``. Other blocks (server tools) have no Responses form.

Status: ``max_tokens`` (and a full context window) -> ``incomplete`` with reason
``max_output_tokens``; ``refusal`` -> ``incomplete`` with ``content_filter``; otherwise
``completed``. Usage counts cached prompt tokens as input tokens (Claude's ``input_tokens``
excludes them), cache reads as ``cached_tokens`` and cache writes as ``cache_write_tokens``;
``reasoning_tokens`` is 0 because Claude does not count thinking apart.

Tested in tests/test_responses_codec.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from vertexchat.fold import TokenCounts
from vertexchat.openai_responses.items import encrypt_thinking, new_item_id

JSON = dict[str, Any]

INCOMPLETE_REASONS = {"max_tokens": "max_output_tokens", "model_context_window_exceeded": "max_output_tokens",
                      "refusal": "content_filter"}


def usage(claude: Mapping[str, Any] | None) -> JSON:
    """Responses ``usage`` from Claude's."""
    counts = TokenCounts.of(claude)
    return {"input_tokens": counts.prompt,
            "input_tokens_details": {"cached_tokens": counts.cache_read, "cache_write_tokens": counts.cache_write},
            "output_tokens": counts.output, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": counts.prompt + counts.output}


class ResponseBuilder:
    """The response object of one request, whole or as far as a stream got."""

    def __init__(self, *, model: str, echo: Mapping[str, Any], json_tool: str | None, encrypted_reasoning: bool,
                 extra: Mapping[str, Any] | None = None) -> None:
        self.id = f"resp_{uuid.uuid4().hex}"
        self.created_at = int(time.time())
        self.model = model
        self.echo = dict(echo)
        self.json_tool = json_tool
        self.encrypted_reasoning = encrypted_reasoning
        self.extra = dict(extra or {})
        self._ids: dict[int, str] = {}
        self.last: JSON | None = None  # the latest response object built (what is stored)

    def item_id(self, index: int, kind: str) -> str:
        if index not in self._ids:
            self._ids[index] = new_item_id(kind)
        return self._ids[index]

    def frame(self, status: str, *, output: list[JSON] | None = None, claude_usage: Mapping[str, Any] | None = None,
              error: JSON | None = None, incomplete_reason: str | None = None) -> JSON:
        """The response object around ``output``."""
        return {
            "id": self.id, "object": "response", "created_at": self.created_at, "status": status,
            "error": error, "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
            **self.echo, "model": self.model, "output": output or [], "truncation": "disabled",
            "usage": usage(claude_usage) if claude_usage is not None else None, **self.extra,
        }

    def response(self, message: Mapping[str, Any]) -> JSON:
        """The response object for a Claude message (complete, or cut short by the stream)."""
        stop = message.get("stop_reason")
        reason = INCOMPLETE_REASONS.get(str(stop))
        status = "incomplete" if reason else "completed"
        body = self.frame(status, output=self.output(message.get("content") or []),
                          claude_usage=message.get("usage"), incomplete_reason=reason)
        self.last = body
        return body

    def output(self, blocks: list[JSON]) -> list[JSON]:
        items = (self.item(index, block) for index, block in enumerate(blocks))
        return [item for item in items if item is not None]

    def item(self, index: int, block: Mapping[str, Any], status: str = "completed") -> JSON | None:
        """The output item for one content block (None for blocks without a Responses form)."""
        kind = block.get("type")
        if kind == "text":
            return self.message_item(index, block.get("text") or "", status)
        if kind == "tool_use" and block.get("name") == self.json_tool:
            return self.message_item(index, json.dumps(block.get("input") or {}, ensure_ascii=False), status)
        if kind == "tool_use":
            return {"id": self.item_id(index, "function_call"), "type": "function_call", "status": status,
                    "call_id": block.get("id"), "name": block.get("name"),
                    "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)}
        if kind in ("thinking", "redacted_thinking"):
            return self.reasoning_item(index, block)
        return None

    def message_item(self, index: int, text: str | None, status: str = "completed") -> JSON:
        content = [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
        return {"id": self.item_id(index, "message"), "type": "message", "status": status, "role": "assistant",
                "content": content}

    def reasoning_item(self, index: int, block: Mapping[str, Any], *, final: bool = True) -> JSON:
        thinking = block.get("thinking") or ""
        item: JSON = {"id": self.item_id(index, "reasoning"), "type": "reasoning",
                      "summary": [{"type": "summary_text", "text": thinking}] if thinking and final else []}
        if final and self.encrypted_reasoning and (block.get("signature") or block.get("data")):
            item["encrypted_content"] = encrypt_thinking(block)
        return item
