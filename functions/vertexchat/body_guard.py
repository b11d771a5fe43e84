"""Requests answered before their body arrived: the answer goes out at once, then the connection is settled.

functions-framework reads the whole request body before it sends any response that is not
streamed (an after-request hook calls ``request.get_data()``). So an early answer (413 for a
declared ``Content-Length: 1073741824``, 401, 415...) waited for a body that might never come,
and held one of the server's threads meanwhile: a dozen slow uploads starved the instance.

:class:`BodyGuard` wraps the WSGI app (``main.py`` installs it around functions-framework's
Flask app) and hands the app a :class:`GuardedInput` that counts what is read. Once a handler
has answered, :func:`settle` marks a body it left unread as *abandoned*: further reads return
nothing, so the framework's read returns at once and the answer is sent. Then, with the answer
out, the connection is settled on the server's thread:

- a small rest that is already arriving (a client that sent its whole body, as clients do) is
  read within ``_DRAIN_SECONDS``, and the connection stays good for the client's next request;
- otherwise the connection is closed the careful way: our side is shut (the client sees its
  answer end), what the client still sends is read and dropped while it keeps coming (at most
  ``_LINGER_SECONDS``, so a client busy uploading reaches the point where it reads the answer
  instead of being reset mid-send), then reading is shut too, which ends the server's own
  attempt to drain the body at once. A silent client costs ``_QUIET_SECONDS``.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_INPUT = "vertexchat.guarded_input"
# A rest this small, arriving this fast, is read and the connection kept (gunicorn itself gives
# up draining a body past 64 KiB).
_DRAIN_BYTES = 64 * 1024
_DRAIN_SECONDS = 0.5
# Closing: how long an uploading client is read from, and how long a silent one is waited for.
_LINGER_SECONDS = 2.0
_QUIET_SECONDS = 0.25


class GuardedInput:
    """``wsgi.input`` that knows how much of the body was read, and can stop reading it."""

    def __init__(self, raw: Any, content_length: int | None, *, chunked: bool = False) -> None:
        self._raw = raw
        self._length = content_length
        self._read = 0
        # Without a length or chunked framing, an HTTP/1.1 request has no body.
        self._ended = content_length == 0 or (content_length is None and not chunked)
        self.abandoned = False

    @property
    def finished(self) -> bool:
        """Whether the whole body has been read."""
        return self._ended or (self._length is not None and self._read >= self._length)

    def read(self, size: int | None = -1) -> bytes:
        if self.abandoned:
            return b""
        data: bytes = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        self._count(data, size)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        if self.abandoned:
            return b""
        data: bytes = self._raw.readline(size)
        self._count(data, None)
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def _count(self, data: bytes, size: int | None) -> None:
        self._read += len(data)
        if size == 0:
            return
        # A read of everything, or a short read, reaches the end (gunicorn's body reads until it has ``size``).
        if size is None or size < 0 or len(data) < size:
            self._ended = True

    def drain(self, sock: socket.socket) -> bool:
        """Read a small rest of the body that is already arriving; False if it is not."""
        if self._length is not None and self._length - self._read > _DRAIN_BYTES:
            return False
        deadline = time.monotonic() + _DRAIN_SECONDS
        try:
            while not self.finished and self._read <= _DRAIN_BYTES:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                sock.settimeout(remaining)
                self._count(self._raw.read(_DRAIN_BYTES), _DRAIN_BYTES)
        except OSError:  # the timeout, or a client gone: either way the rest is not coming
            return False
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(None)
        return self.finished


def settle(environ: Environ) -> None:
    """Call once the response is decided: a body the handler left unread is read no further."""
    body = environ.get(_INPUT)
    if isinstance(body, GuardedInput) and not body.finished:
        body.abandoned = True


def close_after_answer(sock: socket.socket) -> None:
    """Close a connection whose request body will not be read, without resetting an uploading client."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _LINGER_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(min(_QUIET_SECONDS, remaining))
            if not sock.recv(256 * 1024):
                break
    # Whatever happened above: reads end now, so the server's own drain returns at once.
    with contextlib.suppress(OSError):
        sock.settimeout(None)
        sock.shutdown(socket.SHUT_RD)


class BodyGuard:
    """WSGI middleware: the app reads the body through a :class:`GuardedInput`; an abandoned body
    closes the connection once the response has been sent."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        body = GuardedInput(environ["wsgi.input"], _content_length(environ), chunked=chunked)
        environ["wsgi.input"] = environ[_INPUT] = body
        return _Closing(self._app(environ, start_response), body, _socket_of(environ))


class _Closing:
    """The app's response body, and after the server has sent it (``close()``), the shutdown of a
    connection whose request body was abandoned."""

    def __init__(self, chunks: Iterable[bytes], body: GuardedInput, sock: socket.socket | None) -> None:
        self._chunks = chunks
        self._body = body
        self._sock = sock

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._chunks)

    def close(self) -> None:
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            # The answer has been sent: keep the connection if the rest of the body comes, else close it.
            if self._body.abandoned and self._sock is not None and not self._body.drain(self._sock):
                close_after_answer(self._sock)


def _content_length(environ: Environ) -> int | None:
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return length if length >= 0 else None


def _socket_of(environ: Environ) -> socket.socket | None:
    # gunicorn hands the app its client socket; other servers do not, and then nothing is shut down.
    sock = environ.get("gunicorn.socket")
    return sock if isinstance(sock, socket.socket) else None
