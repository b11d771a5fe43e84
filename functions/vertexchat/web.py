"""Flask-facing helpers: request ids, JSON bodies, JSON/SSE/error responses, the request log.

Everything a handler returns goes through here, so every response carries
``X-Request-Id`` and every error is an OpenAI error body.

Tested in tests/test_input_hardening.py.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import flask
import werkzeug.exceptions

from vertexchat import logs
from vertexchat.errors import (
    ERROR_DIALECTS,
    APIError,
    InvalidRequestError,
    RequestTooLargeError,
    UnsupportedMediaTypeError,
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
    # Headers every response to this request carries (CORS, X-Session-Id, ...).
    response_headers: dict[str, str] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    # The caller's identity: owner of the sessions it creates and the only one who sees them.
    # Never taken from the query or body: routing.serve sets it from the verified token
    # before any non-public route runs.
    user: str = ""
    # How the request ended, for its log line: set when the response is ready, and again by a
    # streamed turn when its stream ends (the status the client saw in-band).
    status: int = 200
    error: APIError | None = None
    # The API whose error shape this request's errors take (its route's ``errors``).
    error_dialect: str = "openai"
    _logged: bool = False

    def __post_init__(self) -> None:
        # Every other line written while this request is served (retries, breaker changes,
        # storage warnings) carries its id and trace: see logs.bind.
        self.fields.update(request_id=self.request_id, function=self.function)
        logs.bind(self.fields)

    def outcome(self, status: int, error: APIError | None = None) -> None:
        """Record how the request ended (the log line is written when the response closes)."""
        self.status, self.error = status, error

    def finish_log(self) -> None:
        """Write this request's one JSON log line (once; later calls do nothing)."""
        if self._logged:
            return
        self._logged = True
        status, error = self.status, self.error
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
            # The same key the retry lines use, so one query finds every failure of a kind.
            fields["error_class"] = type(error).__name__
            fields["error_code"] = error.code
        level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        log.log(level, "%s %s -> %s", self.request.method, fields["route"], status, extra={"fields": fields})
        logs.bind(None)


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
    try:
        raw = request.stream.read(max_bytes + 1)
    except werkzeug.exceptions.HTTPException:
        # The client hung up (or sent a broken body) while we were reading it.
        raise InvalidRequestError("The request body could not be read completely.", param="body") from None
    if len(raw) > max_bytes:
        raise RequestTooLargeError(f"The request body is larger than {max_bytes} bytes.")
    return parse_json(raw)


def parse_json(raw: bytes) -> object:
    """Strict JSON: no NaN/Infinity, finite numbers, 64-bit integers, unique keys, bounded depth, UTF-8 only.

    Python's parser accepts all of these, and each would fail later, further from the caller
    (Firestore and Vertex take none of them): refuse them here with a 400 naming the place.
    """
    try:
        # Decoded here, strictly: json.loads would also guess UTF-16/32, which RFC 8259 rules out.
        # A leading UTF-8 BOM is tolerated, as json.loads did.
        value = json.loads(raw.decode("utf-8-sig"), parse_constant=_refuse_constant, parse_float=_finite_float,
                           parse_int=_int64, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(f"The request body is not UTF-8 (byte {exc.start}).", param="body") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError(f"The request body is not valid JSON: {_short(exc)}.", param="body") from None
    _check_tree(value, strings=_SURROGATE_ESCAPE.search(raw) is not None)
    return value


def json_response(body: Any, call: Call, status: int = 200, headers: dict[str, str] | None = None) -> flask.Response:
    """A JSON response with the call's headers."""
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        data = payload.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (from stored data or an echoed path) is not UTF-8; escape everything instead.
        data = json.dumps(body, separators=(",", ":")).encode("ascii")
    response = flask.Response(data, status=status, mimetype="application/json")
    _apply(response, call, headers)
    return response


def error_response(error: APIError, call: Call) -> flask.Response:
    """The error body for ``error`` in the call's API shape, with its status and headers (e.g. Retry-After)."""
    status, body = ERROR_DIALECTS[call.error_dialect](error)
    return json_response(body, call, status=status, headers=error.headers())


def empty_response(call: Call, status: int = 204, headers: dict[str, str] | None = None) -> flask.Response:
    """A response with no body (HEAD, preflight)."""
    response = flask.Response(b"", status=status)
    _apply(response, call, headers)
    return response


def sse_response(chunks: Iterable[bytes], call: Call) -> flask.Response:
    """A ``text/event-stream`` response; proxies are told not to buffer it.

    The body is handed over as is, not through ``flask.stream_with_context``: streams need
    no request context (the handlers capture what they need up front), and that wrapper
    would not pass ``close()`` on to a body closed before its first chunk.
    """
    response = flask.Response(chunks, status=200, mimetype="text/event-stream")
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
    for name, value in call.response_headers.items():
        response.headers[name] = value
    for name, value in (headers or {}).items():
        response.headers[name] = value


MAX_JSON_DEPTH = 64
_INT64 = 2**63 - 1
# A \uD800-\uDFFF escape: only then can a parsed string hold a lone surrogate (a valid pair
# decodes to one code point), so only then are strings walked.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_constant(name: str) -> Any:
    raise InvalidRequestError(f"The request body is not valid JSON: {name} is not a JSON number.", param="body")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InvalidRequestError(f"The number {text[:40]} is too large.", param="body")
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not -_INT64 - 1 <= value <= _INT64:
        raise InvalidRequestError(f"The integer {text[:40]} does not fit in 64 bits.", param="body")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        # Parsers disagree on which duplicate wins, so a proxy and this function could read
        # different requests from one body: refuse it.
        counts = Counter(key for key, _ in pairs)
        duplicate = next(key for key, count in counts.items() if count > 1)
        raise InvalidRequestError(f"The key {duplicate[:64]!r} appears twice in one object.", param="body")
    return value


def _check_tree(value: object, *, strings: bool) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and (when ``strings``) lone surrogates, naming the place."""
    # Iterative: the point is to bound depth, so no recursion here. A path is a linked
    # (parent, key) pair, formatted only for the error.
    stack: list[tuple[object, int, Any]] = [(value, 0, None)]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, list):
            children = enumerate(item)
        else:
            if strings and isinstance(item, str) and not _utf8(item):
                raise InvalidRequestError("A string holds a lone UTF-16 surrogate, which is not text.",
                                          param=_format_path(path))
            continue
        if depth >= MAX_JSON_DEPTH:
            raise InvalidRequestError(f"JSON may nest at most {MAX_JSON_DEPTH} levels deep.", param=_format_path(path))
        for key, child in children:
            if strings and isinstance(key, str) and not _utf8(key):
                raise InvalidRequestError("A key holds a lone UTF-16 surrogate, which is not text.",
                                          param=_format_path(path))
            if isinstance(child, dict | list) or (strings and isinstance(child, str)):
                stack.append((child, depth + 1, (path, key)))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _format_path(path: Any) -> str:
    keys: list[object] = []
    while path is not None:
        path, key = path
        keys.append(key)
    text = ""
    for key in reversed(keys):
        text += f"[{key}]" if isinstance(key, int) else f".{str(key)[:64]}" if text else str(key)[:64]
    return (text or "body")[:200]


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
