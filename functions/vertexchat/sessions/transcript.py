"""Exactly-once transcripts: which messages of a resent conversation are new.

OpenAI clients resend the whole conversation every turn. The store keeps each message
once, so it compares what a client sent with the stored conversation (the session's
*active path*: the chain of ``parent_seq`` links that ends at its head) and appends only
what follows the longest common prefix:

- ``sent`` extends the stored path: the rest of ``sent`` is new; nothing diverged.
- ``sent`` leaves the stored path at index ``i`` (an edited message, a regenerated reply,
  a retried turn after a partial answer): the rest of ``sent`` is a new *branch* whose
  first message has ``parent_seq`` = the seq of stored message ``i - 1`` (none when
  ``i == 0``). The old messages are kept; the active path now follows the new branch.
  Nothing is rewritten, deleted or stored twice on one path.

Messages are compared by :func:`fingerprint`, which ignores what clients routinely drop or
reshape when they echo an assistant message back: null fields, reasoning and thinking
blocks, ``refusal``/``annotations``/``audio``, a string versus a list of text parts,
surrounding whitespace, and the formatting of tool-call argument JSON.

Known limit: a client that changes its system prompt every turn (say, to include the time)
diverges at index 0 every turn and so stores one branch per turn.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any


def fingerprint(message: Mapping[str, Any]) -> str:
    """A stable digest of what a message *says*, for comparing stored and resent messages."""
    normal = {
        "role": message.get("role"),
        "content": _content(message.get("content")),
        "tool_calls": [_tool_call(call) for call in message.get("tool_calls") or () if isinstance(call, Mapping)],
        "tool_call_id": message.get("tool_call_id"),
        "name": message.get("name"),
    }
    encoded = json.dumps(normal, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def common_prefix(stored: Sequence[str], sent: Sequence[str]) -> int:
    """The length of the longest common prefix of two fingerprint sequences."""
    n = 0
    for a, b in zip(stored, sent, strict=False):
        if a != b:
            break
        n += 1
    return n


def new_messages(stored: Sequence[Mapping[str, Any]],
                 sent: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], int | None]:
    """``(to_append, diverged_at)`` for a conversation ``sent`` against the ``stored`` path.

    ``to_append`` is the part of ``sent`` after the longest common prefix. ``diverged_at``
    is ``None`` when ``sent`` continues the whole stored path, else the index in ``stored``
    where it leaves it: the new messages then start a branch after ``stored[diverged_at - 1]``
    (or a new root when it is 0). A ``sent`` that is a strict prefix of ``stored`` (a
    regenerated reply) has nothing to append and diverges at ``len(sent)``.
    """
    common = common_prefix([fingerprint(m) for m in stored], [fingerprint(m) for m in sent])
    diverged_at = None if common == len(stored) else common
    return [dict(m) for m in sent[common:]], diverged_at


def active_path(parents: Mapping[int, int | None], head: int | None) -> list[int]:
    """The seqs from the root to ``head``, following ``parents`` (seq -> parent seq).

    Stops at a missing link (an expired or unknown parent) instead of failing, and never
    loops: a corrupt chain yields the part that could be followed.
    """
    path: list[int] = []
    seen: set[int] = set()
    current = head
    while current is not None and current in parents and current not in seen:
        seen.add(current)
        path.append(current)
        current = parents[current]
    path.reverse()
    return path


def _content(content: object) -> list[list[str]]:
    if content is None:
        return []
    if isinstance(content, str):
        return _text_part(content)
    if not isinstance(content, list):
        return [["value", _canonical(content)]]
    parts: list[list[str]] = []
    pending_text: list[str] = []
    for part in content:
        if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
            pending_text.append(part["text"])
            continue
        parts.extend(_text_part("".join(pending_text)))
        pending_text = []
        parts.append(_other_part(part))
    parts.extend(_text_part("".join(pending_text)))
    return parts


def _text_part(text: str) -> list[list[str]]:
    stripped = text.strip()
    return [["text", stripped]] if stripped else []


def _other_part(part: object) -> list[str]:
    if isinstance(part, Mapping) and part.get("type") == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        return ["image", str(url)]
    if isinstance(part, Mapping):
        return ["part", _canonical({k: v for k, v in part.items() if v is not None})]
    return ["value", _canonical(part)]


def _tool_call(call: Mapping[str, Any]) -> list[str | None]:
    function = call.get("function")
    function = function if isinstance(function, Mapping) else {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = _canonical(json.loads(arguments))
        except ValueError:
            arguments = arguments.strip()
    elif arguments is not None:
        arguments = _canonical(arguments)
    return [call.get("id"), function.get("name"), arguments]


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
