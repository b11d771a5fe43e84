"""The Firestore store of sessions and their messages, owned by the identity that made them.

Layout (Firestore native mode)::

    sessions/{uuid}                      owner, title, model, metadata, created_at, updated_at,
                                         message_count, usage, legacy_id, next_seq, head_seq,
                                         expire_at, transcript_expire_at, deleting, last_write
    sessions/{uuid}/messages/{seq:012d}  seq, parent_seq, role, fp, body | chunks, status,
                                         finish_reason, model, usage, request_id, created_at,
                                         expire_at, write_id
    sessions/{uuid}/chunks/{blob}-{n:05d}  blob, n, data (bytes), expire_at
    idempotency/{sha256}                 see ``idempotency.py``
    health/{instance}                    at, expire_at (the health check's write-and-read)

Every method takes the caller's identity (``owner``) explicitly. A session owned by
someone else, an expired one and one being deleted all raise the same
:class:`~vertexchat.errors.NotFoundError` as a missing one.

Messages are stored as the OpenAI-shaped dicts that were sent or produced, serialized as
JSON: inline when small, else split across ``chunks`` documents (Firestore documents hold
1 MiB at most) and verified by length and SHA-256 on the way back. Nothing is truncated.

Sequence numbers are gapless and unique per session, also under concurrent requests: the
message documents and the session's ``next_seq`` are written in one atomic commit that is
conditional on the session document being unchanged since it was read (optimistic
concurrency: a lost race re-reads and retries). That gives a transaction's guarantee
without holding Firestore locks, whose contention the emulator answers with 2-second lock
timeouts. A commit whose reply was lost is recognised by its ``write_id`` and not repeated.

Messages form a tree through ``parent_seq``; the session's ``head_seq`` marks the end of
the *active path*, the conversation as the client last saw it (see ``transcript.py``).

Retention (``SESSION_TTL_DAYS``, 0 = forever): a session's ``expire_at`` is its last activity
plus the TTL. Its messages and chunks share one stamp, ``transcript_expire_at``, always at
or after the session's own ``expire_at``: when activity would pass it, every message is
restamped a quarter-TTL further out, so a long-lived conversation never loses its
beginning and a restamp happens at most once per quarter-TTL of activity. A Firestore
TTL policy on ``expire_at`` deletes lazily; reads hide expired documents themselves.

Tested in tests/test_sessions_store.py.

Long because the Firestore layout above is one unit: every write keeps ``next_seq``,
``head_seq``, the message documents and the retention stamps consistent in one conditional
commit, and splitting the class would spread that invariant over modules.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from google.cloud import firestore

from vertexchat.config import Settings
from vertexchat.errors import NotFoundError, ServiceUnavailableError
from vertexchat.sessions import bodies as message_bodies
from vertexchat.sessions import cursors, idempotency, transcript
from vertexchat.sessions import ids as session_ids
from vertexchat.sessions.claims import Claim
from vertexchat.sessions.records import (
    UNSET,
    Page,
    Session,
    SessionRef,
    StoredMessage,
    Sync,
    Usage,
    message_doc_id,
)
from vertexchat.sessions.retry import LOST_RACE, Retry, until_committed
from vertexchat.sessions.storage import Storage, translated

__all__ = ["STATUSES", "UNSET", "Claim", "Page", "Session", "SessionRef", "SessionStore", "StoredMessage", "Sync",
           "Usage", "message_doc_id"]

JSON = dict[str, Any]
T = TypeVar("T")

SESSIONS = "sessions"
MESSAGES = "messages"
CHUNKS = "chunks"
HEALTH = "health"
STATUSES = ("complete", "incomplete", "error")
Parent = int | None | Literal["head"]

_AUTO_TITLE_CHARS = 80

_BATCH_WRITES = 400
_ATTEMPTS = 40


@dataclass
class _Draft:
    """A message on its way in: serialized once, placed inline or in chunks before the commit."""

    message: JSON
    body: str
    size: int
    fp: str
    chunks: JSON | None = None
    extra: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class _Write:
    """What one append records besides the messages themselves."""

    request_id: str
    status: str
    model: str | None = None
    usage: Usage | None = None
    write_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class SessionStore:
    """Sessions and messages in Firestore; one per function instance (``Services.store``)."""

    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self._storage = storage or Storage(settings)
        days = settings.session_ttl_days
        self._ttl = timedelta(days=days) if days else None
        self._slack = timedelta(days=days / 4) if days else None

    def create_session(self, owner: str, *, title: str | None = None, model: str | None = None,
                       metadata: Mapping[str, str] | None = None) -> Session:
        """A new session for ``owner`` under a fresh server-generated UUID (version 4)."""
        session_id = session_ids.new_session_id()
        data = self._new_session_data(owner, title=title, model=model, metadata=dict(metadata or {}))
        with translated("write"):
            self._ref(session_id).create(data, **self._opts())
        return _session(session_id, data)

    def get_session(self, session_id: str, owner: str) -> Session:
        """``owner``'s session ``session_id``; NotFoundError otherwise."""
        with translated("read"):
            snap = self._visible(session_id, owner)
        return _session(session_id, _data(snap))

    def list_sessions(self, owner: str, *, limit: int = 20, after: str | None = None) -> Page[Session]:
        """``owner``'s sessions, most recently updated first; ``after`` is a previous page's cursor."""
        start = cursors.parse_session_cursor(after) if after else None
        with translated("read"):
            found = _take(self._iter_sessions(owner, start, batch=limit + 1), limit + 1)
        page = found[:limit]
        more = len(found) > limit
        cursor = cursors.session_cursor(page[-1].updated_at, page[-1].id) if more and page else None
        return Page(page, more, cursor)

    def list_sessions_page(self, owner: str, *, page: int, page_size: int) -> tuple[list[Session], bool]:
        """Offset paging for the old frontend: page ``page`` (from 1) and whether more follow."""
        with translated("read"):
            found = _take(self._iter_sessions(owner, None, batch=page_size + 1), page * page_size + 1)
        rows = found[(page - 1) * page_size:page * page_size]
        return rows, len(found) > page * page_size

    def count_sessions(self, owner: str) -> int:
        """How many live sessions ``owner`` has (those expired but not yet deleted are not counted)."""
        owned = self._sessions().where(filter=firestore.FieldFilter("owner", "==", owner))
        with translated("read"):
            total = _count(owned, self._opts())
            expired = _count(owned.where(filter=firestore.FieldFilter("expire_at", "<=", _now())), self._opts())
        return max(0, total - expired)

    def update_session(self, session_id: str, owner: str, *, title: str | None = UNSET,
                       metadata: Mapping[str, str] = UNSET) -> Session:
        """Set ``title`` and/or replace ``metadata`` (arguments left out are kept)."""
        changes: JSON = {}
        if title is not UNSET:
            changes["title"] = title
        if metadata is not UNSET:
            changes["metadata"] = dict(metadata)
        def attempt() -> Session:
            snap = self._visible(session_id, owner)
            now = _now()
            update = {**changes, "updated_at": now, "expire_at": self._expiry(now)}
            self._ref(session_id).update(update, option=self._db.write_option(last_update_time=snap.update_time),
                                         **self._opts())
            return _session(session_id, {**_data(snap), **update})

        with translated("write"):
            return until_committed(attempt, attempts=_ATTEMPTS, busy=_contended)

    def delete_session(self, session_id: str, owner: str) -> None:
        """Delete ``owner``'s session with all its messages and chunks.

        NotFoundError when there is none to delete (missing, or someone else's). The session
        is first marked ``deleting`` (invisible from then on), then its messages and chunks go,
        then the session itself; a retry after a failure part-way finishes the job.
        """
        ref = self._ref(session_id)

        def mark() -> None:
            snap = ref.get(**self._opts())
            if not snap.exists or _data(snap).get("owner") != owner:
                raise _not_found(session_id)
            ref.update({"deleting": True}, option=self._db.write_option(last_update_time=snap.update_time),
                       **self._opts())

        with translated("delete"):
            until_committed(mark, attempts=_ATTEMPTS, busy=_contended)
            self._purge(ref)

    def open_turn(self, session_id: str, owner: str, *, legacy_id: str | None = None,
                  model: str | None = None, create_if_missing: bool = True) -> SessionRef:
        """The session a chat turn writes to; created for ``owner`` when it does not exist yet.

        ``session_id`` is a canonical UUID (see ``session_ids.canonical_session_id``; pass the
        legacy id it came from as ``legacy_id``). NotFoundError when the session belongs to
        someone else, is being deleted, or is missing and ``create_if_missing`` is false. An
        expired session of the same owner is purged and created afresh.
        """
        ref = self._ref(session_id)

        def attempt() -> SessionRef:
            snap = ref.get(**self._opts())
            if snap.exists:
                data = _data(snap)
                if self._is_visible(data, owner):
                    return SessionRef(session_id, owner, data.get("legacy_id"), created=False)
                if not (create_if_missing and data.get("owner") == owner and _expired(data)):
                    raise _not_found(session_id)
                self._purge(ref)
                raise Retry
            if not create_if_missing:
                raise _not_found(session_id)
            if self._has_leftovers(ref):
                # TTL deleted the session document but not yet its messages (TTL does not
                # cascade and runs lazily): they must never surface in a new session.
                self._purge(ref)
                raise Retry
            # A concurrent create answers Conflict: the next attempt reads it and checks whose it is.
            ref.create(self._new_session_data(owner, model=model, legacy_id=legacy_id), **self._opts())
            return SessionRef(session_id, owner, legacy_id, created=True)

        with translated("open"):
            return until_committed(attempt, attempts=3, busy=_contended, backoff=False)

    @property
    def storage(self) -> Storage:
        """The Firestore boundary this store uses (shared with the Responses store)."""
        return self._storage

    def history(self, session_id: str, owner: str, *, upto: int | None = None) -> list[JSON]:
        """The active path's messages, oldest first, as the OpenAI-shaped dicts that were stored.

        ``upto``: the path ending at that message instead (a branch that is not the active one).
        """
        return [record.message for record in self.transcript(session_id, owner, upto=upto)]

    def transcript(self, session_id: str, owner: str, *, upto: int | None = None) -> list[StoredMessage]:
        """The active path's message records (or the path ending at ``upto``), oldest first."""
        with translated("read"):
            snap = self._visible(session_id, owner)
            index = self._index(self._ref(session_id), {})
            if upto is not None and upto not in index:
                raise NotFoundError(f"No message {upto} in session {session_id}.", param="seq")
            path = transcript.active_path({seq: parent for seq, (parent, _) in index.items()},
                                          _data(snap).get("head_seq") if upto is None else upto)
            refs = [self._messages(session_id).document(message_doc_id(seq)) for seq in path]
            snaps = {s.id: s for s in self._db.get_all(refs, **self._opts()) if s.exists}
            ordered = [snaps[message_doc_id(seq)] for seq in path if message_doc_id(seq) in snaps]
            return self._materialize(session_id, ordered)

    def record_conversation(self, session_id: str, owner: str, sent: Sequence[Mapping[str, Any]], *,
                            request_id: str) -> Sync:
        """Store the messages of a client's conversation that are not stored yet.

        Compares ``sent`` with the active path (``transcript.new_messages`` semantics) inside
        the same conditional commit that appends, so two identical concurrent requests store
        their messages once. On divergence the new messages start a branch; old ones stay.
        """
        drafts = [self._draft(m) for m in sent]
        cache: dict[int, tuple[int | None, str]] = {}

        def plan(data: JSON) -> tuple[Parent, list[_Draft], int | None]:
            index = self._index(self._ref(session_id), cache)
            path = transcript.active_path({s: p for s, (p, _) in index.items()}, data.get("head_seq"))
            common = transcript.common_prefix([index[s][1] for s in path], [d.fp for d in drafts])
            parent = path[common - 1] if common else None
            return parent, drafts[common:], None if common == len(path) else common

        return self._commit(session_id, owner, plan, _Write(request_id, "complete"))

    def append(self, session_id: str, owner: str, messages: Sequence[Mapping[str, Any]], *, request_id: str,
               status: str = "complete", parent_seq: Parent = "head", model: str | None = None,
               finish_reason: str | None = None, usage: Usage | None = None) -> list[int]:
        """Append ``messages`` in order; returns their seqs (gapless, unique, in one commit).

        Many parameters because each is a field of the stored reply, all keyword-only.

        ``parent_seq``: ``"head"`` continues the active path, an int continues after that
        message (``Sync.head_seq``), ``None`` starts a new root. ``status`` (``complete``,
        ``incomplete``, ``error``) applies to every message; ``model``, ``finish_reason`` and
        ``usage`` to the last one (the reply), and ``usage`` is added to the session's totals.
        The appended messages become the session's head.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        drafts = [self._draft(m) for m in messages]
        if drafts:
            drafts[-1].extra = {"model": model, "finish_reason": finish_reason,
                                "usage": usage.as_dict() if usage else None}

        def plan(data: JSON) -> tuple[Parent, list[_Draft], int | None]:
            return parent_seq, drafts, None

        return self._commit(session_id, owner, plan, _Write(request_id, status, model, usage)).appended

    def list_messages(self, session_id: str, owner: str, *, limit: int = 100,
                      after: str | None = None) -> Page[StoredMessage]:
        """Every message of the session (all branches) in seq order, a page at a time."""
        start = cursors.parse_message_cursor(after) if after else -1
        with translated("read"):
            self._visible(session_id, owner)
            query = (self._messages(session_id).order_by("seq")
                     .where(filter=firestore.FieldFilter("seq", ">", start)).limit(limit + 1))
            now = _now()
            snaps = [s for s in query.stream(**self._opts()) if not _expired(_data(s), now)]
            records = self._materialize(session_id, snaps[:limit])
        more = len(snaps) > limit
        return Page(records, more, cursors.message_cursor(records[-1].seq) if more and records else None)

    def get_message(self, session_id: str, owner: str, seq: int) -> StoredMessage:
        """One message by seq (e.g. to replay an idempotent request's reply)."""
        with translated("read"):
            self._visible(session_id, owner)
            snap = self._messages(session_id).document(message_doc_id(seq)).get(**self._opts())
            if not snap.exists or _expired(_data(snap)):
                raise NotFoundError(f"No message {seq} in session {session_id}.", param="seq")
            return self._materialize(session_id, [snap])[0]

    def claim_idempotency(self, owner: str, key: str, body_hash: str, *, ttl: timedelta = timedelta(hours=24),
                          lease: timedelta = timedelta(minutes=10)) -> Claim:
        """Claim ``owner``'s ``Idempotency-Key``; see :func:`vertexchat.idempotency.claim`."""
        with translated("write"):
            return idempotency.claim(self._db, self._opts(), owner, key, body_hash, ttl=ttl, lease=lease)

    def complete_idempotency(self, owner: str, key: str, token: str, result: Mapping[str, Any]) -> bool:
        """Record the result of a claimed request; see :func:`vertexchat.idempotency.complete`."""
        with translated("write"):
            return idempotency.complete(self._db, self._opts(), owner, key, token=token, result=result)

    def release_idempotency(self, owner: str, key: str, token: str) -> None:
        """Give a claim up (the request failed); see :func:`vertexchat.idempotency.release`."""
        with translated("write"):
            idempotency.release(self._db, self._opts(), owner, key, token=token)

    def ping(self, instance_id: str) -> None:
        """Write and read back ``health/{instance_id}``: proves Firestore takes writes and reads.

        ``pings`` counts the round trips, so what the health cache saves can be observed.
        """
        now = _now()
        ref = self._db.collection(HEALTH).document(instance_id)
        with translated("reach"):
            ref.set({"at": now, "expire_at": now + timedelta(days=1), "pings": firestore.Increment(1)},
                    merge=True, **self._opts())
            if _data(ref.get(**self._opts())).get("at") != now:
                raise ServiceUnavailableError("Session storage did not return what was just written to it.",
                                              code="storage_unavailable")

    @property
    def _db(self) -> firestore.Client:
        return self._storage.client

    def _opts(self) -> dict[str, Any]:
        return self._storage.call_options()

    def _sessions(self) -> Any:
        return self._db.collection(SESSIONS)

    def _ref(self, session_id: str) -> Any:
        return self._sessions().document(session_id)

    def _messages(self, session_id: str) -> Any:
        return self._ref(session_id).collection(MESSAGES)

    def _expiry(self, now: datetime) -> datetime | None:
        return now + self._ttl if self._ttl else None

    def _stamp(self, now: datetime) -> datetime | None:
        return now + self._ttl + self._slack if self._ttl and self._slack is not None else None

    def _new_session_data(self, owner: str, *, title: str | None = None, model: str | None = None,
                          metadata: dict[str, str] | None = None, legacy_id: str | None = None) -> JSON:
        now = _now()
        return {
            "owner": owner, "title": title, "model": model, "metadata": metadata or {},
            "created_at": now, "updated_at": now, "message_count": 0, "usage": Usage().as_dict(),
            "legacy_id": legacy_id, "next_seq": 0, "head_seq": None, "deleting": False, "last_write": None,
            "expire_at": self._expiry(now), "transcript_expire_at": self._stamp(now),
        }

    def _is_visible(self, data: JSON, owner: str) -> bool:
        return data.get("owner") == owner and not data.get("deleting") and not _expired(data)

    def _visible(self, session_id: str, owner: str) -> Any:
        snap = self._ref(session_id).get(**self._opts())
        if not snap.exists or not self._is_visible(_data(snap), owner):
            raise _not_found(session_id)
        return snap

    def _iter_sessions(self, owner: str, start: tuple[datetime, str] | None, *, batch: int) -> Iterator[Session]:
        """``owner``'s live sessions, newest first, fetched ``batch`` at a time."""
        base = (self._sessions().where(filter=firestore.FieldFilter("owner", "==", owner))
                .order_by("updated_at", direction=firestore.Query.DESCENDING)
                .order_by("__name__", direction=firestore.Query.DESCENDING))
        batch = max(batch, 10)
        while True:
            query = base
            if start is not None:
                query = query.start_after({"updated_at": start[0], "__name__": self._ref(start[1])})
            snaps = list(query.limit(batch).stream(**self._opts()))
            for snap in snaps:
                data = _data(snap)
                if self._is_visible(data, owner):
                    yield _session(snap.id, data)
            if len(snaps) < batch:
                return
            start = (_data(snaps[-1])["updated_at"], snaps[-1].id)

    def _index(self, ref: Any, cache: dict[int, tuple[int | None, str]]) -> dict[int, tuple[int | None, str]]:
        """seq -> (parent_seq, fingerprint) of the session's messages; ``cache`` saves re-reads.

        Messages never change once written, so only seqs above the cached ones are fetched.
        """
        query = ref.collection(MESSAGES).select(["seq", "parent_seq", "fp"]).order_by("seq")
        if cache:
            query = query.where(filter=firestore.FieldFilter("seq", ">", max(cache)))
        for snap in query.stream(**self._opts()):
            data = _data(snap)
            cache[int(data["seq"])] = (data.get("parent_seq"), str(data.get("fp", "")))
        return cache

    def _draft(self, message: Mapping[str, Any]) -> _Draft:
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise TypeError("every message must be a dict with a string role")
        body, size = message_bodies.serialize(message)
        return _Draft(dict(message), body, size, transcript.fingerprint(message))

    def _commit(self, session_id: str, owner: str, plan: Callable[[JSON], tuple[Parent, list[_Draft], int | None]],
                write: _Write) -> Sync:
        """The optimistic loop: read the session, plan, write everything in one conditional commit."""
        ref = self._ref(session_id)
        chunked: set[int] = set()

        def attempt() -> Sync:
            snap = self._visible(session_id, owner)
            data, now = _data(snap), _now()
            if self._needs_restamp(data, now):
                self._restamp(ref, now)
                raise Retry
            parent, drafts, diverged_at = plan(data)
            next_seq = int(data.get("next_seq") or 0)
            if isinstance(parent, int) and not 0 <= parent < next_seq:
                raise ValueError(f"parent_seq {parent} is not a message of session {session_id}")
            parent = data.get("head_seq") if parent == "head" else parent
            seqs = list(range(next_seq, next_seq + len(drafts)))
            head = seqs[-1] if seqs else parent
            if not drafts and head == data.get("head_seq"):
                return Sync([], head, diverged_at)
            self._place_bodies(session_id, drafts, chunked, now)
            try:
                self._batch(snap, parent, drafts, write, now).commit(**self._opts())
            except LOST_RACE:
                if not (seqs and self._landed(session_id, seqs[0], write.write_id)):
                    raise
            return Sync(seqs, head, diverged_at)

        with translated("write"):
            return until_committed(attempt, attempts=_ATTEMPTS, busy=_contended)

    def _batch(self, snap: Any, parent: int | None, drafts: list[_Draft], write: _Write, now: datetime) -> Any:
        """The new messages, chained from ``parent``, and the session update, if unchanged since ``snap``."""
        data = _data(snap)
        next_seq = int(data.get("next_seq") or 0)
        batch = self._db.batch()
        head = parent
        for seq, draft in enumerate(drafts, start=next_seq):
            batch.create(snap.reference.collection(MESSAGES).document(message_doc_id(seq)),
                         _message_data(seq, head, draft, write, now=now, stamp=data.get("transcript_expire_at")))
            head = seq
        batch.update(snap.reference, self._session_update(data, drafts, head, write, now),
                     option=self._db.write_option(last_update_time=snap.update_time))
        return batch

    def _session_update(self, data: JSON, drafts: list[_Draft], head: int | None, write: _Write,
                        now: datetime) -> JSON:
        update: JSON = {
            "next_seq": int(data.get("next_seq") or 0) + len(drafts), "head_seq": head,
            "message_count": int(data.get("message_count") or 0) + len(drafts),
            "updated_at": now, "expire_at": self._expiry(now), "last_write": write.write_id,
        }
        if write.usage:
            update["usage"] = Usage.from_dict(data.get("usage")).plus(write.usage).as_dict()
        if write.model:
            update["model"] = write.model
        if not data.get("title"):
            title = next((t for t in (_title_of(d.message) for d in drafts) if t), None)
            if title:
                update["title"] = title
        return update

    def _landed(self, session_id: str, seq: int, write_id: str) -> bool:
        """Whether a commit whose answer was lost did land (its first message carries ``write_id``)."""
        snap = self._messages(session_id).document(message_doc_id(seq)).get(**self._opts())
        return bool(snap.exists and _data(snap).get("write_id") == write_id)

    def _place_bodies(self, session_id: str, drafts: list[_Draft], chunked: set[int], now: datetime) -> None:
        """Keep bodies inline while they fit one commit; write the others to chunks first."""
        budget = message_bodies.COMMIT_BYTES
        for draft in drafts:
            if draft.chunks is None and draft.size <= min(message_bodies.INLINE_BYTES, budget):
                budget -= draft.size
            elif id(draft) not in chunked:
                # A fresh stamp is at or after the session's current one, so chunks never
                # expire before the message that points at them.
                draft.chunks = message_bodies.write_chunks(self._db, self._opts(),
                                                           self._ref(session_id).collection(CHUNKS), draft.body,
                                                           self._stamp(now))
                chunked.add(id(draft))

    def _materialize(self, session_id: str, snaps: Sequence[Any]) -> list[StoredMessage]:
        """Message records from their documents, chunked bodies reassembled and verified."""
        records = []
        for snap in snaps:
            data = _data(snap)
            body = data.get("body")
            if body is None:
                body = self._read_chunks(session_id, data.get("chunks") or {}, snap.id)
            usage = data.get("usage")
            records.append(StoredMessage(
                seq=int(data["seq"]), parent_seq=data.get("parent_seq"), message=json.loads(body),
                status=str(data.get("status", "complete")), finish_reason=data.get("finish_reason"),
                model=data.get("model"), usage=Usage.from_dict(usage) if usage else None,
                request_id=data.get("request_id"), created_at=data["created_at"]))
        return records

    def _read_chunks(self, session_id: str, spec: JSON, message_id: str) -> str:
        body = message_bodies.read_chunks(self._db, self._opts(), self._ref(session_id).collection(CHUNKS), spec)
        if body is None:
            raise ServiceUnavailableError(f"Message {message_id} of session {session_id} is incomplete in "
                                          "session storage.", code="storage_error")
        return body

    def _needs_restamp(self, data: JSON, now: datetime) -> bool:
        expiry = self._expiry(now)
        stamp = data.get("transcript_expire_at")
        return expiry is not None and (stamp is None or stamp < expiry)

    def _restamp(self, ref: Any, now: datetime) -> None:
        """Move every message and chunk of a session to a new expiry stamp, then record it."""
        stamp = self._stamp(now)
        for name in (MESSAGES, CHUNKS):
            batch, pending = self._db.batch(), 0
            for snap in ref.collection(name).select([]).stream(**self._opts()):
                batch.update(snap.reference, {"expire_at": stamp})
                pending += 1
                if pending == _BATCH_WRITES:
                    batch.commit(**self._opts())
                    batch, pending = self._db.batch(), 0
            if pending:
                batch.commit(**self._opts())
        ref.update({"transcript_expire_at": stamp}, **self._opts())

    def _has_leftovers(self, ref: Any) -> bool:
        return any(next(iter(ref.collection(name).select([]).limit(1).stream(**self._opts())), None) is not None
                   for name in (MESSAGES, CHUNKS))

    def _purge(self, ref: Any) -> None:
        """Delete a session's chunks and messages, then the session document."""
        for name in (CHUNKS, MESSAGES):
            while True:
                snaps = list(ref.collection(name).select([]).limit(_BATCH_WRITES).stream(**self._opts()))
                if not snaps:
                    break
                batch = self._db.batch()
                for snap in snaps:
                    batch.delete(snap.reference)
                batch.commit(**self._opts())
        ref.delete(**self._opts())


def _message_data(seq: int, parent: int | None, draft: _Draft, write: _Write, *, now: datetime,
                  stamp: datetime | None) -> JSON:
    data: JSON = {
        "seq": seq, "parent_seq": parent, "role": draft.message["role"], "fp": draft.fp,
        "status": write.status, "finish_reason": None, "model": None, "usage": None,
        "request_id": write.request_id, "created_at": now, "expire_at": stamp, "write_id": write.write_id,
        **draft.extra,
    }
    if draft.chunks is None:
        data["body"] = draft.body
    else:
        data["chunks"] = draft.chunks
    return data


def _session(session_id: str, data: JSON) -> Session:
    return Session(
        id=session_id, owner=data["owner"], title=data.get("title"), model=data.get("model"),
        metadata=dict(data.get("metadata") or {}), created_at=data["created_at"], updated_at=data["updated_at"],
        message_count=int(data.get("message_count") or 0), usage=Usage.from_dict(data.get("usage")),
        legacy_id=data.get("legacy_id"), head_seq=data.get("head_seq"), expire_at=data.get("expire_at"),
    )


def _title_of(message: Mapping[str, Any]) -> str | None:
    if message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    if not isinstance(content, str):
        return None
    text = " ".join(content.split())
    return text[:_AUTO_TITLE_CHARS] or None


def _data(snap: Any) -> JSON:
    return snap.to_dict() or {}


def _now() -> datetime:
    return datetime.now(UTC)


def _expired(data: Mapping[str, Any], now: datetime | None = None) -> bool:
    expire_at = data.get("expire_at")
    return expire_at is not None and expire_at <= (now or _now())


def _take(items: Iterator[T], n: int) -> list[T]:
    out: list[T] = []
    for item in items:
        out.append(item)
        if len(out) >= n:
            break
    return out


def _count(query: Any, opts: dict[str, Any]) -> int:
    result = query.count(alias="n").get(**opts)
    return int(result[0][0].value)


def _not_found(session_id: str) -> NotFoundError:
    return NotFoundError(f"No session {session_id}.", param="session_id")


def _contended() -> ServiceUnavailableError:
    return ServiceUnavailableError("The session is busy with other writes; try again shortly.",
                                   code="session_busy", retry_after=1.0)
