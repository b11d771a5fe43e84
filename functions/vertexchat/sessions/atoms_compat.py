"""PURE: sessions and messages in the shapes the old atomsAgent backend answered on ``/atoms``.

The atoms frontend reads these objects as atomsAgent's ``ChatSessionSummary`` and
``ChatMessageModel`` wrote them, so the ``/atoms/chat/sessions`` routes answer exactly
those fields (``/v1/sessions`` keeps its own, OpenAI-style shapes):

- Timestamps are ISO-8601 strings in UTC with milliseconds and ``Z``
  (``2025-11-05T09:14:03.512Z``): the ECMAScript date-time format, which ``new Date(...)``
  must parse. Unix seconds would be read as milliseconds there (a date in January 1970).
- ``tokens_in`` counts what OpenAI's ``prompt_tokens`` counts (cache reads and writes
  included), ``tokens_out`` the completion, ``tokens_total`` both.
- ``archived`` is always ``false``: vertexchat has no archive; expired sessions are gone.
- ``user_id`` is the caller's verified subject, the owner of the session.
- A message's ``content`` is its text (the text parts of a multi-part message, joined by
  newlines; ``""`` for an assistant turn that only calls tools). What a text cannot hold
  (``tool_calls``, ``tool_call_id``, ``name``, the finish reason, a status other than
  ``complete``, the ``seq`` of ``/v1/sessions/{id}/messages``) is in its ``metadata``.
- A message's ``id`` is a UUID, as atomsAgent's were: version 5, derived from the session's
  UUID and the message's seq, so it never changes.
- ``legacy_id``, the old frontend's own id of the session when it used one, is the one
  field atomsAgent did not have.

No I/O, no Flask.

Tested in tests/test_atoms_frontend.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from vertexchat.sessions.records import Session, StoredMessage, Usage

JSON = dict[str, Any]

# Message fields carried over into a compat message's metadata when present.
_MESSAGE_EXTRAS = ("name", "tool_calls", "tool_call_id")


def iso(moment: datetime) -> str:
    """``moment`` as ``YYYY-MM-DDTHH:mm:ss.sssZ`` (UTC), the ECMAScript date-time string format."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def session_json(session: Session) -> JSON:
    """atomsAgent's ``ChatSessionSummary`` for ``session``."""
    tokens_in, tokens_out = prompt_tokens(session.usage), session.usage.output
    return {
        "id": session.id,
        "user_id": session.owner,
        "organization_id": session.metadata.get("organization_id"),
        "title": session.title,
        "model": session.model,
        "agent_type": session.metadata.get("agent_type"),
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        # Every write of a message moves updated_at; a session without messages has no last one.
        "last_message_at": iso(session.updated_at) if session.message_count else None,
        "message_count": session.message_count,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "tokens_total": tokens_in + tokens_out,
        "metadata": dict(session.metadata),
        "archived": False,
        "legacy_id": session.legacy_id,
    }


def message_json(record: StoredMessage, session_id: str, index: int) -> JSON:
    """atomsAgent's ``ChatMessageModel`` for the ``index``-th message of the conversation."""
    message = record.message
    metadata: JSON = {key: message[key] for key in _MESSAGE_EXTRAS if message.get(key)}
    metadata["seq"] = record.seq
    if record.finish_reason:
        metadata["finish_reason"] = record.finish_reason
    if record.status != "complete":
        metadata["status"] = record.status
    usage = record.usage
    return {
        "id": str(uuid.uuid5(uuid.UUID(session_id), str(record.seq))),
        "message_index": index,
        "role": message.get("role"),
        "content": text_of(message.get("content")),
        "metadata": metadata,
        "tokens": prompt_tokens(usage) + usage.output if usage else None,
        "created_at": iso(record.created_at),
        "updated_at": None,
    }


def text_of(content: object) -> str:
    """The text of an OpenAI message ``content``: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part["text"] for part in content
                         if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"),
                                                                                                     str))
    return ""


def prompt_tokens(usage: Usage) -> int:
    """What OpenAI's ``prompt_tokens`` counts: the input, cache reads and cache writes."""
    return usage.input + usage.cache_read + usage.cache_write
