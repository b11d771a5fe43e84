"""Stored responses in Firestore, owned by the identity that made them.

Layout::

    responses/{resp_id}              owner, session_id, reply_seq, previous_response_id, body (the
                                     response object), input (the input items, with ids), item_ids,
                                     created_at, expire_at
    responses/{resp_id}/chunks/{blob}-{n:05d}            the parts of a large body or input
    response_items/{sha256(owner, item_id)}   owner, item_id, response_id, session_id, item, expire_at
    response_items/{key}/chunks/{blob}-{n:05d}           the parts of a large item

``body``, ``input`` and ``item`` are JSON text, inline when small and otherwise in ``chunks``
documents (Firestore documents hold 1 MiB; an input with images is larger), written and
verified as the session store writes message bodies (``sessions/bodies.py``).

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
from vertexchat.sessions import bodies
from vertexchat.sessions.retry import until_committed
from vertexchat.sessions.storage import Storage, translated

JSON = dict[str, Any]

RESPONSES = "responses"
ITEMS = "response_items"
CHUNKS = "chunks"
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
        ref = self._db.collection(RESPONSES).document(body["id"])
        with translated("write"):
            docs = []
            for item in introduced:
                item_ref = self._item_ref(owner, item["id"])
                docs.append((item_ref, {"owner": owner, "item_id": item["id"], "response_id": body["id"],
                                        "session_id": session_id, "expire_at": expire_at,
                                        "item": self._put(item, item_ref, expire_at)}))
            self._commit_sets(docs)
            record = {"owner": owner, "session_id": session_id, "reply_seq": reply_seq,
                      "previous_response_id": body.get("previous_response_id"),
                      "body": self._put(body, ref, expire_at), "input": self._put(input_items, ref, expire_at),
                      "item_ids": [item["id"] for item in introduced], "created_at": now, "expire_at": expire_at}
            ref.set(record, **self._opts())

    def get(self, owner: str, response_id: str, *, param: str | None = None) -> StoredResponse:
        """``owner``'s stored response; NotFoundError (naming ``param``) otherwise."""
        with translated("read"):
            snap = self._visible(owner, response_id, param)
            data = snap.to_dict() or {}
            return StoredResponse(response_id, self._take(data["body"], snap.reference),
                                  self._take(data["input"], snap.reference), data.get("session_id"),
                                  data.get("reply_seq"))

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
                    found[data["item_id"]] = StoredItem(self._take(data["item"], snap.reference),
                                                        data.get("session_id"))
        return found

    def delete(self, owner: str, response_id: str) -> None:
        """Delete ``owner``'s response and the items it introduced; NotFoundError when there is none.

        The response document goes first (invisible from then on), then its items and chunks.
        """
        ref = self._db.collection(RESPONSES).document(response_id)

        def attempt() -> list[str]:
            snap = self._visible(owner, response_id, None)
            item_ids: list[str] = (snap.to_dict() or {}).get("item_ids") or []
            ref.delete(option=self._db.write_option(last_update_time=snap.update_time), **self._opts())
            return item_ids

        with translated("delete"):
            item_ids = until_committed(attempt, attempts=_ATTEMPTS, busy=_contended)
            parents = [ref, *(self._item_ref(owner, item_id) for item_id in item_ids)]
            doomed = [*parents[1:], *(chunk for parent in parents for chunk in parent.collection(CHUNKS)
                                      .list_documents())]
            for start in range(0, len(doomed), _BATCH_WRITES):
                batch = self._db.batch()
                for target in doomed[start:start + _BATCH_WRITES]:
                    batch.delete(target)
                batch.commit(**self._opts())

    @property
    def _db(self) -> firestore.Client:
        return self._storage.client

    def _opts(self) -> dict[str, Any]:
        return self._storage.call_options()

    def _put(self, value: Any, parent: Any, expire_at: datetime | None) -> JSON:
        """A JSON value as it is stored: inline text when small, else chunks under ``parent``."""
        text, size = bodies.serialize(value)
        if size <= bodies.INLINE_BYTES:
            return {"text": text}
        return {"chunks": bodies.write_chunks(self._db, self._opts(), parent.collection(CHUNKS), text, expire_at)}

    def _take(self, stored: Mapping[str, Any], parent: Any) -> Any:
        if "text" in stored:
            return json.loads(stored["text"])
        text = bodies.read_chunks(self._db, self._opts(), parent.collection(CHUNKS), stored["chunks"])
        if text is None:
            raise ServiceUnavailableError("A stored response is incomplete in storage.", code="storage_error")
        return json.loads(text)

    def _commit_sets(self, docs: list[tuple[Any, JSON]]) -> None:
        """Set documents in batches that stay under a commit's size limit."""
        batch, budget, pending = self._db.batch(), bodies.COMMIT_BYTES, 0
        for ref, data in docs:
            size = len(str(data.get("item")))
            if pending and (pending >= _BATCH_WRITES or size > budget):
                batch.commit(**self._opts())
                batch, budget, pending = self._db.batch(), bodies.COMMIT_BYTES, 0
            batch.set(ref, data)
            budget -= size
            pending += 1
        if pending:
            batch.commit(**self._opts())

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
