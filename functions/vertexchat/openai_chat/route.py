"""``POST /v1/chat/completions``: the chat codec wired to the shared turn.

Parse and validate (400s name the field), resolve the model (404 before any upstream call),
name the session and claim the ``Idempotency-Key``, translate to Claude (remote images
fetched first), then hand the Claude request to a :class:`~vertexchat.turn.Turn`, which
calls Vertex, relays a stream through :class:`~vertexchat.openai_chat.chunks.ChatStream`,
and stores and logs the reply that :class:`ChatReplies` reads from Claude's message.

With a session (see ``sessions/recorder.py``) the new messages are stored before Vertex is
called and the reply before the response ends. With an ``Idempotency-Key`` a repeated
request replays the stored result without calling Vertex.

Tested in tests/test_chat_completions.py.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

import flask

from vertexchat import caching, web
from vertexchat.images import FetchPolicy, fetch_all
from vertexchat.openai_chat.chunks import SSE_DONE, ChatStream, encode_sse, replay_chunks
from vertexchat.openai_chat.reply import to_openai_completion
from vertexchat.openai_chat.request import image_urls, to_claude
from vertexchat.openai_chat.schema import JSON, ChatRequest, parse_chat_request
from vertexchat.services import Services
from vertexchat.sessions.recorder import IdempotentRequest, Recorder, session_choice
from vertexchat.turn import Reply, Turn

log = logging.getLogger(__name__)



class ChatReplies:
    """The chat codec's reading of a Claude message, for the turn (see ``turn.ReplyCodec``)."""

    def __init__(self, request: ChatRequest, json_tool: str | None, session_id: str | None) -> None:
        self.request = request
        self.json_tool = json_tool
        self.session_id = session_id
        self.completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def reply(self, message: Mapping[str, Any]) -> Reply:
        completion = to_openai_completion(message, json_tool=self.json_tool, completion_id=self.completion_id,
                                          created=self.created, model=self.request.model)
        if self.session_id is not None:
            completion["session_id"] = self.session_id
        choice = completion["choices"][0]
        return Reply(body=completion, message=choice["message"], finish_reason=choice["finish_reason"],
                     usage=completion["usage"])

    def stream(self) -> ChatStream:
        extra = {"session_id": self.session_id} if self.session_id else None
        return ChatStream(json_tool=self.json_tool, completion_id=self.completion_id, created=self.created,
                          model=self.request.model, include_usage=self.request.include_usage, extra=extra)


def create_completion(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """Answer one Chat Completions request, streamed or not."""
    body = web.json_body(call.request, svc.settings.max_request_bytes)
    request = parse_chat_request(body)
    # An unknown model is a 404 before anything goes upstream. Vertex is called with the
    # resolved id (aliases, undated names, variants); the response names the model as asked.
    target = svc.catalog.resolve(request.model)
    fields = body if isinstance(body, dict) else {}
    choice = session_choice(session_id=request.session_id, metadata=request.metadata,
                            history=fields.get("session_history"), header=call.request.headers.get("X-Session-Id"))
    key = call.request.headers.get("Idempotency-Key")
    lease = svc.settings.total_timeout + svc.settings.upstream_deadline
    idempotency = (IdempotentRequest(svc.store, call.user, key, body, lease_seconds=lease)
                   if key is not None else None)
    call.fields.update(model=request.model, vertex_model=target.vertex_id, stream=request.stream)
    if idempotency is not None and idempotency.replay is not None:
        return _replay(call, idempotency, request)
    recorder = Recorder(svc.store, choice, call.user, call.request_id) if choice else None
    try:
        return _answer(Turn(call, svc, target, recorder=recorder, idempotency=idempotency), request)
    except BaseException:
        if idempotency is not None:
            idempotency.release()
        raise


def _answer(turn: Turn, request: ChatRequest) -> flask.Response:
    call, svc, recorder = turn.call, turn.svc, turn.recorder
    if recorder is not None:
        call.fields["session_id"] = recorder.session_id
        request = dataclasses.replace(request, messages=recorder.conversation(request.messages,
                                                                              turn.target.vertex_id))
    # Translated (and remote images fetched) before anything is stored: a 400 stores nothing.
    claude = to_claude(request, default_max_tokens=svc.settings.default_max_tokens,
                       resolved_images=fetch_all(image_urls(request), FetchPolicy.of(svc.settings)))
    codec = ChatReplies(request, claude.json_tool, recorder.session_id if recorder else None)
    body = caching.apply({**claude.body, "model": turn.target.vertex_id}, caching.policy(svc.settings, turn.target),
                         claude.stable)
    if recorder is not None:
        # Stored before Vertex is called: Firestore down is a 503 and no tokens are spent.
        recorder.record(request.messages, turn.target.vertex_id)
        # Only now: a refused session (someone else's) must not look recorded.
        call.response_headers["X-Session-Id"] = recorder.session_id
    if request.stream:
        return web.sse_response(turn.stream(body, codec, codec.stream()), call)
    reply = turn.create(body, codec)
    _log_content(call, svc, request, reply.message)
    return web.json_response(reply.body, call)


def _replay(call: web.Call, idempotency: IdempotentRequest, request: ChatRequest) -> flask.Response:
    """The stored result of an earlier request with the same key: no Vertex call, nothing stored."""
    completion = idempotency.completion() or {}
    call.fields["idempotent_replay"] = True
    if completion.get("session_id"):
        call.response_headers["X-Session-Id"] = completion["session_id"]
    call.response_headers["Idempotent-Replayed"] = "true"
    if not request.stream:
        return web.json_response(completion, call)
    chunks = replay_chunks(completion, include_usage=request.include_usage)
    return web.sse_response([*(encode_sse(chunk) for chunk in chunks), SSE_DONE], call)


def _log_content(call: web.Call, svc: Services, request: ChatRequest, reply: JSON) -> None:
    """LOG_CONTENT=true (debugging only): the prompt and the reply, in a line of their own."""
    if svc.settings.log_content:
        log.info("content", extra={"fields": {"request_id": call.request_id, "messages": list(request.messages),
                                              "reply": reply}})
