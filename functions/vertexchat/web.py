"""Flask-facing helpers: request ids, JSON bodies, JSON/SSE/error responses, the request log.

Everything a handler returns goes through here, so every response carries
``X-Request-Id`` and every error is an OpenAI error body.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import flask

from vertexchat.errors import (
    APIError,
    InvalidRequestError,
    RequestTooLargeError,
    UnsupportedMediaTypeError,
    error_body,
)

log = logging.getLogger("vertexchat.request")

_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


@dataclass
class Call:
    """One request as it passes through a function: what the handlers and the log line share."""

    request: flask.Request
    function: str
    request_id: str
    started: float = field(default_factory=time.monotonic)
    headers: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    # The caller's identity: owner of the sessions it creates and the only one who sees them.
    # Never taken from the query or body: handlers.serve sets it from the verified token
    # before any non-public route runs.
    user: str = ""
    # A streaming handler writes the request's log line itself when the stream ends.
    log_deferred: bool = False

    def finish_log(self, status: int, error: APIError | None = None) -> None:
        """Write this request's one JSON log line."""
        fields = {
            "request_id": self.request_id,
            "function": self.function,
            "method": self.request.method,
            "route": self.fields.pop("route", self.request.path),
            "status": status,
            "duration_ms": round((time.monotonic() - self.started) * 1000, 1),
            **self.fields,
        }
        if error is not None:
            fields["error_type"] = type(error).__name__
            fields["error_code"] = error.code
        level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        log.log(level, "%s %s -> %s", self.request.method, fields["route"], status, extra={"fields": fields})


def request_id(request: flask.Request) -> str:
    """The caller's ``X-Request-Id`` when it is a sane token, else a fresh one."""
    given = request.headers.get("X-Request-Id", "")
    if _CLIENT_REQUEST_ID.match(given):
        return given
    return f"req_{uuid.uuid4().hex}"


def json_body(request: flask.Request, max_bytes: int) -> object:
    """The parsed JSON body; 415 for another media type, 413 when too large, 400 when malformed."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/json, not {mimetype or 'missing'}.", param="Content-Type"
        )
    if request.content_length is not None and request.content_length > max_bytes:
        raise RequestTooLargeError(f"The request body is larger than {max_bytes} bytes.")
    raw = request.stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise RequestTooLargeError(f"The request body is larger than {max_bytes} bytes.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {_short(exc)}.", param="body") from None


def json_response(body: Any, call: Call, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    """A JSON response with the call's headers."""
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    response = flask.Response(payload, status=status, mimetype="application/json")
    _apply(response, call, headers)
    return response


def error_response(error: APIError, call: Call) -> flask.Response:
    """The OpenAI error body for ``error`` with its status and headers (e.g. Retry-After)."""
    return json_response(error_body(error), call, status=error.status, headers=error.headers())


def empty_response(call: Call, status: int = 204, headers: dict[str, str] | None = None) -> flask.Response:
    """A response with no body (HEAD, preflight)."""
    response = flask.Response(b"", status=status)
    _apply(response, call, headers)
    return response


def sse_response(chunks: Iterator[bytes], call: Call) -> flask.Response:
    """A ``text/event-stream`` response; proxies are told not to buffer it."""
    response = flask.Response(flask.stream_with_context(chunks), status=200, mimetype="text/event-stream")
    _apply(response, call, {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return response


def client_gone_probe(request: flask.Request) -> Callable[[], bool]:
    """A cheap check whether the client has hung up, for waits with nothing to write.

    gunicorn exposes the client socket; a zero-byte non-blocking peek means the peer closed.
    Without a socket (other servers) the check answers False and disconnects are noticed on
    the next write instead.
    """
    sock = request.environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return lambda: False

    def gone() -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    return gone


def _apply(response: flask.Response, call: Call, headers: dict[str, str] | None) -> None:
    response.headers["X-Request-Id"] = call.request_id
    for name, value in call.headers.items():
        response.headers[name] = value
    for name, value in (headers or {}).items():
        response.headers[name] = value


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
