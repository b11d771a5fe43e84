"""``/v1/responses``: the Responses codec wired to the shared turn, with state in Firestore.

``POST /v1/responses``: parse (400s name the param), resolve the model (404 before any upstream
call), find what the request continues (``previous_response_id``: the caller's own stored
response, its conversation read from its session branch; ``conversation``: a vertexchat
session; ``item_reference``: the caller's stored items), claim the ``Idempotency-Key``,
translate through the chat codec (``request.py``), then a :class:`~vertexchat.turn.Turn`
answers, streamed through :class:`~vertexchat.openai_responses.events.ResponsesStream` or not.

State (``store``, default true): the conversation is recorded in a session before Vertex is
called (a new session for a new chain; a chain continued by ``previous_response_id`` is a
branch of its session) and the reply, the response object and its items are stored before
the response ends (:class:`ResponseRecorder`). ``store: false`` stores nothing.

``GET /v1/responses/{id}``, ``DELETE /v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items``
answer from the store; someone else's response is a 404 like a missing one.

Tested in tests/test_responses.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import flask

from vertexchat import caching, web
from vertexchat.catalog import Model
from vertexchat.errors import APIError, InvalidRequestError, NotFoundError, ServiceUnavailableError
from vertexchat.images import FetchPolicy, fetch_all
from vertexchat.openai_chat.reply import finish_reason, openai_message
from vertexchat.openai_chat.request import image_urls
from vertexchat.openai_responses import items as input_items
from vertexchat.openai_responses.events import ResponsesStream, replay_events
from vertexchat.openai_responses.reply import ResponseBuilder
from vertexchat.openai_responses.request import Conversation, claude_request, conversation
from vertexchat.openai_responses.schema import ResponsesRequest, parse_responses_request
from vertexchat.services import Services
from vertexchat.sessions.ids import canonical_session_id, new_session_id
from vertexchat.sessions.recorder import IdempotentRequest, Recorder, SessionChoice
from vertexchat.turn import Reply, Turn

if TYPE_CHECKING:  # Firestore loads on first use (services.py), not when the route is imported
    from vertexchat.openai_responses.store import ResponseStore
    from vertexchat.sessions.store import SessionStore

JSON = dict[str, Any]
_MAX_LISTED = 100


class ResponseReplies:
    """The Responses codec's reading of a Claude message, for the turn (see ``turn.ReplyCodec``)."""

    def __init__(self, builder: ResponseBuilder) -> None:
        self.builder = builder

    def reply(self, message: Mapping[str, Any]) -> Reply:
        body = self.builder.response(message)
        chat, json_answer = openai_message(message.get("content") or [], json_tool=self.builder.json_tool)
        finish = finish_reason(message.get("stop_reason"), json_mode=json_answer and "tool_calls" not in chat)
        return Reply(body=body, message=chat, finish_reason=finish, usage=body["usage"])


@dataclasses.dataclass(frozen=True)
class _Stored:
    """What a response stores besides its session messages."""

    responses: ResponseStore
    builder: ResponseBuilder
    input: list[JSON]
    new_ids: frozenset[str]


class ResponseRecorder(Recorder):
    """A session recorder that also stores the response object and its items with the reply."""

    def __init__(self, store: SessionStore, choice: SessionChoice, owner: str, request_id: str,
                 stored: _Stored) -> None:
        super().__init__(store, choice, owner, request_id)
        self.stored = stored

    def save_reply(self, message: JSON, *, status: str, model: str, finish_reason: str | None,
                   usage: Mapping[str, Any] | None) -> int | None:
        seq = super().save_reply(message, status=status, model=model, finish_reason=finish_reason, usage=usage)
        body = dict(self.stored.builder.last or {})
        if status == "incomplete" and body.get("status") == "completed":
            body.update(status="incomplete", incomplete_details={"reason": "interrupted"})
        elif status == "error":
            body.update(status="failed", error={"code": "stream_error", "message": "The response stream failed."})
        try:
            self.stored.responses.save(self.owner, body, self.stored.input, new_ids=self.stored.new_ids,
                                       session=(self.session_id, seq))
        except APIError:
            raise self.unsaved() from None
        return seq

    def unsaved(self) -> APIError:
        return ServiceUnavailableError("The response was generated but could not be stored; send the input "
                                       "again without previous_response_id.", code="response_not_saved")


class ResponseIdempotency(IdempotentRequest):
    """An ``Idempotency-Key`` claim whose result is a response object (never a chat completion)."""

    def complete(self, completion: JSON, session_id: str | None, seq: int | None) -> None:
        # The shared claim rebuilds an oversized result from a chat transcript; a response is not
        # one, so an oversized response frees the key instead (a retry runs again).
        super().complete(completion, None, None)


@dataclasses.dataclass
class _Context:
    """What a request continues: the stored history, its session, where a 400 about it points."""

    history: list[JSON]
    session: SessionChoice | None
    param: str


@dataclasses.dataclass(frozen=True)
class _Plan:
    """One request, resolved: what it continues, its items (with ids) and its conversation."""

    request: ResponsesRequest
    target: Model
    context: _Context
    items: tuple[JSON, ...]
    new_ids: frozenset[str]
    conv: Conversation


def create_response(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """Answer one Responses request, streamed or not."""
    body = web.json_body(call.request, svc.settings.max_request_bytes)
    plan = _plan(call, svc, parse_responses_request(body))
    key = call.request.headers.get("Idempotency-Key")
    lease = svc.settings.total_timeout + svc.settings.upstream_deadline
    idempotency = ResponseIdempotency(svc.store, call.user, key, body, lease_seconds=lease) if key else None
    if idempotency is not None and idempotency.replay is not None:
        return _replay(call, idempotency, plan.request)
    try:
        return _answer(call, svc, plan, idempotency)
    except BaseException:
        if idempotency is not None:
            idempotency.release()
        raise


def _plan(call: web.Call, svc: Services, request: ResponsesRequest) -> _Plan:
    """Resolve the model (404 before anything else), the stored items and what the request continues."""
    target = svc.catalog.resolve(request.model)
    call.fields.update(model=request.model, vertex_model=target.vertex_id, stream=request.stream)
    refs = [ref for _, ref in input_items.references(request.input)]
    # Referenced items, and items the client sends back whole (their ids): these link the session.
    sent_ids = [item["id"] for item in request.input if isinstance(item.get("id"), str) and item["id"]]
    stored = svc.responses.find(call.user, [*refs, *sent_ids]) if request.store or refs else {}
    resolved = input_items.resolved(request.input, {key: found.item for key, found in stored.items()})
    linked = [stored[item_id].session_id for item_id in (*refs, *sent_ids) if item_id in stored]
    context = _context(svc, call.user, request, linked)
    named, new_ids = input_items.with_ids(resolved)
    return _Plan(request, target, context, named, frozenset(new_ids),
                 conversation(request, named, context.history, context.param))


def _answer(call: web.Call, svc: Services, plan: _Plan, idempotency: IdempotentRequest | None) -> flask.Response:
    request, conv, target = plan.request, plan.conv, plan.target
    claude = claude_request(conv, default_max_tokens=svc.settings.default_max_tokens,
                            resolved_images=fetch_all(image_urls(conv.chat), FetchPolicy.of(svc.settings)))
    session = plan.context.session if request.store else None
    extra = {"conversation": {"id": session.session_id}} if request.conversation and session else {}
    builder = ResponseBuilder(model=request.model, echo=request.echo or {}, json_tool=claude.json_tool,
                              encrypted_reasoning=request.encrypted_reasoning, extra=extra)
    recorder = None
    if session is not None:
        stored = _Stored(svc.responses, builder, list(plan.items), plan.new_ids)
        recorder = ResponseRecorder(svc.store, session, call.user, call.request_id, stored)
        # Stored before Vertex is called: Firestore down is a 503 and no tokens are spent.
        recorder.record(conv.messages, target.vertex_id)
        call.fields["session_id"] = session.session_id
        call.response_headers["X-Session-Id"] = session.session_id
    call.fields["response_id"] = builder.id
    codec = ResponseReplies(builder)
    turn = Turn(call, svc, target, recorder=recorder, idempotency=idempotency)
    # Prompt-cache breakpoints as for chat: instructions are the stable system prefix.
    body = caching.apply({**claude.body, "model": target.vertex_id}, caching.policy(svc.settings, target),
                         claude.stable)
    if request.stream:
        return web.sse_response(turn.stream(body, codec, ResponsesStream(builder)), call)
    return web.json_response(turn.create(body, codec).body, call)


def _context(svc: Services, owner: str, request: ResponsesRequest, item_sessions: list[str | None]) -> _Context:
    if request.previous_response_id is not None:
        previous = svc.responses.get(owner, request.previous_response_id, param="previous_response_id")
        if previous.session_id is None:
            raise InvalidRequestError("This response's conversation was not stored.", param="previous_response_id")
        try:
            history = svc.store.history(previous.session_id, owner, upto=previous.reply_seq)
        except NotFoundError:  # its session was deleted since
            raise NotFoundError(f"The conversation of response {previous.id!r} was deleted.",
                                param="previous_response_id") from None
        return _Context(history, SessionChoice(previous.session_id, None, False), "previous_response_id")
    if request.conversation is not None:
        session_id, legacy = canonical_session_id(request.conversation, "conversation")
        return _Context(svc.store.history(session_id, owner), SessionChoice(session_id, legacy, False),
                        "conversation")
    # A client that resends its input with item_references continues the session they came from.
    linked = next((session_id for session_id in item_sessions if session_id), None)
    return _Context([], SessionChoice(linked or new_session_id(), None, False), "input")


def _replay(call: web.Call, idempotency: IdempotentRequest, request: ResponsesRequest) -> flask.Response:
    """The stored result of an earlier request with the same key: no Vertex call, nothing stored."""
    response = idempotency.completion() or {}
    call.fields["idempotent_replay"] = True
    call.response_headers["Idempotent-Replayed"] = "true"
    if not request.stream:
        return web.json_response(response, call)
    return web.sse_response(replay_events(response), call)


def response_item(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """``GET`` or ``DELETE /v1/responses/{id}``."""
    if call.request.method == "DELETE":
        return delete_response(call, svc, params)
    return get_response(call, svc, params)


def get_response(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """``GET /v1/responses/{id}``: the caller's stored response."""
    return web.json_response(svc.responses.get(call.user, params["response_id"]).body, call)


def delete_response(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """``DELETE /v1/responses/{id}``: the response and its items (its session messages stay in the session)."""
    response_id = params["response_id"]
    svc.responses.delete(call.user, response_id)
    return web.json_response({"id": response_id, "object": "response.deleted", "deleted": True}, call)


def list_input_items(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """``GET /v1/responses/{id}/input_items``: ``limit`` (1-100, 20), ``order`` (desc), ``after``."""
    found = svc.responses.get(call.user, params["response_id"]).input
    args = call.request.args
    order = args.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequestError("order must be 'asc' or 'desc'.", param="order")
    limit_text = args.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= _MAX_LISTED:
        raise InvalidRequestError(f"limit must be an integer from 1 to {_MAX_LISTED}.", param="limit")
    ordered = found if order == "asc" else list(reversed(found))
    after = args.get("after")
    if after is not None:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise InvalidRequestError(f"No input item {after!r} in this response.", param="after")
        ordered = ordered[ids.index(after) + 1:]
    page = ordered[:int(limit_text)]
    return web.json_response({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                              "last_id": page[-1]["id"] if page else None,
                              "has_more": len(ordered) > len(page)}, call)
