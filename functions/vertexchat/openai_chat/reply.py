"""PURE: a Claude message -> an OpenAI ``chat.completion`` (and its message, finish reason, usage).

Replies. ``stop_reason`` maps by table (``FINISH_REASONS``); unknown future values map to
``stop``. Usage counts cached prompt tokens into ``prompt_tokens`` (Claude's
``input_tokens`` excludes them) and reports cache reads as ``cached_tokens`` and cache
writes as ``cache_write_tokens`` (both also under LiteLLM's names at the top of ``usage``);
``completion_tokens_details`` is omitted because Claude does not count reasoning tokens
separately. Signed thinking comes back as ``thinking_blocks`` so that a client can send it
back unchanged in a tool loop.

Tested in tests/test_translate.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vertexchat.fold import TokenCounts

JSON = dict[str, Any]

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def thinking_block(block: Mapping[str, Any]) -> JSON:
    """A signed thinking (or redacted thinking) block, exactly the fields Claude needs back."""
    if block["type"] == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block["data"]}
    return {"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]}


def finish_reason(stop_reason: str | None, *, json_mode: bool) -> str:
    """OpenAI ``finish_reason`` for a Claude ``stop_reason``.

    ``json_mode`` is true when the reply answered through the internal JSON tool (and
    called no client tool): that ``tool_use`` stop is a normal ``stop`` to the client.
    """
    if json_mode and stop_reason == "tool_use":
        return "stop"
    return FINISH_REASONS.get(stop_reason or "", "stop")


def usage_from_claude(usage: Mapping[str, Any] | None) -> JSON:
    """OpenAI ``usage`` from Claude's; cached prompt tokens count as prompt tokens."""
    counts = TokenCounts.of(usage)
    return {
        "prompt_tokens": counts.prompt,
        "completion_tokens": counts.output,
        "total_tokens": counts.prompt + counts.output,
        # cache_write_tokens: OpenRouter's name, read by OpenAI-compatible clients that price writes.
        "prompt_tokens_details": {"cached_tokens": counts.cache_read, "cache_write_tokens": counts.cache_write},
        # LiteLLM's names for the same two numbers (its Usage object carries them for Claude).
        "cache_read_input_tokens": counts.cache_read,
        "cache_creation_input_tokens": counts.cache_write,
    }


def to_openai_completion(message: Mapping[str, Any], *, json_tool: str | None, completion_id: str,
                         created: int, model: str) -> JSON:
    """A ``chat.completion`` from a complete Claude message (non-streamed or accumulated)."""
    reply, json_answer = openai_message(message.get("content") or [], json_tool=json_tool)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{
            "index": 0,
            "message": reply,
            "logprobs": None,
            "finish_reason": finish_reason(message.get("stop_reason"),
                                           json_mode=json_answer and "tool_calls" not in reply),
        }],
        "usage": usage_from_claude(message.get("usage")),
    }


def openai_message(blocks: list[JSON], *, json_tool: str | None) -> tuple[JSON, bool]:
    """The assistant message for Claude content blocks, and whether the JSON tool answered."""
    content: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[JSON] = []
    tool_calls: list[JSON] = []
    json_answer = False
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            content.append(block["text"])
        elif kind == "tool_use" and block["name"] == json_tool:
            json_answer = True
            content.append(json.dumps(block.get("input") or {}, ensure_ascii=False))
        elif kind == "tool_use":
            tool_calls.append(openai_tool_call(block))
        elif kind in ("thinking", "redacted_thinking"):
            reasoning.append(block.get("thinking") or "")
            if block.get("signature") or block.get("data"):
                thinking_blocks.append(thinking_block(block))
        # Other block types (server tools, future ones) have no OpenAI form and are skipped.
    return assistant_message("".join(content), tool_calls, "".join(reasoning), thinking_blocks), json_answer


def openai_tool_call(block: Mapping[str, Any]) -> JSON:
    """An OpenAI ``tool_calls`` entry for a Claude ``tool_use`` block."""
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)},
    }


def assistant_message(content: str, tool_calls: list[JSON], reasoning: str, thinking_blocks: list[JSON]) -> JSON:
    """The OpenAI assistant message; shared with the stream side so both shapes match."""
    # Empty fields are left out rather than sent empty, as OpenAI does for tool_calls.
    message: JSON = {"role": "assistant", "content": content or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    return message
