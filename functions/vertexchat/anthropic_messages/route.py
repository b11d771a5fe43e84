"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``: the Messages API passed through to Vertex AI.

Parse just enough to route (``request.parse``), resolve the model through the catalog (an
unknown one is Anthropic's 404 before any upstream call), choose the ``anthropic-beta`` values
to forward (known-refused ones dropped and logged), then hand the Vertex body to a
:class:`~vertexchat.turn.Turn` whose calls are a :class:`PassThrough`: retries and failover
before the first byte, deadlines, pings, client-gone and shutdown handling and the one log
line are the turn's, as for chat. Errors render in Anthropic's shape (the routes'
``errors="anthropic"``). No session is stored: Anthropic clients resend the whole conversation.

Tested in tests/test_anthropic_messages.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import flask

from vertexchat import web
from vertexchat.anthropic_messages import betas
from vertexchat.anthropic_messages.passthrough import PassThrough, beta_retry
from vertexchat.anthropic_messages.request import (
    MessagesRequest,
    count_tokens_body,
    encode,
    generate_body,
    parse,
)
from vertexchat.anthropic_messages.stream import MessagesStream
from vertexchat.catalog import REFUSED_BETAS, Model
from vertexchat.services import Services
from vertexchat.turn import Reply, Turn

log = logging.getLogger(__name__)

# The usage counters the log line shows (cache reads and writes are billed apart from input_tokens).
_LOGGED_USAGE = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
                 "cache_creation")


class MessagesReplies:
    """The Messages API's reading of a Claude message: the message itself (see ``turn.ReplyCodec``)."""

    def reply(self, message: Mapping[str, Any]) -> Reply:
        usage = message.get("usage") or {}
        logged = {key: usage[key] for key in _LOGGED_USAGE if usage.get(key) is not None}
        return Reply(body=dict(message), message=dict(message), finish_reason=message.get("stop_reason"),
                     usage=logged)


def create_message(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """Answer one Messages API request, streamed or not."""
    request, target, headers = _prepare(call, svc)
    call.fields["stream"] = request.stream
    calls = PassThrough(svc.http, target.vertex_id, call.fields, call.request_id)
    turn = Turn(call, svc, target, upstream=calls, headers=headers)
    body, codec = generate_body(request.body), MessagesReplies()
    if request.stream:
        return web.sse_response(turn.stream(body, codec, MessagesStream()), call)
    return web.json_response(turn.create(body, codec).body, call)


def count_tokens(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """Vertex's count of the request's input tokens: ``{"input_tokens": N}``."""
    request, target, headers = _prepare(call, svc)
    content = encode(count_tokens_body(request.body, target.vertex_id))

    def attempt(region: str) -> dict[str, Any]:
        return beta_retry(lambda sent: svc.rest.count_tokens_raw(content, headers=sent, location=region), headers,
                          fields=call.fields, request_id=call.request_id)

    return web.json_response(Turn(call, svc, target).failover(attempt), call)


def _prepare(call: web.Call, svc: Services) -> tuple[MessagesRequest, Model, dict[str, str]]:
    """Parse, resolve the model (an unknown one is a 404 before any upstream call), choose the beta headers."""
    # Anthropic's request id header, which the SDKs read (errors included).
    call.response_headers["request-id"] = call.request_id
    request = parse(web.json_body(call.request, svc.settings.max_request_bytes))
    target = svc.catalog.resolve(request.model)
    call.fields.update(model=request.model, vertex_model=target.vertex_id)
    return request, target, _beta_headers(call, target)


def _beta_headers(call: web.Call, target: Model) -> dict[str, str]:
    """The client's ``anthropic-beta`` values less the known-refused ones, added to the model variant's headers."""
    asked = betas.parse(call.request.headers.getlist(betas.HEADER))
    kept, dropped = betas.split(asked, REFUSED_BETAS)
    if dropped:
        call.fields["betas_dropped"] = dropped
        log.info("dropped anthropic-beta values Vertex AI refuses", extra={"fields": {"betas": dropped}})
    return betas.headers(kept, target.headers)
