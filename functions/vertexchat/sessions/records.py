"""The records of the session store, as its callers see them: plain frozen dataclasses.

Also the limits on what clients may put in a session (title, model, metadata) and
:func:`check_metadata`, which enforces them with a 400 naming the field.

Pure: no I/O.

Tested in tests/test_sessions_store.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from vertexchat.errors import InvalidRequestError

JSON = dict[str, Any]
T = TypeVar("T")

MAX_TITLE_CHARS = 256
MAX_MODEL_CHARS = 128
MAX_METADATA_KEYS = 16
MAX_METADATA_BYTES = 8 * 1024


@dataclass(frozen=True)
class Usage:
    """Token counts, Claude's way: ``input`` excludes the cache reads and writes."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def plus(self, other: Usage) -> Usage:
        return Usage(self.input + other.input, self.output + other.output,
                     self.cache_read + other.cache_read, self.cache_write + other.cache_write)

    def as_dict(self) -> dict[str, int]:
        return {"input": self.input, "output": self.output, "cache_read": self.cache_read,
                "cache_write": self.cache_write}

    @classmethod
    def from_dict(cls, raw: object) -> Usage:
        if not isinstance(raw, Mapping):
            return cls()
        return cls(*(int(raw.get(k) or 0) for k in ("input", "output", "cache_read", "cache_write")))


@dataclass(frozen=True)
class Session:
    """A session as its owner sees it."""

    id: str
    owner: str
    title: str | None
    model: str | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    message_count: int
    usage: Usage
    legacy_id: str | None
    head_seq: int | None
    expire_at: datetime | None


@dataclass(frozen=True)
class SessionRef:
    """What :meth:`SessionStore.open_turn` hands the chat: the session it may write to."""

    id: str
    owner: str
    legacy_id: str | None
    created: bool


@dataclass(frozen=True)
class StoredMessage:
    """One stored message: the OpenAI-shaped ``message`` exactly as sent or produced, and its record."""

    seq: int
    parent_seq: int | None
    message: JSON
    status: str
    finish_reason: str | None
    model: str | None
    usage: Usage | None
    request_id: str | None
    created_at: datetime

    @property
    def id(self) -> str:
        return message_doc_id(self.seq)


@dataclass(frozen=True)
class Sync:
    """The outcome of :meth:`SessionStore.record_conversation`.

    ``appended``: seqs of the messages that were new. ``head_seq``: the seq the reply
    should follow (pass it as ``parent_seq`` to :meth:`SessionStore.append`). ``diverged_at``:
    ``None`` when the client continued the stored conversation, else the index in it where
    the client's conversation left it (a new branch was started there).
    """

    appended: list[int]
    head_seq: int | None
    diverged_at: int | None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is the opaque ``after`` of the next page."""

    data: list[T]
    has_more: bool
    next_cursor: str | None


class _Unset:
    pass


UNSET: Any = _Unset()


def message_doc_id(seq: int) -> str:
    """Message document ids sort like their seqs and make a write at a seq idempotent."""
    return f"{seq:012d}"


def check_metadata(value: object, param: str = "metadata") -> dict[str, str]:
    """Client metadata: at most 16 string keys (1-64 chars) to strings (<= 512 chars), 8 KiB in all."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{param} must be an object of strings.", param=param)
    if len(value) > MAX_METADATA_KEYS:
        raise InvalidRequestError(f"{param} has more than {MAX_METADATA_KEYS} keys.", param=param)
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 64 or (key.startswith("__") and key.endswith("__")):
            raise InvalidRequestError(f"{param} keys must be strings of 1 to 64 characters, not __name__.",
                                      param=param)
        if not isinstance(item, str) or len(item) > 512:
            raise InvalidRequestError(f"{param}.{key} must be a string of at most 512 characters.", param=param)
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")) > MAX_METADATA_BYTES:
        raise InvalidRequestError(f"{param} is larger than {MAX_METADATA_BYTES} bytes.", param=param)
    return dict(value)
