"""The session side of a turn: which session it belongs to, recording it, and ``Idempotency-Key`` claims.

A chat request names its session with ``session_id`` in the body, ``metadata.session_id``
(where the old frontend puts it) or the ``X-Session-Id`` header. A valid UUID that does not
exist yet creates the session for the caller (frontends mint uuid4 ids themselves); a
legacy id (``session-<ms>-<rand>``, ``atoms_session_<hex>``) maps to the UUID the old
frontend derives from it (md5), and the legacy id is kept on the session.

History: by default the client sends the whole conversation each turn (``"session_history":
"client"``) and only what the transcript lacks is stored. A client may instead send just
the new turn with ``"session_history": "server"``: the stored conversation is prepended
before the request goes to Claude; a system message the history already holds is not added
again (clients that resend their system prompt every turn would otherwise grow it). Both
produce identical transcripts. When a client's
history diverges from the stored one (an edited or regenerated turn), the new messages start
a branch and the old ones are kept (see ``sessions.py``).

Order of work, so that nothing is paid for that cannot be recorded: the session is opened and
the new messages are stored *before* Vertex is called (Firestore unreachable: 503, no upstream
call); the reply is stored, with its usage and finish_reason, *before* the response's last
byte (Cloud Functions throttle CPU after the response). A stream cut by the client or by an
error is stored as ``incomplete`` or ``error`` with the text produced so far.

Tested in tests/test_chat_sessions.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from vertexchat.errors import (
    APIError,
    ConflictError,
    InvalidRequestError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from vertexchat.sessions.ids import canonical_session_id
from vertexchat.sessions.records import Usage
from vertexchat.sessions.transcript import fingerprint

if TYPE_CHECKING:
    from vertexchat.sessions.store import SessionStore

log = logging.getLogger(__name__)
JSON = dict[str, Any]

HISTORY_MODES = ("client", "server")
# Idempotency results are stored in one document; larger replies are replayed from the transcript.
_MAX_INLINE_RESULT = 800 * 1024


@dataclass(frozen=True, slots=True)
class SessionChoice:
    """The session a request names, canonicalised."""

    session_id: str
    legacy_id: str | None
    server_history: bool


def session_choice(*, session_id: str | None, metadata: Mapping[str, Any] | None, history: object,
                   header: str | None) -> SessionChoice | None:
    """Which session a request belongs to (None: no session); 400 naming the field when malformed.

    ``session_id`` and ``metadata`` come from the body (already type-checked by the API's
    parser), ``history`` is the body's ``session_history`` as sent, ``header`` ``X-Session-Id``.
    """
    mode = "client" if history is None else history
    if mode not in HISTORY_MODES:
        raise InvalidRequestError("session_history must be 'client' or 'server'.", param="session_history")
    metadata = metadata or {}
    for raw, param in ((session_id, "session_id"), (metadata.get("session_id"), "metadata.session_id"),
                       (header, "X-Session-Id")):
        if raw is not None:
            session_id, legacy = canonical_session_id(raw, param)
            return SessionChoice(session_id, legacy, mode == "server")
    if mode == "server":
        raise InvalidRequestError("session_history 'server' needs a session_id.", param="session_history")
    return None


class Recorder:
    """One turn recorded in a session, exactly once: the new messages before Vertex, the reply after."""

    def __init__(self, store: SessionStore, choice: SessionChoice, owner: str, request_id: str) -> None:
        self.store = store
        self.choice = choice
        self.owner = owner
        self.request_id = request_id
        self._head: int | None = None
        self._opened = False
        # With server-side history: how many leading messages of the conversation came from the store.
        self._stored = 0

    @property
    def session_id(self) -> str:
        return self.choice.session_id

    def conversation(self, messages: tuple[JSON, ...], model: str) -> tuple[JSON, ...]:
        """The conversation to send: with ``session_history: "server"`` the stored one comes first.

        Nothing of the request is stored here: :meth:`record` does that once the request has
        passed validation, so a request refused with a 400 adds nothing to the transcript.
        """
        if not self.choice.server_history:
            return messages
        self._open(model)
        history = self.store.history(self.session_id, self.owner)
        self._stored = len(history)
        return (*history, *without_resent_system(history, messages))

    def record(self, conversation: tuple[JSON, ...], model: str) -> None:
        """Open (or create) the session and store what its transcript lacks of ``conversation``.

        With server-side history only the request's own messages are new: they are appended at
        the session's head as it is when they land. Comparing the whole conversation instead
        would record the history read a moment ago again whenever a concurrent turn had moved
        the head meanwhile (issue 15, fault 2), so each message is stored exactly once.
        """
        self._open(model)
        if self.choice.server_history and len(conversation) > self._stored:
            seqs = self.store.append(self.session_id, self.owner, conversation[self._stored:],
                                     request_id=self.request_id)
            self._head = seqs[-1]
            return
        sync = self.store.record_conversation(self.session_id, self.owner, conversation,
                                              request_id=self.request_id)
        self._head = sync.head_seq

    def _open(self, model: str) -> None:
        if not self._opened:
            self.store.open_turn(self.session_id, self.owner, legacy_id=self.choice.legacy_id, model=model)
            self._opened = True

    def save_reply(self, message: JSON, *, status: str, model: str, finish_reason: str | None,
                   usage: Mapping[str, Any] | None) -> int | None:
        """Store the assistant reply after this turn's messages; ServiceUnavailableError if it cannot be."""
        try:
            seqs = self.store.append(self.session_id, self.owner, [message], request_id=self.request_id,
                                     status=status, parent_seq=self._head, model=model,
                                     finish_reason=finish_reason, usage=_usage(usage))
        except APIError as exc:
            log.exception("reply not saved", extra={"fields": {"request_id": self.request_id,
                                                           "session_id": self.session_id, "error": exc.message}})
            raise ServiceUnavailableError(
                "The reply was generated but could not be saved to the session; resend the conversation "
                "to record it.", code="session_not_saved") from None
        return seqs[-1] if seqs else None


def without_resent_system(history: tuple[JSON, ...] | list[JSON], messages: tuple[JSON, ...]) -> tuple[JSON, ...]:
    """The new messages minus system/developer messages the stored history already holds.

    Many clients resend their system prompt with every turn even when the server keeps the
    history; stored again each turn, every copy would be hoisted into Claude's ``system``
    (the prompt growing by a copy per turn, and the cached prefix changing every turn).
    """
    held = {fingerprint(m) for m in history if m.get("role") in ("system", "developer")}
    return tuple(m for m in messages if m.get("role") not in ("system", "developer") or fingerprint(m) not in held)


def _usage(claude_usage: Mapping[str, Any] | None) -> Usage | None:
    if not claude_usage:
        return None
    return Usage(int(claude_usage.get("input_tokens") or 0), int(claude_usage.get("output_tokens") or 0),
                 int(claude_usage.get("cache_read_input_tokens") or 0),
                 int(claude_usage.get("cache_creation_input_tokens") or 0))


class IdempotentRequest:
    """An ``Idempotency-Key`` claim: replay a finished request, refuse a concurrent or altered one."""

    def __init__(self, store: SessionStore, owner: str, key: str, body: Any, *, lease_seconds: float) -> None:
        self.store = store
        self.owner = owner
        self.key = key
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        # The lease outlives the longest request, so a retry never takes over a running one.
        claim = store.claim_idempotency(owner, key, digest, lease=timedelta(seconds=lease_seconds))
        if claim.state == "in_progress":
            raise ConflictError("A request with this Idempotency-Key is still running; retry shortly.",
                                param="Idempotency-Key", retry_after=claim.retry_after or 1.0)
        if claim.state == "mismatch":
            raise UnprocessableEntityError("This Idempotency-Key was used with a different request body.",
                                           param="Idempotency-Key")
        self.token = claim.token
        self.replay: JSON | None = claim.result if claim.state == "done" else None
        self._settled = self.replay is not None

    def completion(self) -> JSON | None:
        """The stored completion to replay, rebuilt from the transcript when it was too large to inline."""
        if self.replay is None:
            return None
        if "completion" in self.replay:
            return dict(self.replay["completion"])
        reference = self.replay["reference"]
        stored = self.store.get_message(reference["session_id"], self.owner, int(reference["seq"]))
        completion = dict(reference["completion"])
        completion["choices"] = [{**completion["choices"][0], "message": stored.message}]
        return completion

    def complete(self, completion: JSON, session_id: str | None, seq: int | None) -> None:
        """Record the finished request's result for replays; on failure free the key instead.

        Never raises: the client already has its answer, and a key that cannot be completed
        is released so that a retry runs again rather than waiting on a dead claim.
        """
        if self._settled or self.token is None:
            return
        result: JSON = {"completion": completion}
        if len(json.dumps(completion)) > _MAX_INLINE_RESULT:
            if session_id is None or seq is None:
                # Nothing to replay from: let a retry run again rather than store a broken record.
                self.release()
                return
            head = {**completion, "choices": [{**completion["choices"][0], "message": None}]}
            result = {"reference": {"session_id": session_id, "seq": seq, "completion": head}}
        try:
            self.store.complete_idempotency(self.owner, self.key, self.token, result)
        except APIError:
            log.warning("idempotency result not stored; releasing the key")
            self.release()
            return
        self._settled = True

    def release(self) -> None:
        """The request failed: the key is free for a retry."""
        if self._settled or self.token is None:
            return
        self._settled = True
        try:
            self.store.release_idempotency(self.owner, self.key, self.token)
        except APIError:
            # The claim's lease runs out by itself; a retry waits for it at worst.
            log.warning("idempotency key not released; its lease will expire")
