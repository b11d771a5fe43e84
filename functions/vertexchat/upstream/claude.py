"""Generation: Claude on Vertex AI (``:rawPredict`` / ``:streamRawPredict``) through the anthropic SDK's Vertex client.

This is the only module that imports the anthropic SDK (it costs a second of cold start,
so only the functions that translate a request, chat and Responses, import it). It sends
through ``http.VertexHttp``'s pool and reads streams with its ``UpstreamStream``; everything
the SDK can raise is translated here, at the boundary, into ``vertexchat.errors``.

Design notes:
- Credentials come from :class:`~vertexchat.upstream.credentials.AmbientCredentials`; each call sends
  its own ``Authorization`` header, so the SDK's own (unlocked) credential loading never runs.
- The SDK's retries are off (``max_retries=0``): retry policy is ours, in one place.
- Responses are read raw (JSON bodies, SSE lines) instead of through the SDK's pydantic
  models: the translation core works on plain dicts, and skipping model construction
  keeps per-chunk CPU low.

Tested in tests/test_chat_completions.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import anthropic
import httpx2
from anthropic import AnthropicVertex

from vertexchat.config import Settings
from vertexchat.errors import APIError, GatewayTimeoutError, UpstreamError, upstream_error
from vertexchat.upstream.credentials import AmbientCredentials
from vertexchat.upstream.endpoints import api_base
from vertexchat.upstream.http import UpstreamStream, VertexHttp, widen_read_timeout

JSON = dict[str, Any]


class Vertex:
    """Calls Claude's Messages API on Vertex AI; one instance per function instance."""

    def __init__(self, settings: Settings, credentials: AmbientCredentials, http: VertexHttp) -> None:
        self._settings = settings
        self._credentials = credentials
        self._lock = threading.Lock()
        self._clients: dict[str, AnthropicVertex] = {}
        self._http = http

    def create(self, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
               region: str | None = None) -> JSON:
        """One non-streaming ``:rawPredict`` call; returns Claude's message as a dict."""
        client, kwargs = self._prepare(body, headers, region, stream=False)
        try:
            raw = client.messages.with_raw_response.create(**kwargs)
            message = raw.http_response.json()
        except anthropic.APIError as exc:
            raise _map_sdk_error(exc) from None
        except (httpx2.HTTPError, ValueError) as exc:
            raise UpstreamError(f"Vertex AI returned an unreadable response ({type(exc).__name__}).") from None
        if not isinstance(message, dict) or message.get("type") != "message":
            raise UpstreamError("Vertex AI returned something that is not a Claude message.")
        flaw = _message_flaw(message)
        if flaw is not None:
            raise UpstreamError(f"Vertex AI returned a malformed Claude message ({flaw}).")
        return message

    def stream(self, body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None,
               region: str | None = None) -> Callable[[], UpstreamStream]:
        """Prepare a ``:streamRawPredict`` call: the returned opener sends it and returns once Vertex answered 200.

        Credentials and the regional client are made here, on the caller's thread, so a
        credential failure is an immediate 503 and cold-start work never counts against the
        first-byte deadline the relay puts on the opener.
        """
        client, kwargs = self._prepare(body, headers, region, stream=True)
        settings = self._settings

        def open_stream() -> UpstreamStream:
            manager = client.messages.with_streaming_response.create(**kwargs)
            try:
                response = manager.__enter__()
            except anthropic.APIError as exc:
                raise _map_sdk_error(exc) from None
            # The headers came within the first-byte timeout; from now on Vertex may fall silent
            # (long thinking) for as long as relay.py allows.
            widen_read_timeout(response.http_response, max(settings.first_byte_timeout, settings.idle_timeout))
            return UpstreamStream(response.http_response, manager)

        return open_stream

    def _prepare(self, body: Mapping[str, Any], headers: Mapping[str, str] | None, region: str | None,
                 *, stream: bool) -> tuple[AnthropicVertex, dict[str, Any]]:
        extra = dict(body)
        kwargs: dict[str, Any] = {
            "model": extra.pop("model"),
            "max_tokens": extra.pop("max_tokens"),
            "messages": extra.pop("messages"),
            # Sampling parameters and every field the SDK signature lacks travel as extra_body.
            "extra_body": extra,
            "extra_headers": self._http.auth_headers(headers),
            "timeout": self._http.timeout(stream=stream),
        }
        if stream:
            kwargs["stream"] = True
        # The token is fetched before the client: a credential failure is a clean 503.
        return self._client(region or self._settings.region), kwargs

    def _client(self, region: str) -> AnthropicVertex:
        client = self._clients.get(region)
        if client is not None:
            return client
        with self._lock:
            if region not in self._clients:
                self._clients[region] = AnthropicVertex(
                    region=region,
                    project_id=self._credentials.project_id(),
                    base_url=api_base(self._settings, region),
                    max_retries=0,
                    http_client=self._http.client,
                )
            return self._clients[region]

# What each content block the translation reads must carry; other block types (server
# tools, future ones) are passed on untouched.
_BLOCK_FIELDS: dict[str, tuple[tuple[str, type], ...]] = {
    "text": (("text", str),),
    "tool_use": (("id", str), ("name", str), ("input", dict)),
    "thinking": (("thinking", str),),
    "redacted_thinking": (("data", str),),
}
_USAGE_COUNTERS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _message_flaw(message: JSON) -> str | None:
    """What makes a 200 answer unusable as a Claude message (None: nothing), so that it is a 502
    from the upstream instead of a crash of ours further on."""
    content = message.get("content")
    if not isinstance(content, list):
        return "content is not a list"
    for index, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return f"content[{index}] has no type"
        for name, kind in _BLOCK_FIELDS.get(block["type"], ()):
            if not isinstance(block.get(name), kind):
                return f"content[{index}].{name} is not {'an object' if kind is dict else 'a string'}"
    stop_reason = message.get("stop_reason")
    if stop_reason is not None and not isinstance(stop_reason, str):
        return "stop_reason is not a string"
    usage = message.get("usage")
    if usage is not None and not (isinstance(usage, dict) and all(
            isinstance(usage.get(name), int | None) for name in _USAGE_COUNTERS)):
        return "usage is not a set of token counts"
    return None


def _map_sdk_error(exc: anthropic.APIError) -> APIError:
    if isinstance(exc, anthropic.APITimeoutError):
        return GatewayTimeoutError("Vertex AI did not answer in time.")
    if isinstance(exc, anthropic.APIConnectionError):
        return UpstreamError("Could not connect to Vertex AI.", code="upstream_unreachable")
    if isinstance(exc, anthropic.APIStatusError):
        return upstream_error(exc.status_code, exc.body, exc.response.headers)
    return UpstreamError(f"Vertex AI call failed ({type(exc).__name__}).")
