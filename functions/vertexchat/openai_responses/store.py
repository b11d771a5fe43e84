"""Stored responses in Firestore, owned by the identity that made them.

Layout::

    responses/{resp_id}              owner, session_id, reply_seq, previous_response_id, body (JSON:
                                     the response object), input (JSON: the input items, with ids),
                                     item_ids, created_at, expire_at
    response_items/{sha256(owner, item_id)}   owner, item_id, response_id, session_id, item (JSON), expire_at

A response's conversation lives in its session (``sessions/``): ``session_id`` and
``reply_seq`` (the reply's message) locate the branch a ``previous_response_id`` continues.
``response_items`` indexes the items a response introduced (its output and the input items it
gave ids to) for ``item_reference``; keyed by owner and id, so one caller can never reach
another's item, even by guessing its id.

Someone else's response, an expired one and a missing one are the same 404. Retention is
the sessions' (``SESSION_TTL_DAYS``): ``expire_at`` for Firestore's TTL policy, and reads
hide expired documents themselves. Delete runs the shared optimistic loop
(``sessions.retry.until_committed``): the response document goes only if unchanged since it
was read, with the items it indexed.

Tested in tests/test_responses.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore

from vertexchat.config import Settings
from vertexchat.errors import NotFoundError, ServiceUnavailableError
from vertexchat.sessions.retry import until_committed
from vertexchat.sessions.storage import Storage, translated

JSON = dict[str, Any]

RESPONSES = "responses"
ITEMS = "response_items"
_BATCH_WRITES = 400
_ATTEMPTS = 10


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A stored response: its object, its input items and where its conversation lives."""

    id: str
    body: JSON
    input: list[JSON]
    session_id: str | None
    reply_seq: int | None


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item found by id: the item and the session of the response that introduced it."""

    item: JSON
    session_id: str | None


class ResponseStore:
    """Responses and their items in Firestore; one per function instance."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self._storage = storage
        days = settings.session_ttl_days
        self._ttl = timedelta(days=days) if days else None

    def save(self, owner: str, body: Mapping[str, Any], input_items: list[JSON], *, new_ids: Iterable[str],
             session: tuple[str | None, int | None]) -> None:
        """Store a response, its input and the items it introduced (``new_ids``: input items it named).

        The items are written first and the response last, so a response that exists has its items.
        """
        now = datetime.now(UTC)
        expire_at = now + self._ttl if self._ttl else None
        session_id, reply_seq = session
        wanted = set(new_ids)
        introduced = [item for item in input_items if item.get("id") in wanted]
        introduced += [item for item in body.get("output") or [] if item.get("id")]
        docs = [(self._item_ref(owner, item["id"]), {"owner": owner, "item_id": item["id"],
                                                     "response_id": body["id"], "session_id": session_id,
                                                     "item": json.dumps(item), "expire_at": expire_at})
                for item in introduced]
        record = {"owner": owner, "session_id": session_id, "reply_seq": reply_seq,
                  "previous_response_id": body.get("previous_response_id"), "body": json.dumps(body),
                  "input": json.dumps(input_items), "item_ids": [item["id"] for item in introduced],
                  "created_at": now, "expire_at": expire_at}
        with translated("write"):
            for start in range(0, len(docs), _BATCH_WRITES):
                batch = self._db.batch()
                for ref, data in docs[start:start + _BATCH_WRITES]:
                    batch.set(ref, data)
                batch.commit(**self._opts())
            self._db.collection(RESPONSES).document(body["id"]).set(record, **self._opts())

    def get(self, owner: str, response_id: str, *, param: str | None = None) -> StoredResponse:
        """``owner``'s stored response; NotFoundError (naming ``param``) otherwise."""
        with translated("read"):
            snap = self._visible(owner, response_id, param)
        data = snap.to_dict() or {}
        return StoredResponse(response_id, json.loads(data["body"]), json.loads(data.get("input") or "[]"),
                              data.get("session_id"), data.get("reply_seq"))

    def find(self, owner: str, item_ids: list[str]) -> dict[str, StoredItem]:
        """``owner``'s stored items among ``item_ids`` (those that are not stored are left out)."""
        if not item_ids:
            return {}
        found = {}
        now = datetime.now(UTC)
        with translated("read"):
            refs = [self._item_ref(owner, item_id) for item_id in dict.fromkeys(item_ids)]
            for snap in self._db.get_all(refs, **self._opts()):
                data = snap.to_dict() if snap.exists else None
                if data and data.get("owner") == owner and not _expired(data, now):
                    found[data["item_id"]] = StoredItem(json.loads(data["item"]), data.get("session_id"))
        return found

    def delete(self, owner: str, response_id: str) -> None:
        """Delete ``owner``'s response and the items it introduced; NotFoundError when there is none."""
        ref = self._db.collection(RESPONSES).document(response_id)

        def attempt() -> list[str]:
            snap = self._visible(owner, response_id, None)
            item_ids: list[str] = (snap.to_dict() or {}).get("item_ids") or []
            ref.delete(option=self._db.write_option(last_update_time=snap.update_time), **self._opts())
            return item_ids

        with translated("delete"):
            item_ids = until_committed(attempt, attempts=_ATTEMPTS, busy=_contended)
            for start in range(0, len(item_ids), _BATCH_WRITES):
                batch = self._db.batch()
                for item_id in item_ids[start:start + _BATCH_WRITES]:
                    batch.delete(self._item_ref(owner, item_id))
                batch.commit(**self._opts())

    @property
    def _db(self) -> firestore.Client:
        return self._storage.client

    def _opts(self) -> dict[str, Any]:
        return self._storage.call_options()

    def _item_ref(self, owner: str, item_id: str) -> Any:
        key = hashlib.sha256(json.dumps([owner, item_id]).encode()).hexdigest()
        return self._db.collection(ITEMS).document(key)

    def _visible(self, owner: str, response_id: str, param: str | None) -> Any:
        snap = self._db.collection(RESPONSES).document(response_id).get(**self._opts()) \
            if _plausible_id(response_id) else None
        data = snap.to_dict() if snap is not None and snap.exists else None
        if not data or data.get("owner") != owner or _expired(data, datetime.now(UTC)):
            raise NotFoundError(f"Response with id {response_id!r} not found.", param=param)
        return snap


def _plausible_id(response_id: str) -> bool:
    # Firestore refuses ids with "/" or of over 1500 bytes; such an id names no response.
    return 0 < len(response_id.encode()) <= 1500 and "/" not in response_id and response_id not in (".", "..")


def _expired(data: Mapping[str, Any], now: datetime) -> bool:
    expire_at = data.get("expire_at")
    return expire_at is not None and expire_at <= now


def _contended() -> ServiceUnavailableError:
    return ServiceUnavailableError("The response is being changed by another request; try again.",
                                   code="storage_contended", retry_after=1.0)
