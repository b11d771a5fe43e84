"""Hostile bodies through the real function: each is a 4xx naming what is wrong, never a 500 or a crash.

Size is judged before parsing (413), the media type before that (415); the JSON itself must be
strict (no NaN/Infinity, finite numbers, 64-bit integers, unique keys, at most 64 levels deep,
UTF-8 without lone surrogates); and the request's shape has bounds (messages, parts, tools,
remote images, metadata). None of these reaches Vertex.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer
from vertexchat.fields import MAX_METADATA_KEYS
from vertexchat.openai_chat.schema import MAX_CONTENT_PARTS, MAX_MESSAGES, MAX_REMOTE_IMAGES, MAX_TOOLS

CHAT = "/v1/chat/completions"
HELLO = {"model": "claude-sonnet-4-5@20250929", "messages": [{"role": "user", "content": "Hello"}]}
PREFIX = b'{"model": "claude-sonnet-4-5@20250929", "messages": [{"role": "user", "content": '

NASTY_BODIES: dict[str, tuple[bytes, str | None]] = {
    # name: (raw body, the param the 400 names)
    "empty": (b"", "body"),
    "null": (b"null", None),
    "top-level array": (b'[{"model": "m", "messages": []}]', None),
    "top-level string": (b'"hello"', None),
    "top-level number": (b"42", None),
    "truncated": (PREFIX, "body"),
    "nested 100 deep": (b"[" * 100 + b"]" * 100, "[0]" * 64),
    "nested 100000 deep": (b"[" * 100_000 + b"]" * 100_000, "body"),
    "nested in content": (PREFIX + b'[{"type": "text", "text": ' + b'{"a":' * 80 + b"1" + b"}" * 80 + b"}]}]}",
                          "messages[0].content[0].text" + ".a" * 59),
    "NaN": (b'{"model": "m", "messages": [], "temperature": NaN}', "body"),
    "Infinity": (b'{"model": "m", "messages": [], "temperature": Infinity}', "body"),
    "-Infinity": (b'{"model": "m", "messages": [], "top_p": -Infinity}', "body"),
    "huge float": (b'{"model": "m", "messages": [], "temperature": 1e999}', "body"),
    "huge integer": (b'{"model": "m", "messages": [], "max_tokens": 1' + b"0" * 30 + b"}", "body"),
    "5000-digit integer": (b'{"model": "m", "messages": [], "max_tokens": 1' + b"0" * 5000 + b"}", "body"),
    "duplicate keys": (b'{"model": "m", "model": "claude-sonnet-4-5", "messages": []}', "body"),
    "invalid UTF-8": (PREFIX + b'"caf\xc3\x28 \xff\xfe"}]}', "body"),
    "UTF-16 body": ('{"model": "m"}'.encode("utf-16"), "body"),
    "UTF-8 BOM, tolerated": (b"\xef\xbb\xbf" + b'{"model": "m"}', "messages"),
    "CESU-8 surrogate": (PREFIX + b'"\xed\xa0\x80"}]}', "body"),
    "lone surrogate": (PREFIX + b'"\\ud800"}]}', "messages[0].content"),
    "lone surrogate key": (b'{"\\udfff": 1, "model": "m", "messages": []}', "body"),
    "control characters": (b'{"model": "\x00\x01", "messages": []}', "body"),
    "trailing garbage": (PREFIX + b'"hi"}]} trailing', "body"),
}


@pytest.fixture(scope="module")
def small(function_env: dict[str, str]) -> Iterator[FunctionServer]:
    """A function that takes bodies of at most 1 KiB."""
    server = FunctionServer("api", {**function_env, "MAX_REQUEST_BYTES": "1024"})
    yield server
    server.stop()


def post(server: FunctionServer, path: str, data: bytes | Iterator[bytes],
         content_type: str = "application/json") -> requests.Response:
    return requests.post(f"{server.url}{path}", data=data, headers={"Content-Type": content_type}, timeout=60)


def error_of(response: requests.Response) -> tuple[int, str | None]:
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:200]
    error = response.json()["error"]
    return response.status_code, error["param"]


def no_upstream(sim: VertexSimulator) -> bool:
    return not [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]


@pytest.mark.parametrize("name", list(NASTY_BODIES))
def test_nasty_chat_bodies_are_400s(api: FunctionServer, sim: VertexSimulator, name: str) -> None:
    raw, param = NASTY_BODIES[name]
    response = post(api, CHAT, raw)

    assert error_of(response) == (400, param), response.text[:300]
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert no_upstream(sim)


# Bodies the sessions route rightly takes: an empty body means {}, and {"model": "m"} is a valid session.
_FINE_FOR_SESSIONS = {"empty", "UTF-8 BOM, tolerated"}


@pytest.mark.parametrize("name", [name for name in NASTY_BODIES if name not in _FINE_FOR_SESSIONS])
def test_nasty_session_bodies_are_400s(api: FunctionServer, firestore: str, name: str) -> None:
    raw, _ = NASTY_BODIES[name]
    response = post(api, "/v1/sessions", raw)
    assert response.status_code in (400, 413), response.text[:300]
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_function_survives_them_all(api: FunctionServer, sim: VertexSimulator) -> None:
    for raw, _ in NASTY_BODIES.values():
        post(api, CHAT, raw)
    sim.script({"text": "still here"})
    assert requests.post(f"{api.url}{CHAT}", json=HELLO, timeout=30).json()["choices"][0]["message"]["content"] == \
        "still here"
    assert api.proc.alive()
    assert "unhandled error" not in api.proc.output()


def test_an_oversized_body_is_413_before_parsing(small: FunctionServer, sim: VertexSimulator) -> None:
    garbage = b"{" + b"x" * 2000  # not JSON at all: a 413 proves nothing was parsed

    declared = post(small, CHAT, garbage)
    chunked = post(small, CHAT, iter([garbage[:1000], garbage[1000:]]))  # no Content-Length

    assert error_of(declared) == (413, None)
    assert declared.json()["error"]["code"] == "request_too_large"
    assert error_of(chunked)[0] == 413
    assert no_upstream(sim)


def test_session_bodies_have_their_own_small_limit(api: FunctionServer) -> None:
    assert error_of(post(api, "/v1/sessions", b"{" + b"x" * 70_000))[0] == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/jsonp", ""])
def test_a_body_that_is_not_json_is_415(api: FunctionServer, sim: VertexSimulator, content_type: str) -> None:
    response = post(api, CHAT, b'{"model": "m"}', content_type)

    assert error_of(response) == (415, "Content-Type")
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert no_upstream(sim)


def many(count: int, item: object) -> list[object]:
    return [item] * count


TEXT = {"type": "text", "text": "x"}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
REMOTE = {"type": "image_url", "image_url": {"url": "https://images.example/cat.png"}}

SHAPES: dict[str, tuple[Callable[[], dict[str, object]], str]] = {
    # name: (body, param)
    "too many messages": (lambda: {**HELLO, "messages": many(MAX_MESSAGES + 1, {"role": "user", "content": "x"})},
                          "messages"),
    "too many parts": (lambda: {**HELLO, "messages": [{"role": "user", "content": many(MAX_CONTENT_PARTS + 1, TEXT)}]},
                       "messages[0].content"),
    "too many tools": (lambda: {**HELLO, "tools": [{**TOOL, "function": {"name": f"f{i}"}}
                                                   for i in range(MAX_TOOLS + 1)]}, "tools"),
    "too many remote images": (lambda: {**HELLO, "messages": [{"role": "user", "content": [
        {**REMOTE, "image_url": {"url": f"https://images.example/{i}.png"}} for i in range(MAX_REMOTE_IMAGES + 1)]}]},
        f"messages[0].content[{MAX_REMOTE_IMAGES}].image_url.url"),
    "model too long": (lambda: {**HELLO, "model": "m" * 257}, "model"),
    "too much metadata": (lambda: {**HELLO, "metadata": {f"k{i}": "v" for i in range(MAX_METADATA_KEYS + 1)}},
                          "metadata"),
    "metadata value too long": (lambda: {**HELLO, "metadata": {"k": "v" * 513}}, "metadata"),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_shape_limits_are_400s_naming_the_field(api: FunctionServer, sim: VertexSimulator, name: str) -> None:
    body, param = SHAPES[name]
    response = requests.post(f"{api.url}{CHAT}", json=body(), timeout=60)

    assert error_of(response) == (400, param), response.text[:300]
    assert no_upstream(sim)


@pytest.mark.parametrize(("field", "value", "param"), [
    ("model", 42, "model"), ("model", None, "model"), ("messages", {"role": "user"}, "messages"),
    ("messages", [], "messages"), ("messages", ["hi"], "messages[0]"), ("messages", [{"role": 1}], "messages[0].role"),
    ("messages", [{"role": "user", "content": 5}], "messages[0].content"),
    ("messages", [{"role": "user", "content": [{"type": "text", "text": []}]}], "messages[0].content[0].text"),
    ("stream", "yes", "stream"), ("stream_options", [], "stream_options"), ("temperature", "hot", "temperature"),
    ("temperature", True, "temperature"), ("temperature", 3, "temperature"), ("top_p", -1, "top_p"),
    ("max_tokens", 0, "max_tokens"), ("max_tokens", 2.5, "max_tokens"),
    ("max_completion_tokens", "9", "max_completion_tokens"),
    ("stop", 5, "stop"), ("tools", {}, "tools"), ("tools", [5], "tools[0]"), ("tool_choice", 5, "tool_choice"),
    ("response_format", "json", "response_format"), ("reasoning_effort", "max", "reasoning_effort"),
    ("thinking", [], "thinking"), ("user", 5, "user"), ("metadata", [], "metadata"), ("session_id", 5, "session_id"),
    ("n", 2, "n"), ("logprobs", True, "logprobs"), ("parallel_tool_calls", "no", "parallel_tool_calls"),
])
def test_every_wrong_type_is_a_400_naming_the_field(api: FunctionServer, sim: VertexSimulator, field: str,
                                                     value: object, param: str) -> None:
    response = requests.post(f"{api.url}{CHAT}", json={**HELLO, field: value}, timeout=30)

    assert error_of(response) == (400, param), response.text[:300]
    assert no_upstream(sim)


@pytest.mark.parametrize("path", [
    "/v1/models/%0a", "/v1/sessions/%0a", "/v1/models/a%0Ab", "/v1/%0A/x", "/%ff", "/robots.txt", "/favicon.ico",
])
def test_paths_the_framework_cannot_route_still_get_our_json_404(api: FunctionServer, path: str) -> None:
    response = requests.get(f"{api.url}{path}", timeout=10)

    assert response.status_code in (400, 404), response.text[:300]
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["X-Request-Id"]
