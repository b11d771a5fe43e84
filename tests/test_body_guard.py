"""The guarded request body in process: what counts as read, and what an abandoned body reads."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from vertexchat.body_guard import BodyGuard, GuardedInput, settle


def test_a_body_read_to_its_length_is_finished() -> None:
    body = GuardedInput(io.BytesIO(b'{"a": 1}'), 8)
    assert not body.finished
    assert body.read(100) == b'{"a": 1}'
    assert body.finished


def test_a_short_read_ends_a_chunked_body() -> None:
    body = GuardedInput(io.BytesIO(b"abc"), None, chunked=True)
    assert not body.finished
    assert body.read(10) == b"abc"
    assert body.finished


def test_a_request_without_length_or_chunks_has_no_body() -> None:
    assert GuardedInput(io.BytesIO(b""), None).finished


def serve(environ: dict[str, Any], reads: int) -> GuardedInput:
    """Run a tiny WSGI app behind the guard that reads ``reads`` bytes, answers, and settles."""
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen["body"] = environ["wsgi.input"]
        environ["wsgi.input"].read(reads)
        settle(environ)
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b"{}"]

    response = BodyGuard(app)(environ, lambda *args: None)
    assert b"".join(response) == b"{}"
    body: GuardedInput = seen["body"]
    return body


def test_a_body_left_unread_is_abandoned() -> None:
    body = serve({"wsgi.input": io.BytesIO(b"x" * 100), "CONTENT_LENGTH": str(1024**3)}, reads=0)

    assert body.abandoned
    assert body.read() == b"", "an abandoned body reads as empty: nothing waits for it"
    assert body.readline() == b""


def test_a_body_read_to_its_end_is_not_abandoned() -> None:
    body = serve({"wsgi.input": io.BytesIO(b"x" * 100), "CONTENT_LENGTH": "100"}, reads=100)
    assert not body.abandoned
