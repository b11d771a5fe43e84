"""``POST /v1/chat/completions``: parse, translate, call Vertex, translate back (or relay a stream).

With a session (see ``turns.py``) the new messages are stored before Vertex is called and
the reply before the response ends. With an ``Idempotency-Key`` a repeated request replays
the stored result without calling Vertex.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import flask

from vertexchat import web
from vertexchat.catalog import Model
from vertexchat.errors import APIError
from vertexchat.handlers import Services
from vertexchat.images import FetchPolicy, fetch_as_data_url
from vertexchat.openai_schema import ChatRequest, parse_chat_request
from vertexchat.relay import Deadlines, OpenStream, StreamEnd, open_stream, relay
from vertexchat.resilience import Attempts, call_with_failover
from vertexchat.streaming import SSE_DONE, StreamTranslator, encode_sse, replay_chunks
from vertexchat.translate import ClaudeRequest, image_urls, to_claude, to_openai_completion
from vertexchat.turns import IdempotentRequest, Turn, session_choice

log = logging.getLogger(__name__)
T = TypeVar("T")

# Remote images of one request are fetched in parallel, a few at a time.
_IMAGE_FETCHERS = 4
# How a relayed stream's outcome is recorded on the stored reply.
_STATUS = {"complete": "complete", "client_closed": "incomplete", "error": "error"}


@dataclasses.dataclass
class _Exchange:
    """Everything one request's pieces share."""

    call: web.Call
    svc: Services
    request: ChatRequest
    target: Model
    turn: Turn | None
    idempotency: IdempotentRequest | None
    completion_id: str = dataclasses.field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = dataclasses.field(default_factory=lambda: int(time.time()))
    attempts: Attempts = dataclasses.field(default_factory=Attempts)


def create_completion(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """Answer one Chat Completions request, streamed or not."""
    body = web.json_body(call.request, svc.settings.max_request_bytes)
    request = parse_chat_request(body)
    # An unknown model is a 404 before anything goes upstream. Vertex is called with the
    # resolved id (aliases, undated names, variants); the response names the model as asked.
    target = svc.catalog.resolve(request.model)
    choice = session_choice(request, body if isinstance(body, dict) else {}, call.request.headers.get("X-Session-Id"))
    key = call.request.headers.get("Idempotency-Key")
    lease = svc.settings.total_timeout + svc.settings.upstream_deadline
    idempotency = (IdempotentRequest(svc.store, call.user, key, body, lease_seconds=lease)
                   if key is not None else None)
    call.fields.update(model=request.model, vertex_model=target.vertex_id, stream=request.stream)
    if idempotency is not None and idempotency.replay is not None:
        return _replay(call, idempotency, request)
    turn = Turn(svc.store, choice, call.user, call.request_id) if choice else None
    exchange = _Exchange(call, svc, request, target, turn, idempotency)
    try:
        return _answer(exchange)
    except BaseException:
        if idempotency is not None:
            idempotency.release()
        raise


def _answer(x: _Exchange) -> flask.Response:
    request = x.request
    if x.turn is not None:
        x.call.fields["session_id"] = x.turn.session_id
        request = dataclasses.replace(request, messages=x.turn.conversation(request.messages, x.target.vertex_id))
    # Translated (and remote images fetched) before anything is stored: a 400 stores nothing.
    claude = to_claude(request, default_max_tokens=x.svc.settings.default_max_tokens,
                       resolved_images=_fetch_images(request, x.svc))
    body = {**claude.body, "model": x.target.vertex_id}
    if x.turn is not None:
        # Stored before Vertex is called: Firestore down is a 503 and no tokens are spent.
        x.turn.record(request.messages, x.target.vertex_id)
        # Only now: a refused session (someone else's) must not look recorded.
        x.call.headers["X-Session-Id"] = x.turn.session_id
    if request.stream:
        return _stream(x, claude, body)

    message = _failover(x, lambda region: x.svc.vertex.create(body, headers=x.target.headers, region=region))
    completion = _completion(x, claude, message)
    seq = None
    if x.turn is not None:
        completion["session_id"] = x.turn.session_id
        try:
            seq = x.turn.save_reply(completion["choices"][0]["message"], status="complete",
                                    model=x.target.vertex_id, finish_reason=completion["choices"][0]["finish_reason"],
                                    usage=message.get("usage"))
        except APIError:
            # The client still gets the reply it paid for; a full-history client resends it next
            # turn and the transcript records it then.
            x.call.headers["X-Session-Saved"] = "false"
    if x.idempotency is not None:
        x.idempotency.complete(completion, x.turn.session_id if x.turn else None, seq)
    _log_content(x, completion)
    return web.json_response(completion, x.call)


def _stream(x: _Exchange, claude: ClaudeRequest, body: dict[str, Any]) -> flask.Response:
    settings = x.svc.settings
    stream: OpenStream = _failover(x, lambda region: open_stream(
        x.svc.vertex.stream(body, headers=x.target.headers, region=region), settings.first_byte_timeout))
    extra = {"session_id": x.turn.session_id} if x.turn else None
    translator = StreamTranslator(claude, x.completion_id, x.created, x.request.model, x.request.include_usage,
                                  extra=extra)
    x.call.log_deferred = True
    deadlines = Deadlines(heartbeat=settings.heartbeat_seconds, first_byte=settings.first_byte_timeout,
                          idle=settings.idle_timeout, total=settings.total_timeout)
    chunks = relay(stream, translator, deadlines=deadlines, client_gone=web.client_gone_probe(x.call.request),
                   on_end=lambda end: _stream_ended(x, claude, end), request_id=x.call.request_id)
    return web.sse_response(chunks, x.call)


def _stream_ended(x: _Exchange, claude: ClaudeRequest, end: StreamEnd) -> APIError | None:
    """Store the reply (also a partial one), settle the idempotency claim, write the log line."""
    completion = _completion(x, claude, end.translator.message)
    choice = completion["choices"][0]
    late: APIError | None = None
    seq = None
    if x.turn is not None:
        completion["session_id"] = x.turn.session_id
        finished = end.outcome == "complete"
        try:
            seq = x.turn.save_reply(choice["message"], status=_STATUS[end.outcome], model=x.target.vertex_id,
                                    finish_reason=choice["finish_reason"] if finished else None,
                                    usage=end.translator.message.get("usage"))
        except APIError as exc:
            late = exc if finished else None
    if x.idempotency is not None:
        if end.outcome == "complete" and late is None:
            x.idempotency.complete(completion, x.turn.session_id if x.turn else None, seq)
        else:
            x.idempotency.release()
    x.call.fields.update(outcome=end.outcome, ttft_ms=end.first_token_ms, chunks=end.chunks,
                         usage=end.translator.usage, finish_reason=choice["finish_reason"])
    _log_content(x, completion)
    error = end.error or late
    x.call.finish_log(error.status if error else 200, error)
    return late


def _replay(call: web.Call, idempotency: IdempotentRequest, request: ChatRequest) -> flask.Response:
    """The stored result of an earlier request with the same key: no Vertex call, nothing stored."""
    completion = idempotency.completion() or {}
    call.fields["idempotent_replay"] = True
    if completion.get("session_id"):
        call.headers["X-Session-Id"] = completion["session_id"]
    call.headers["Idempotent-Replayed"] = "true"
    if not request.stream:
        return web.json_response(completion, call)
    chunks = replay_chunks(completion, include_usage=request.include_usage)

    return web.sse_response([*(encode_sse(chunk) for chunk in chunks), SSE_DONE], call)


def _failover(x: _Exchange, attempt: Callable[[str], T]) -> T:
    try:
        return call_with_failover(attempt, model=x.target.vertex_id, policy=x.svc.upstream_policy,
                                  breakers=x.svc.breakers, record=x.attempts)
    finally:
        regions = x.attempts.regions
        x.call.fields.update(region=regions[-1] if regions else None, attempts=len(regions),
                             attempt_regions=regions)


def _completion(x: _Exchange, claude: ClaudeRequest, message: dict[str, Any]) -> dict[str, Any]:
    completion = to_openai_completion(message, request=claude, completion_id=x.completion_id, created=x.created,
                                      model=x.request.model)
    x.call.fields["usage"] = completion.get("usage")
    x.call.fields["finish_reason"] = completion["choices"][0]["finish_reason"]
    return completion


def _log_content(x: _Exchange, completion: dict[str, Any]) -> None:
    """LOG_CONTENT=true (debugging only): the prompt and the reply, in a line of their own."""
    if x.svc.settings.log_content:
        log.info("content", extra={"fields": {"request_id": x.call.request_id, "messages": list(x.request.messages),
                                              "reply": completion["choices"][0]["message"]}})


def _fetch_images(request: ChatRequest, svc: Services) -> dict[str, str]:
    """http(s) image URLs fetched (safely) into data URLs; Vertex accepts only base64 images."""
    wanted = image_urls(request)
    if not wanted:
        return {}
    s = svc.settings
    policy = FetchPolicy(max_bytes=s.max_image_bytes, timeout=s.image_fetch_timeout, allow_hosts=s.image_allow_hosts)
    unique = {url: param for param, url in wanted}

    def fetch(item: tuple[str, str]) -> tuple[str, str]:
        return item[0], fetch_as_data_url(item[0], item[1], policy)

    # Each fetch runs in a copy of this request's context, so its log lines carry the request id.
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=min(_IMAGE_FETCHERS, len(unique))) as pool:
        return dict(pool.map(lambda item: context.copy().run(fetch, item), unique.items()))
