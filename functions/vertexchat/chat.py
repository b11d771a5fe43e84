"""``POST /v1/chat/completions``: parse, translate, call Vertex, translate back (or relay a stream)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flask

from vertexchat import web
from vertexchat.handlers import Services
from vertexchat.images import FetchPolicy, fetch_as_data_url
from vertexchat.openai_schema import ChatRequest, parse_chat_request
from vertexchat.relay import Deadlines, OpenStream, StreamEnd, open_stream, relay
from vertexchat.resilience import Attempts, call_with_failover
from vertexchat.streaming import StreamTranslator
from vertexchat.translate import image_urls, to_claude, to_openai_completion

# Remote images of one request are fetched in parallel, a few at a time.
_IMAGE_FETCHERS = 4


def create_completion(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """Answer one Chat Completions request, streamed or not."""
    settings = svc.settings
    request = parse_chat_request(web.json_body(call.request, settings.max_request_bytes))
    # An unknown model is a 404 before anything goes upstream. Vertex is called with the
    # resolved id (aliases, undated names, variants); the response names the model as asked.
    target = svc.catalog.resolve(request.model)
    claude = to_claude(request, default_max_tokens=settings.default_max_tokens,
                       resolved_images=_fetch_images(request, svc))
    body = {**claude.body, "model": target.vertex_id}
    call.fields.update(model=request.model, vertex_model=target.vertex_id, stream=request.stream)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    attempts = Attempts()

    def failover(attempt: Any) -> Any:
        try:
            return call_with_failover(attempt, model=target.vertex_id, policy=svc.upstream_policy,
                                      breakers=svc.breakers, record=attempts)
        finally:
            call.fields.update(region=attempts.regions[-1] if attempts.regions else None,
                               attempts=len(attempts.regions), attempt_regions=attempts.regions)

    if not request.stream:
        message = failover(lambda region: svc.vertex.create(body, headers=target.headers, region=region))
        completion = to_openai_completion(message, request=claude, completion_id=completion_id,
                                          created=created, model=request.model)
        call.fields["usage"] = completion.get("usage")
        call.fields["finish_reason"] = completion["choices"][0]["finish_reason"]
        return web.json_response(completion, call)

    stream: OpenStream = failover(lambda region: open_stream(
        svc.vertex.stream(body, headers=target.headers, region=region), settings.first_byte_timeout))
    translator = StreamTranslator(claude, completion_id, created, request.model, request.include_usage)
    call.log_deferred = True

    def on_end(end: StreamEnd) -> None:
        call.fields.update(outcome=end.outcome, ttft_ms=end.first_token_ms, chunks=end.chunks,
                           usage=end.translator.usage)
        call.finish_log(end.error.status if end.error else 200, end.error)

    deadlines = Deadlines(heartbeat=settings.heartbeat_seconds, first_byte=settings.first_byte_timeout,
                          idle=settings.idle_timeout, total=settings.total_timeout)
    chunks = relay(stream, translator, deadlines=deadlines, client_gone=web.client_gone_probe(call.request),
                   on_end=on_end, request_id=call.request_id)
    return web.sse_response(chunks, call)


def _fetch_images(request: ChatRequest, svc: Services) -> dict[str, str]:
    """http(s) image URLs fetched (safely) into data URLs; Vertex accepts only base64 images."""
    wanted = image_urls(request)
    if not wanted:
        return {}
    s = svc.settings
    policy = FetchPolicy(max_bytes=s.max_image_bytes, timeout=s.image_fetch_timeout, allow_hosts=s.image_allow_hosts)
    unique = {url: param for param, url in wanted}
    with ThreadPoolExecutor(max_workers=min(_IMAGE_FETCHERS, len(unique))) as pool:
        fetched = pool.map(lambda item: (item[0], fetch_as_data_url(item[0], item[1], policy)), unique.items())
        return dict(fetched)
