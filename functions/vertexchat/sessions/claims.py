"""PURE: the ``Idempotency-Key`` decision, from the record as read and the request at hand.

What a request makes of the key's record (``idempotency.py`` reads and writes it):

- no record: ``create`` it, holding the key (``new``);
- our own token (a write whose answer was lost): ``new``;
- a live record for a different body: ``mismatch`` (the client sees 422);
- a live, finished record: ``done``, replay its result;
- a live record whose holder's lease has not run out: ``in_progress`` (409, ``Retry-After``
  = the lease left, between 1 and 5 s);
- an expired record: ``replace`` it with a fresh claim; a live one whose holder let its lease
  run out: ``take_over`` the lease.

Tested in tests/test_sessions_claims.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

JSON = dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """The state of an idempotency key for one request (see the module docstring)."""

    state: Literal["new", "in_progress", "done", "mismatch"]
    token: str | None = None
    result: JSON | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Verdict:
    """What to answer, and the write (if any) that must land first: create, replace or take_over."""

    claim: Claim
    write: Literal["create", "replace", "take_over"] | None = None


def decide(record: Mapping[str, Any] | None, *, token: str, body_hash: str, now: datetime) -> Verdict:
    """The verdict for a request holding ``token`` whose body hashes to ``body_hash``."""
    if record is None:
        return Verdict(Claim("new", token=token), "create")
    if record.get("token") == token:
        return Verdict(Claim("new", token=token))
    live = record.get("expire_at") is None or record["expire_at"] > now
    if not live:
        return Verdict(Claim("new", token=token), "replace")
    if record.get("body_hash") != body_hash:
        return Verdict(Claim("mismatch"))
    if record.get("state") == "done":
        return Verdict(Claim("done", result=json.loads(record.get("result") or "null")))
    lease_until = record.get("lease_until")
    if lease_until and lease_until > now:
        remaining = (lease_until - now).total_seconds()
        return Verdict(Claim("in_progress", retry_after=min(max(remaining, 1.0), 5.0)))
    return Verdict(Claim("new", token=token), "take_over")
