"""Every error a client can see is an OpenAI error body with the right status: raw HTTP on the wire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.metadata_server import MetadataServer
from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer, sse_events

MODEL = "claude-sonnet-4-5@20250929"
HELLO = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture(scope="module")
def api(function_env: dict[str, str]) -> Iterator[FunctionServer]:
    """One attempt per request and no breaker: these tests look at how a single upstream answer is mapped."""
    server = FunctionServer("api", {**function_env, "UPSTREAM_MAX_ATTEMPTS": "1", "BREAKER_FAILURES": "1000"})
    yield server
    server.stop()


def post(api: FunctionServer, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(f"{api.url}/v1/chat/completions", json=body, timeout=30, **kwargs)


def assert_openai_error(response: requests.Response, status: int, *, type_: str | None = None,
                        code: str | None = None, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers.get("X-Request-Id")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if type_ is not None:
        assert error["type"] == type_
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


def test_malformed_json_is_400(api: FunctionServer, sim: VertexSimulator) -> None:
    response = requests.post(f"{api.url}/v1/chat/completions", data=b"{not json",
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert_openai_error(response, 400, type_="invalid_request_error", param="body")
    assert sim.requests() == []


def test_non_json_content_type_is_415(api: FunctionServer, sim: VertexSimulator) -> None:
    response = requests.post(f"{api.url}/v1/chat/completions", data=b"hello",
                             headers={"Content-Type": "text/plain"}, timeout=10)
    assert_openai_error(response, 415)


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": MODEL}, "messages"),
    ({"model": MODEL, "messages": "hello"}, "messages"),
    ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}, "max_tokens"),
    ({"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}]}]},
     "messages[0].content[0].image_url.url"),
])
def test_bad_input_is_400_naming_the_param(api: FunctionServer, sim: VertexSimulator, body: Any, param: str) -> None:
    assert_openai_error(post(api, body), 400, type_="invalid_request_error", param=param)
    assert sim.requests() == [], "nothing may reach Vertex for a request that is rejected"


@pytest.mark.parametrize(("step", "status", "code", "retry_after"), [
    ({"status": 429, "body": {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
      "headers": {"Retry-After": "7"}}, 429, "rate_limit_exceeded", "7"),
    ({"status": 429, "body": [{"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}]},
     429, "rate_limit_exceeded", None),
    ({"status": 529, "body": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}},
     503, "overloaded", None),
    # The Vertex client reports some Claude errors with odd statuses: the body decides.
    ({"status": 500, "body": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}},
     503, "overloaded", None),
    ({"status": 400, "body": {"type": "error", "error": {"type": "invalid_request_error",
                                                         "message": "prompt is too long: 210000 tokens > 200000"}}},
     400, "context_length_exceeded", None),
    ({"status": 404, "body": {"error": {"code": 404, "message": "Publisher model not found", "status": "NOT_FOUND"}}},
     404, "model_not_found", None),
    ({"status": 500, "body": {"type": "error", "error": {"type": "api_error", "message": "boom"}}},
     502, "upstream_error", None),
    ({"status": 504, "body": {"error": {"code": 504, "message": "deadline", "status": "DEADLINE_EXCEEDED"}}},
     504, "upstream_timeout", None),
    ({"status": 403, "body": {"error": {"code": 403, "message": "Permission denied", "status": "PERMISSION_DENIED"}}},
     503, "credentials_unavailable", None),
    # A 529 without a typed body (plain text, empty) is still Claude overloaded.
    ({"status": 529, "body": "Overloaded"}, 503, "overloaded", None),
    ({"status": 529, "body": ""}, 503, "overloaded", None),
    ({"status": 529, "body": {"message": "overloaded"}, "headers": {"Retry-After": "3"}}, 503, "overloaded", "3"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_map_to_openai_errors(api: FunctionServer, sim: VertexSimulator, step: dict[str, Any],
                                              status: int, code: str, retry_after: str | None, stream: bool) -> None:
    sim.script(step)

    response = post(api, {**HELLO, "stream": stream})

    assert_openai_error(response, status, code=code)
    if status in (429, 503) and code != "credentials_unavailable":
        assert int(response.headers["Retry-After"]) >= 1
    if retry_after:
        assert response.headers["Retry-After"] == retry_after


def test_missing_credentials_is_503_with_a_fix_never_401(start_function: Any, sim: VertexSimulator,
                                                         metadata_server: MetadataServer) -> None:
    # 404 fails at once (google-auth retries 5xx with backoff).
    metadata_server.configure(token_status=404)
    server = start_function()

    response = post(server, HELLO)

    error = assert_openai_error(response, 503, code="credentials_unavailable")
    assert "gcloud auth application-default login" in error["message"]
    assert "roles/aiplatform.user" in error["message"]
    assert sim.requests() == []
    metadata_server.configure(token_status=None)


def test_mid_stream_error_event_goes_in_band_then_done(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"content": [{"type": "text", "text": "one two three four five six"}], "stop_reason": "end_turn",
                "error_after": 2, "error": {"type": "overloaded_error", "message": "Overloaded"}})

    with requests.post(f"{api.url}/v1/chat/completions", json={**HELLO, "stream": True}, stream=True,
                       timeout=30) as response:
        assert response.status_code == 200
        events = list(sse_events(response))

    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert error["type"] == "overloaded_error"
    assert not any('"finish_reason":"stop"' in e for e in events), "a broken stream must never end as a normal stop"


@pytest.mark.parametrize("fault", [{"omit_message_stop": True}, {"reset_after": 2}, {"malformed_after": 1}])
def test_truncated_or_broken_stream_is_an_error_not_a_stop(api: FunctionServer, sim: VertexSimulator,
                                                           fault: dict[str, Any]) -> None:
    sim.script({"content": [{"type": "text", "text": "one two three four"}], "stop_reason": "end_turn", **fault})

    with requests.post(f"{api.url}/v1/chat/completions", json={**HELLO, "stream": True}, stream=True,
                       timeout=30) as response:
        events = list(sse_events(response))

    assert events[-1] == "[DONE]"
    assert "error" in json.loads(events[-2])
    assert not any('"finish_reason":"stop"' in e for e in events)


def test_every_response_has_a_request_id_and_echoes_a_sane_one(api: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"text": "ok"})
    mine = post(api, HELLO, headers={"X-Request-Id": "trace-abc-12345"})
    fresh = post(api, {"model": MODEL})

    assert mine.headers["X-Request-Id"] == "trace-abc-12345"
    assert fresh.headers["X-Request-Id"].startswith("req_")


def test_unknown_route_and_wrong_method(api: FunctionServer) -> None:
    assert_openai_error(requests.get(f"{api.url}/v1/nope", timeout=10), 404)
    assert_openai_error(requests.get(f"{api.url}/v1/chat/completions", timeout=10), 405)


@pytest.mark.parametrize("content", [
    [{"type": "text", "text": None, "chunks": ["x"]}],
    [{"type": "tool_use", "id": "toolu_1", "name": None, "input": {}}],
    [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": "not an object"}],
    [{"type": "thinking", "thinking": None, "chunks": ["x"]}],
])
def test_a_malformed_claude_message_is_502_upstream_error(api: FunctionServer, sim: VertexSimulator,
                                                         content: list[dict[str, Any]]) -> None:
    sim.script({"content": content})

    response = post(api, HELLO)

    error = assert_openai_error(response, 502, type_="api_error", code="upstream_error")
    assert "Vertex AI" in error["message"]
