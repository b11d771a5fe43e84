"""Idempotency-Key records: a request's effect at most once per (owner, key).

A client that retries a chat request with the same ``Idempotency-Key`` must not get a
second completion (or a second copy of its turn in the transcript). The first request
*claims* the key; when it is done it *completes* the claim with a small result (a
reference such as ``{"session_id", "seq"}`` to replay from, or the response itself);
a failed request *releases* it so the client may retry at once.

What :func:`claim` answers, and what the chat makes of it:

- ``new``: this request holds the key (``Claim.token``): do the work, then complete or release.
- ``in_progress``: another request holds a live lease: 409 with ``Retry-After``.
- ``done``: replay ``Claim.result``.
- ``mismatch``: the key was used with a different body: 422.

A claim whose holder died is taken over once its lease runs out. Records expire after
``ttl`` (a Firestore TTL policy on ``expire_at``; expired ones are ignored before deletion).

Documents: ``idempotency/{sha256(owner NUL key)}``. Writes are conditional on the document
being unchanged since it was read, so two racing claims cannot both win.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from google.api_core import exceptions as gexc

from vertexchat.errors import InvalidRequestError, ServiceUnavailableError

COLLECTION = "idempotency"
MAX_KEY_CHARS = 255
_MAX_RESULT_BYTES = 900 * 1024
_ATTEMPTS = 20
_LOST_RACE = (gexc.FailedPrecondition, gexc.Conflict, gexc.Aborted)

JSON = dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """The state of an idempotency key for one request (see the module docstring)."""

    state: Literal["new", "in_progress", "done", "mismatch"]
    token: str | None = None
    result: JSON | None = None
    retry_after: float | None = None


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
    """Claim ``owner``'s ``key`` for a request whose body hashes to ``body_hash``."""
    check_key(key)
    ref = db.collection(COLLECTION).document(record_id(owner, key))
    token = uuid.uuid4().hex
    for _ in range(_ATTEMPTS):
        now = datetime.now(UTC)
        fresh = {"owner": owner, "key": key, "body_hash": body_hash, "state": "in_progress", "token": token,
                 "lease_until": now + lease, "created_at": now, "updated_at": now, "expire_at": now + ttl,
                 "result": None}
        snap = ref.get(**opts)
        data = snap.to_dict() or {}
        if not snap.exists:
            try:
                ref.create(fresh, **opts)
            except gexc.Conflict:
                continue
            return Claim("new", token=token)
        if data.get("token") == token:
            return Claim("new", token=token)  # our own write, whose answer was lost
        live = data.get("expire_at") is None or data["expire_at"] > now
        if live and data.get("body_hash") != body_hash:
            return Claim("mismatch")
        if live and data.get("state") == "done":
            return Claim("done", result=json.loads(data.get("result") or "null"))
        if live and data.get("lease_until") and data["lease_until"] > now:
            remaining = (data["lease_until"] - now).total_seconds()
            return Claim("in_progress", retry_after=min(max(remaining, 1.0), 5.0))
        # Expired, or a holder that let its lease run out: take the key over.
        changes = fresh if not live else {"token": token, "lease_until": now + lease, "updated_at": now}
        try:
            ref.update(changes, option=db.write_option(last_update_time=snap.update_time), **opts)
        except _LOST_RACE:
            continue
        return Claim("new", token=token)
    raise _busy()


def complete(db: Any, opts: dict[str, Any], owner: str, key: str, *, token: str,
             result: Mapping[str, Any]) -> bool:
    """Record ``result`` for the claim ``token`` holds; False when the claim is no longer ours.

    ``result`` must serialize to at most 900 KiB of JSON: store a reference to large replies.
    """
    encoded = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    if len(encoded.encode("utf-8", "surrogatepass")) > _MAX_RESULT_BYTES:
        raise ValueError("an idempotency result must be at most 900 KiB of JSON; store a reference instead")
    ref = db.collection(COLLECTION).document(record_id(owner, key))
    for _ in range(_ATTEMPTS):
        snap = ref.get(**opts)
        data = snap.to_dict() or {}
        if not snap.exists or data.get("token") != token or data.get("state") != "in_progress":
            return False
        update = {"state": "done", "result": encoded, "lease_until": None, "updated_at": datetime.now(UTC)}
        try:
            ref.update(update, option=db.write_option(last_update_time=snap.update_time), **opts)
        except _LOST_RACE:
            continue
        return True
    raise _busy()


def release(db: Any, opts: dict[str, Any], owner: str, key: str, *, token: str) -> None:
    """Drop the in-progress claim ``token`` holds, so the client may retry with the same key."""
    ref = db.collection(COLLECTION).document(record_id(owner, key))
    for _ in range(_ATTEMPTS):
        snap = ref.get(**opts)
        data = snap.to_dict() or {}
        if not snap.exists or data.get("token") != token or data.get("state") != "in_progress":
            return
        try:
            ref.delete(option=db.write_option(last_update_time=snap.update_time), **opts)
        except _LOST_RACE:
            continue
        return
    raise _busy()


def _busy() -> ServiceUnavailableError:
    return ServiceUnavailableError("The idempotency record is busy; try again shortly.", code="storage_busy",
                                   retry_after=1.0)
