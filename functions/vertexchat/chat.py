"""``POST /v1/chat/completions``: parse, translate, call Vertex, translate back (or relay a stream)."""

from __future__ import annotations

import time
import uuid

import flask

from vertexchat import web
from vertexchat.handlers import Services
from vertexchat.openai_schema import parse_chat_request
from vertexchat.relay import StreamEnd, relay
from vertexchat.streaming import StreamTranslator
from vertexchat.translate import to_claude, to_openai_completion


def create_completion(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """Answer one Chat Completions request, streamed or not."""
    settings = svc.settings
    request = parse_chat_request(web.json_body(call.request, settings.max_request_bytes))
    # An unknown model is a 404 before anything goes upstream. Vertex is called with the
    # resolved id (aliases, undated names, variants); the response names the model as asked.
    target = svc.catalog.resolve(request.model)
    claude = to_claude(request, default_max_tokens=settings.default_max_tokens)
    body = {**claude.body, "model": target.vertex_id}
    call.fields.update(model=request.model, vertex_model=target.vertex_id, stream=request.stream,
                       region=settings.region)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    if not request.stream:
        message = svc.vertex.create(body, headers=target.headers)
        completion = to_openai_completion(message, request=claude, completion_id=completion_id,
                                          created=created, model=request.model)
        call.fields["usage"] = completion.get("usage")
        call.fields["finish_reason"] = completion["choices"][0]["finish_reason"]
        return web.json_response(completion, call)

    upstream = svc.vertex.stream(body, headers=target.headers)
    translator = StreamTranslator(claude, completion_id, created, request.model, request.include_usage)
    call.log_deferred = True

    def on_end(end: StreamEnd) -> None:
        call.fields.update(outcome=end.outcome, ttft_ms=end.first_token_ms, chunks=end.chunks,
                           usage=end.translator.usage)
        call.finish_log(end.error.status if end.error else 200, end.error)

    chunks = relay(upstream, translator, heartbeat=settings.heartbeat_seconds,
                   client_gone=web.client_gone_probe(call.request), on_end=on_end, request_id=call.request_id)
    return web.sse_response(chunks, call)
