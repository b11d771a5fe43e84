"""Opaque pagination cursors: base64url of a small JSON list, checked on the way back in.

A cursor that does not decode to the expected shape is a 400 naming ``after``.

Pure: no I/O.

Tested in tests/test_sessions_store.py.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from vertexchat.errors import InvalidRequestError
from vertexchat.sessions import ids as session_ids

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def session_cursor(updated_at: datetime, session_id: str) -> str:
    """The cursor after a session in the newest-first listing (exact to the microsecond)."""
    return _encode([(updated_at - _EPOCH) // timedelta(microseconds=1), session_id])


def parse_session_cursor(raw: str) -> tuple[datetime, str]:
    """``(updated_at, session_id)`` of a :func:`session_cursor`."""
    values = _decode(raw)
    if len(values) != 2 or not _is_int(values[0]) or not isinstance(values[1], str) \
            or not session_ids.is_uuid(values[1]):
        raise _bad()
    try:
        return _EPOCH + timedelta(microseconds=values[0]), values[1]
    except OverflowError:
        raise _bad() from None


def message_cursor(seq: int) -> str:
    """The cursor after message ``seq``."""
    return _encode([seq])


def parse_message_cursor(raw: str) -> int:
    """The seq of a :func:`message_cursor`."""
    values = _decode(raw)
    if len(values) != 1 or not _is_int(values[0]) or values[0] < 0:
        raise _bad()
    return int(values[0])


def _encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(raw: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error):
        values = None
    if not isinstance(values, list):
        raise _bad()
    return values


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad() -> InvalidRequestError:
    return InvalidRequestError("after is not a cursor this API returned.", param="after")
