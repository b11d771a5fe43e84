"""The HTTP connection to Vertex AI, without the anthropic SDK: the pool, raw calls and the stream reader.

Shared by the two generation paths: the anthropic SDK's Vertex client (``claude.py``) sends
through this module's pool, and the Anthropic Messages pass-through posts the client's exact
bytes with :meth:`VertexHttp.create_raw` / :meth:`VertexHttp.stream_raw`, so the ``messages``
function never loads the SDK (about a second of cold start). Every httpx error is mapped to
``vertexchat.errors`` here.

Tested in tests/test_anthropic_messages.py. Tested in tests/test_stream_lifecycle.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx2

from vertexchat.config import Settings
from vertexchat.errors import APIError, GatewayTimeoutError, UpstreamError, upstream_error
from vertexchat.upstream.credentials import AmbientCredentials
from vertexchat.upstream.endpoints import model_url
from vertexchat.upstream.sse import sse_events, sse_raw_events

JSON = dict[str, Any]


class VertexHttp:
    """The instance's connection pool to Vertex AI, its timeouts and its authorization header."""

    def __init__(self, settings: Settings, credentials: AmbientCredentials) -> None:
        self._settings = settings
        self._credentials = credentials
        self.client = httpx2.Client(
            limits=httpx2.Limits(max_connections=2000, max_keepalive_connections=200),
            timeout=self.timeout(stream=True),
        )

    def create_raw(self, model: str, content: bytes, *, headers: Mapping[str, str] | None = None,
                   region: str | None = None) -> JSON:
        """``:rawPredict`` with ``content``, the exact JSON body (no ``model``), posted as is: the pass-through
        of the Messages API. Returns Claude's message; errors are mapped as for :meth:`create`."""
        request = self._raw_request(model, content, headers, region, stream=False)
        try:
            response = self.client.send(request)
        except httpx2.HTTPError as exc:
            raise transport_error(exc) from None
        with contextlib.closing(response):
            if response.status_code >= 400:
                raise status_error(response)
            try:
                message = response.json()
            except ValueError:
                raise UpstreamError("Vertex AI returned an unreadable response (ValueError).") from None
        if not isinstance(message, dict) or message.get("type") != "message":
            raise UpstreamError("Vertex AI returned something that is not a Claude message.")
        return message

    def stream_raw(self, model: str, content: bytes, *, headers: Mapping[str, str] | None = None,
                   region: str | None = None) -> Callable[[], UpstreamStream]:
        """Prepare a ``:streamRawPredict`` of the exact body ``content``; like :meth:`stream`, but its events
        are :class:`~vertexchat.upstream.sse.RawEvent` dicts that keep the bytes Vertex sent."""
        request = self._raw_request(model, content, headers, region, stream=True)

        def open_stream() -> UpstreamStream:
            try:
                response = self.client.send(request, stream=True)
            except httpx2.HTTPError as exc:
                raise transport_error(exc) from None
            if response.status_code >= 400:
                with contextlib.closing(response):
                    response.read()
                    raise status_error(response)
            return UpstreamStream(response, contextlib.closing(response), parse=sse_raw_events)

        return open_stream

    def _raw_request(self, model: str, content: bytes, headers: Mapping[str, str] | None, region: str | None,
                     *, stream: bool) -> httpx2.Request:
        """The request, built on the caller's thread: a credential failure is an immediate 503."""
        region = region or self._settings.region
        url = model_url(self._settings, self._credentials.project_id(), region, model,
                        "streamRawPredict" if stream else "rawPredict")
        sent = {**self.auth_headers(headers), "Content-Type": "application/json"}
        return self.client.build_request("POST", url, content=content, headers=sent,
                                        timeout=self.timeout(stream=stream))

    def auth_headers(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {self._credentials.token()}"}
        return {**(headers or {}), **auth}


    def timeout(self, *, stream: bool) -> httpx2.Timeout:
        """Socket timeouts as a backstop; relay.py enforces the finer stream deadlines.

        A non-streamed answer arrives whole, so its first byte may take the whole generation:
        bounded by the total timeout. A stream's response headers must come within the
        first-byte timeout (its first event too: relay.open_stream); :meth:`stream` then lets
        its reads wait out the idle timeout (:func:`widen_read_timeout`).
        """
        s = self._settings
        read = s.first_byte_timeout if stream else s.total_timeout
        return httpx2.Timeout(connect=s.connect_timeout, read=read, write=read, pool=s.connect_timeout)


class UpstreamStream:
    """An open stream of Claude events. Iterate for event dicts; ``close()`` aborts promptly.

    ``close()`` may be called from another thread while one is blocked reading: it shuts the
    socket down, which wakes the reader at once (a plain close() would not on Linux), so an
    abandoned stream stops costing tokens immediately. Two rules keep that safe:
    - a stream read to its end has handed its connection back to the pool for reuse, so it
      is never shut down (another request may already be using it);
    - the response is released by the thread that iterates it, never under its feet.
    """

    def __init__(self, response: httpx2.Response, manager: Any,
                 parse: Callable[[Iterator[bytes]], Iterator[JSON]] = sse_events) -> None:
        self._response = response
        self._manager = manager
        self._parse = parse
        self._lock = threading.Lock()
        self._closed = False
        self._iterating = False
        self._finished = False
        self._released = False

    def __iter__(self) -> Iterator[JSON]:
        with self._lock:
            if self._closed:
                self._release()
                return
            self._iterating = True
        try:
            # SSE parsed straight from the (content-decoded) bytes: httpx's text and line layers
            # cost more CPU per event than everything else the relay does together.
            yield from self._parse(self._response.iter_bytes())
            self._finished = True
        except httpx2.TimeoutException:
            if not self._closed:
                raise GatewayTimeoutError("Vertex AI went silent mid-stream past the read timeout.") from None
        except (httpx2.HTTPError, OSError):
            if not self._closed:
                raise UpstreamError("The connection to Vertex AI broke mid-stream.") from None
        finally:
            with self._lock:
                self._iterating = False
                self._release()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._iterating:
                self._release()
                return
            if self._finished or self._response.is_closed:
                return
        # Mid-stream abort: wake the reader, which then releases the response itself.
        sock = socket_of(self._response)
        if sock is not None:
            with contextlib.suppress(OSError):  # already gone: nothing left to abort
                sock.shutdown(socket.SHUT_RDWR)

    def _release(self) -> None:
        if self._released:
            return
        self._released = True
        # Closing a dead connection may raise anything; it is closed either way.
        with contextlib.suppress(Exception):
            self._manager.__exit__(None, None, None)


def widen_read_timeout(response: httpx2.Response, seconds: float) -> None:
    """Change the read timeout of the reads still to come on ``response`` (its body).

    httpx hands the request's ``extensions["timeout"]`` dict to httpcore, which looks up the
    read timeout once for the headers and again when the body starts: replacing it between
    the two gives the header wait and the body different bounds. (A test stalls Vertex
    mid-stream longer than the first-byte timeout to prove the body gets the new one.)
    """
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        response.request.extensions["timeout"] = {**timeouts, "read": seconds}


def socket_of(response: httpx2.Response) -> socket.socket | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    sock = stream.get_extra_info("socket")
    return sock if isinstance(sock, socket.socket) else None


def transport_error(exc: httpx2.HTTPError) -> APIError:
    if isinstance(exc, httpx2.TimeoutException):
        return GatewayTimeoutError("Vertex AI did not answer in time.")
    return UpstreamError("Could not connect to Vertex AI.", code="upstream_unreachable")


def status_error(response: httpx2.Response) -> APIError:
    """The mapped error for an upstream answer >= 400 whose body has been read."""
    try:
        body: object = response.json()
    except ValueError:
        body = response.text or response.reason_phrase
    return upstream_error(response.status_code, body, response.headers)
