"""PURE: turn a Reply into Claude's message JSON and into the SSE events that stream the same message.

Both forms come from one list of materialized blocks, so a streamed reply folds back into exactly
the message a non-streaming request would get (the tests check this with the SDK's own accumulator).
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local.vertex_sim.steps import Reply

ECHO_LIMIT = 200
FILLER = ("lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit")
_ALPHANUMERIC = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Block:
    """A response content block as it appears in the message, with the deltas that stream it."""

    public: dict[str, Any]
    start: dict[str, Any]
    deltas: tuple[dict[str, Any], ...]


def random_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def split_words(text: str) -> list[str]:
    """Split text into one-word pieces (trailing whitespace attached) that concatenate back to it."""
    return re.findall(r"\s*\S+\s*|\s+", text)


def split_json(text: str, pieces: int = 3) -> list[str]:
    """Split serialized JSON into fragments; the leading empty fragment mirrors what Claude sends."""
    size = max(1, -(-len(text) // pieces))
    return ["", *(text[i : i + size] for i in range(0, len(text), size))]


def _text_block(raw: Mapping[str, Any]) -> Block:
    text = raw.get("text", "".join(raw.get("chunks") or []))
    chunks = raw.get("chunks") or split_words(text)
    deltas = tuple({"type": "text_delta", "text": chunk} for chunk in chunks)
    return Block({"type": "text", "text": text}, {"type": "text", "text": ""}, deltas)


def _tool_use_block(raw: Mapping[str, Any]) -> Block:
    chunks = raw.get("chunks")
    tool_input = raw["input"] if "input" in raw else json.loads("".join(chunks or []) or "{}")
    tool_id = raw.get("id") or random_id("toolu_vrtx_")
    public = {"type": "tool_use", "id": tool_id, "name": raw.get("name", "tool"), "input": tool_input}
    fragments = chunks if chunks is not None else split_json(json.dumps(tool_input))
    deltas = tuple({"type": "input_json_delta", "partial_json": fragment} for fragment in fragments)
    return Block(public, {**public, "input": {}}, deltas)


def _thinking_block(raw: Mapping[str, Any]) -> Block:
    thinking = raw.get("thinking", "".join(raw.get("chunks") or []))
    signature = raw.get("signature") or random_id("EqoBCkgIARABGAIiQ", 64)
    chunks = raw.get("chunks") or split_words(thinking)
    deltas = [{"type": "thinking_delta", "thinking": chunk} for chunk in chunks]
    deltas.append({"type": "signature_delta", "signature": signature})
    public = {"type": "thinking", "thinking": thinking, "signature": signature}
    return Block(public, {"type": "thinking", "thinking": "", "signature": ""}, tuple(deltas))


def _redacted_thinking_block(raw: Mapping[str, Any]) -> Block:
    public = {"type": "redacted_thinking", "data": raw.get("data", "")}
    return Block(public, dict(public), ())


BLOCK_BUILDERS: dict[str, Callable[[Mapping[str, Any]], Block]] = {
    "text": _text_block,
    "tool_use": _tool_use_block,
    "thinking": _thinking_block,
    "redacted_thinking": _redacted_thinking_block,
}


@dataclass(frozen=True)
class Rendered:
    """One reply in both wire forms."""

    message: dict[str, Any]
    events: list[dict[str, Any]]


def render(reply: Reply, *, model: str, billed: Mapping[str, Any]) -> Rendered:
    """Build the message and its event stream; defaults fill whatever the reply leaves out.

    `billed` is the input side of the usage (from the prompt cache); the reply's own `usage`, when
    scripted, overrides any of it.
    """
    blocks = [BLOCK_BUILDERS[raw["type"]](raw) for raw in reply.content]
    delta_count = sum(len(block.deltas) for block in blocks)
    usage = {**billed, "output_tokens": delta_count + 1, **reply.usage}
    has_tool_use = any(block.public["type"] == "tool_use" for block in blocks)
    message = {
        "id": reply.id or random_id("msg_vrtx_"),
        "type": "message",
        "role": "assistant",
        "model": reply.model or model,
        "content": [block.public for block in blocks],
        "stop_reason": reply.stop_reason or ("tool_use" if has_tool_use else "end_turn"),
        "stop_sequence": reply.stop_sequence,
        "usage": usage,
    }
    if reply.events is not None:
        return Rendered(message, [dict(event) for event in reply.events])
    return Rendered(message, _events(message, blocks, omit_stop=reply.omit_message_stop))


def _events(message: dict[str, Any], blocks: list[Block], *, omit_stop: bool) -> list[dict[str, Any]]:
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}, {"type": "ping"}]
    for index, block in enumerate(blocks):
        events.append({"type": "content_block_start", "index": index, "content_block": block.start})
        events.extend({"type": "content_block_delta", "index": index, "delta": delta} for delta in block.deltas)
        events.append({"type": "content_block_stop", "index": index})
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    events.append({"type": "message_delta", "delta": delta, "usage": {"output_tokens": usage["output_tokens"]}})
    if not omit_stop:
        events.append({"type": "message_stop"})
    return events


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last user message, for the echo reply."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            blocks = content if isinstance(content, list) else []
            return " ".join(b["text"] for b in blocks if isinstance(b, Mapping) and isinstance(b.get("text"), str))
    return ""


def echo_reply(body: Mapping[str, Any], deltas: int | None) -> Reply:
    """The unscripted answer: echo the prompt so a test can see its request went through.

    With `deltas` set (benchmarks), the text streams as exactly that many deltas of a few words.
    """
    said = last_user_text(body).strip()[:ECHO_LIMIT].strip() or "(no text)"
    text = f"You said: {said}"
    if deltas is None:
        return Reply(content=({"type": "text", "text": text},))
    chunks = [text, *(" " + " ".join(_filler(i)) for i in range(max(0, deltas - 1)))]
    return Reply(content=({"type": "text", "text": "".join(chunks[:deltas]), "chunks": chunks[:deltas]},))


def _filler(index: int) -> tuple[str, str, str]:
    start = (3 * index) % len(FILLER)
    return FILLER[start], FILLER[(start + 1) % len(FILLER)], FILLER[(start + 2) % len(FILLER)]
