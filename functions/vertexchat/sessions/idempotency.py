"""Idempotency-Key records: a request's effect at most once per (owner, key).

A client that retries a chat request with the same ``Idempotency-Key`` must not get a
second completion (or a second copy of its turn in the transcript). The first request
*claims* the key; when it is done it *completes* the claim with a small result (a
reference such as ``{"session_id", "seq"}`` to replay from, or the response itself);
a failed request *releases* it so the client may retry at once.

What :func:`claim` answers (decided by ``claims.decide``), and what the API makes of it:

- ``new``: this request holds the key (``Claim.token``): do the work, then complete or release.
- ``in_progress``: another request holds a live lease: 409 with ``Retry-After``.
- ``done``: replay ``Claim.result``.
- ``mismatch``: the key was used with a different body: 422.

A claim whose holder died is taken over once its lease runs out. Records expire after
``ttl`` (a Firestore TTL policy on ``expire_at``; expired ones are ignored before deletion).

Documents: ``idempotency/{sha256(owner NUL key)}``. Writes are conditional on the document
being unchanged since it was read, so two racing claims cannot both win.

Tested in tests/test_chat_sessions.py.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from vertexchat.errors import InvalidRequestError, ServiceUnavailableError
from vertexchat.sessions.claims import Claim, decide
from vertexchat.sessions.retry import until_committed

COLLECTION = "idempotency"
MAX_KEY_CHARS = 255
_MAX_RESULT_BYTES = 900 * 1024
_ATTEMPTS = 20

JSON = dict[str, Any]


def record_id(owner: str, key: str) -> str:
    """The document id of ``owner``'s ``key``: keys of different owners never meet."""
    return hashlib.sha256(f"{owner}\0{key}".encode("utf-8", "surrogatepass")).hexdigest()


def check_key(key: str) -> None:
    """1 to 255 printable ASCII characters, else 400 naming the header."""
    if not 1 <= len(key) <= MAX_KEY_CHARS or not all(" " <= ch <= "~" for ch in key):
        raise InvalidRequestError(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters.",
                                  param="Idempotency-Key")


def claim(db: Any, opts: dict[str, Any], owner: str, key: str, body_hash: str, *, ttl: timedelta,
          lease: timedelta) -> Claim:
    """Claim ``owner``'s ``key`` for a request whose body hashes to ``body_hash`` (see ``claims.decide``).

    Many parameters because the store passes its Firestore client and call options down.
    """
    check_key(key)
    ref = db.collection(COLLECTION).document(record_id(owner, key))
    token = uuid.uuid4().hex

    def attempt() -> Claim:
        now = datetime.now(UTC)
        snap = ref.get(**opts)
        verdict = decide(snap.to_dict() if snap.exists else None, token=token, body_hash=body_hash, now=now)
        fresh = {"owner": owner, "key": key, "body_hash": body_hash, "state": "in_progress", "token": token,
                 "lease_until": now + lease, "created_at": now, "updated_at": now, "expire_at": now + ttl,
                 "result": None}
        if verdict.write == "create":
            ref.create(fresh, **opts)
        elif verdict.write is not None:
            changes = fresh if verdict.write == "replace" else {"token": token, "lease_until": now + lease,
                                                               "updated_at": now}
            ref.update(changes, option=db.write_option(last_update_time=snap.update_time), **opts)
        return verdict.claim

    return until_committed(attempt, attempts=_ATTEMPTS, busy=_busy, backoff=False)


def complete(db: Any, opts: dict[str, Any], owner: str, key: str, *, token: str,
             result: Mapping[str, Any]) -> bool:
    """Record ``result`` for the claim ``token`` holds; False when the claim is no longer ours.

    ``result`` must serialize to at most 900 KiB of JSON: store a reference to large replies.
    """
    encoded = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    if len(encoded.encode("utf-8", "surrogatepass")) > _MAX_RESULT_BYTES:
        raise ValueError("an idempotency result must be at most 900 KiB of JSON; store a reference instead")
    ref = db.collection(COLLECTION).document(record_id(owner, key))

    def attempt() -> bool:
        snap = ref.get(**opts)
        if not _held(snap, token):
            return False
        update = {"state": "done", "result": encoded, "lease_until": None, "updated_at": datetime.now(UTC)}
        ref.update(update, option=db.write_option(last_update_time=snap.update_time), **opts)
        return True

    return until_committed(attempt, attempts=_ATTEMPTS, busy=_busy, backoff=False)


def release(db: Any, opts: dict[str, Any], owner: str, key: str, *, token: str) -> None:
    """Drop the in-progress claim ``token`` holds, so the client may retry with the same key."""
    ref = db.collection(COLLECTION).document(record_id(owner, key))

    def attempt() -> None:
        snap = ref.get(**opts)
        if _held(snap, token):
            ref.delete(option=db.write_option(last_update_time=snap.update_time), **opts)

    until_committed(attempt, attempts=_ATTEMPTS, busy=_busy, backoff=False)


def _held(snap: Any, token: str) -> bool:
    data = snap.to_dict() or {}
    return bool(snap.exists and data.get("token") == token and data.get("state") == "in_progress")


def _busy() -> ServiceUnavailableError:
    return ServiceUnavailableError("The idempotency record is busy; try again shortly.", code="storage_busy",
                                   retry_after=1.0)
