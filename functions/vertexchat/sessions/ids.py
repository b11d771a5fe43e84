"""Session ids: UUIDs on the wire and in Firestore, with a deterministic home for legacy ids.

The old backend named sessions ``session-1762333076184-ez9oxt7qt5r`` or
``atoms_session_<hex>`` and lost their messages in a ``uuid`` column. Here every session
document is keyed by a UUID. A legacy id is mapped to the UUID its old frontend already
derives from it, ``uuid.UUID(bytes=md5(legacy_id))``, so both sides agree on where a
conversation lives; the legacy id itself is kept on the session document.

Pure: no I/O, no Google libraries.

Tested in tests/test_session_ids.py.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid

from vertexchat.errors import InvalidRequestError

MAX_ID_LENGTH = 128

# The canonical text form only: 8-4-4-4-12 hex digits. Other spellings that uuid.UUID()
# accepts (braces, "urn:uuid:", bare 32 hex digits) are legacy ids like any other string,
# so one session is never reachable under two different keys.
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def new_session_id() -> str:
    """A fresh server-generated session id (random UUID, version 4)."""
    return str(uuid.uuid4())


def legacy_uuid(legacy_id: str) -> str:
    """The UUID the old frontend derives from a legacy id: the md5 digest as UUID bytes."""
    return str(uuid.UUID(bytes=hashlib.md5(legacy_id.encode()).digest()))  # noqa: S324 - an id, not a secret


def is_uuid(raw: str) -> bool:
    """Whether ``raw`` is a UUID in canonical 8-4-4-4-12 form (any letter case)."""
    return bool(_UUID.match(raw))


def canonical_session_id(raw: str, param: str) -> tuple[str, str | None]:
    """``(uuid, legacy_id or None)`` for a session id a client sent.

    A canonical UUID is lowercased and used as is; anything else is a legacy id and maps to
    :func:`legacy_uuid`. Empty ids, ids longer than 128 characters and ids with control
    characters are refused with a 400 naming ``param``.
    """
    _check_sane(raw, param)
    if is_uuid(raw):
        return raw.lower(), None
    return legacy_uuid(raw), raw


def strict_session_id(raw: str, param: str) -> str:
    """The lowercased UUID ``raw``; 400 naming ``param`` for anything else, legacy ids included."""
    _check_sane(raw, param)
    if not is_uuid(raw):
        raise InvalidRequestError(
            f"{param} must be a session UUID such as 6f1c0e4e-2a8b-4c55-9a57-0d7c2f2b1e3a "
            "(legacy ids are accepted on /atoms/chat/sessions).", param=param)
    return raw.lower()


def _check_sane(raw: str, param: str) -> None:
    if not raw:
        raise InvalidRequestError(f"{param} must not be empty.", param=param)
    if len(raw) > MAX_ID_LENGTH:
        raise InvalidRequestError(f"{param} is longer than {MAX_ID_LENGTH} characters.", param=param)
    # Control characters, and lone surrogates that cannot even be encoded as UTF-8.
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in raw):
        raise InvalidRequestError(f"{param} contains control characters.", param=param)
