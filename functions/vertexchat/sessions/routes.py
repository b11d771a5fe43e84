"""The ``sessions`` function: conversations in Firestore, each visible to its owner only.

Routes (the owner is always ``call.user``; a ``user_id`` in the query is ignored):

    GET    /v1/sessions?limit=&after=          the caller's sessions, most recently updated first
    POST   /v1/sessions                        201, a new session (body optional: title, model, metadata)
    GET    /v1/sessions/{id}                   one session
    PATCH  /v1/sessions/{id}                   set title and/or replace metadata
    DELETE /v1/sessions/{id}                   the session, its messages and their chunks
    GET    /v1/sessions/{id}/messages?limit=&after=   every message, in seq order (all branches)
    GET    /atoms/chat/sessions?page=&page_size=      atomsAgent's list shape (atoms_compat.py)
    GET    /atoms/chat/sessions/{id}           atomsAgent's {session, messages} (active path)

Decisions:
- Someone else's session answers exactly like a missing one: 404 ``not_found``.
- ``/v1`` paths take canonical UUIDs only; anything else is a 400 naming ``session_id``. The
  ``/atoms`` paths also take the old frontend's legacy ids (mapped as in ``session_ids``).
- DELETE answers 200 ``{"id", "object": "chat.session.deleted", "deleted": true}`` for the
  caller's own session, and 404 ``not_found`` for a missing one, one already deleted, and
  someone else's alike: a 200 for someone else's session would tell its id exists. DELETE
  stays idempotent in effect (RFC 9110 9.2.2): a retry changes nothing, it just says 404.
- ``/v1`` timestamps are unix seconds, as in OpenAI's API; the ``/atoms`` routes answer
  ISO-8601 strings, as atomsAgent did. Cursors are opaque.
- Bodies with fields this API does not know are refused (400 naming the field), so a typo
  never passes silently.

Tested in tests/test_sessions_api.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import flask

from vertexchat import web
from vertexchat.errors import InvalidRequestError
from vertexchat.services import Services
from vertexchat.sessions import atoms_compat
from vertexchat.sessions import ids as session_ids
from vertexchat.sessions.records import (
    MAX_MODEL_CHARS,
    MAX_TITLE_CHARS,
    UNSET,
    Session,
    StoredMessage,
    Usage,
    check_metadata,
)
from vertexchat.sessions.store import SessionStore

JSON = dict[str, Any]
_MAX_OFFSET = 10_000
Action = Callable[[web.Call, SessionStore, dict[str, str]], flask.Response]

# Envelope keys of a message object; message fields of the same name are not repeated.
_ENVELOPE = frozenset({"id", "object", "session_id", "seq", "parent_seq", "status", "finish_reason", "model",
                       "usage", "request_id", "created_at"})


def collection(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """GET lists the caller's sessions; POST creates one."""
    return _by_method({"GET": _list, "POST": _create}, call, svc, params)


def item(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """GET, PATCH or DELETE one of the caller's sessions."""
    return _by_method({"GET": _get, "PATCH": _patch, "DELETE": _delete}, call, svc, params)


def messages(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """GET a page of a session's messages in seq order."""
    session_id = session_ids.strict_session_id(params["session_id"], "session_id")
    limit = _int_arg(call, "limit", 100, 1, 1000)
    page = svc.store.list_messages(session_id, call.user, limit=limit, after=_after(call))
    body = {"object": "list", "data": [message_json(m, session_id) for m in page.data],
            "has_more": page.has_more, "next_cursor": page.next_cursor}
    return web.json_response(body, call)


def compat_list(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """The old frontend's ``GET /atoms/chat/sessions?page=&page_size=``."""
    page = _int_arg(call, "page", 1, 1, 10_000)
    page_size = _int_arg(call, "page_size", 20, 1, 100)
    if page * page_size > _MAX_OFFSET:
        # Offset paging reads every row before the page; cursors (/v1/sessions) do not.
        raise InvalidRequestError(f"page * page_size must be at most {_MAX_OFFSET}; use /v1/sessions "
                                  "with its cursor to go further.", param="page")
    rows, more = svc.store.list_sessions_page(call.user, page=page, page_size=page_size)
    body = {"sessions": [atoms_compat.session_json(s) for s in rows], "total": svc.store.count_sessions(call.user),
            "page": page, "page_size": page_size, "has_more": more}
    return web.json_response(body, call)


def compat_get(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """The old frontend's ``GET /atoms/chat/sessions/{id}``: the session and its conversation."""
    session_id, _ = session_ids.canonical_session_id(params["session_id"], "session_id")
    session = svc.store.get_session(session_id, call.user)
    records = svc.store.transcript(session_id, call.user)
    messages = [atoms_compat.message_json(m, session_id, index) for index, m in enumerate(records)]
    return web.json_response({"session": atoms_compat.session_json(session), "messages": messages}, call)


def session_json(session: Session) -> JSON:
    """The API object of a session."""
    return {
        "id": session.id,
        "object": "chat.session",
        "created_at": _unix(session.created_at),
        "updated_at": _unix(session.updated_at),
        "expires_at": _unix(session.expire_at) if session.expire_at else None,
        "title": session.title,
        "model": session.model,
        "metadata": session.metadata,
        "message_count": session.message_count,
        "usage": _usage_json(session.usage),
        "legacy_id": session.legacy_id,
    }


def message_json(record: StoredMessage, session_id: str) -> JSON:
    """The API object of a message: its envelope, then the stored OpenAI-shaped fields."""
    head = {"id": record.id, "object": "chat.message", "session_id": session_id, "seq": record.seq,
            "parent_seq": record.parent_seq}
    fields = {k: v for k, v in record.message.items() if k not in _ENVELOPE}
    tail = {"status": record.status, "finish_reason": record.finish_reason, "model": record.model,
            "usage": _usage_json(record.usage) if record.usage else None, "request_id": record.request_id,
            "created_at": _unix(record.created_at)}
    return {**head, **fields, **tail}


def _list(call: web.Call, store: SessionStore, params: dict[str, str]) -> flask.Response:
    limit = _int_arg(call, "limit", 20, 1, 100)
    page = store.list_sessions(call.user, limit=limit, after=_after(call))
    body = {"object": "list", "data": [session_json(s) for s in page.data], "has_more": page.has_more,
            "next_cursor": page.next_cursor}
    return web.json_response(body, call)


def _create(call: web.Call, store: SessionStore, params: dict[str, str]) -> flask.Response:
    body = _body(call, ("title", "model", "metadata"))
    session = store.create_session(call.user, title=_text(body, "title", MAX_TITLE_CHARS),
                                   model=_text(body, "model", MAX_MODEL_CHARS),
                                   metadata=check_metadata(body.get("metadata")))
    call.fields["session_id"] = session.id
    return web.json_response(session_json(session), call, status=201)


def _get(call: web.Call, store: SessionStore, params: dict[str, str]) -> flask.Response:
    return web.json_response(session_json(store.get_session(_path_id(params), call.user)), call)


def _patch(call: web.Call, store: SessionStore, params: dict[str, str]) -> flask.Response:
    session_id = _path_id(params)
    body = _body(call, ("title", "metadata"))
    title = _text(body, "title", MAX_TITLE_CHARS) if "title" in body else UNSET
    metadata = check_metadata(body["metadata"]) if "metadata" in body else UNSET
    return web.json_response(session_json(store.update_session(session_id, call.user, title=title,
                                                               metadata=metadata)), call)


def _delete(call: web.Call, store: SessionStore, params: dict[str, str]) -> flask.Response:
    session_id = _path_id(params)
    # Missing, already gone or never the caller's: the store's 404, the same for all three.
    store.delete_session(session_id, call.user)
    return web.json_response({"id": session_id, "object": "chat.session.deleted", "deleted": True}, call)


def _by_method(actions: Mapping[str, Action], call: web.Call, svc: Services,
               params: dict[str, str]) -> flask.Response:
    # The router has already refused methods outside the route's list.
    if "session_id" in params:
        call.fields["session_id"] = params["session_id"][:64]
    return actions[call.request.method](call, svc.store, params)


def _path_id(params: dict[str, str]) -> str:
    return session_ids.strict_session_id(params["session_id"], "session_id")


def _after(call: web.Call) -> str | None:
    after = call.request.args.get("after")
    if after is not None and not after:
        raise InvalidRequestError("after must not be empty.", param="after")
    return after


def _int_arg(call: web.Call, name: str, default: int, low: int, high: int) -> int:
    raw = call.request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidRequestError(f"{name} must be an integer from {low} to {high}.", param=name)
    return int(raw)


def _body(call: web.Call, allowed: tuple[str, ...]) -> JSON:
    """The JSON object body; an empty body is an empty object."""
    request = call.request
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return {}
    body = web.json_body(request, 64 * 1024)
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.", param="body")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidRequestError(f"Unknown field {unknown[0]}; this route takes {', '.join(allowed)}.",
                                  param=unknown[0])
    return body


def _text(body: JSON, name: str, max_chars: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_chars:
        raise InvalidRequestError(f"{name} must be a string of at most {max_chars} characters, or null.",
                                  param=name)
    return value


def _usage_json(usage: Usage) -> JSON:
    return {"input_tokens": usage.input, "output_tokens": usage.output,
            "cache_read_input_tokens": usage.cache_read, "cache_creation_input_tokens": usage.cache_write}


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())
