"""CORS end to end: the real function with CORS_ALLOWED_ORIGINS (exact and wildcard) and bearer auth.

An allowed origin gets the CORS headers on preflights and on every real answer (JSON, streamed,
and errors, 401 included, so the page can read why); any other origin gets none of them.
"""

from __future__ import annotations

import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer
from tests.jwks import IdentityProvider

ALLOWED = ["https://app.example.com", "https://pr-7.preview.example.com"]
REFUSED = ["https://evil.example", "https://app.example.com.evil.example", "http://app.example.com",
           "https://preview.example.com", "null"]
HELLO = {"model": "claude-sonnet-4-5@20250929", "messages": [{"role": "user", "content": "Hello"}]}
EXPOSED = {"X-Request-Id", "X-Session-Id", "Retry-After", "WWW-Authenticate"}


def assert_cors(response: requests.Response, origin: str) -> None:
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "Origin" in response.headers["Vary"]
    exposed = {name.strip() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed >= EXPOSED
    assert "Access-Control-Allow-Credentials" not in response.headers  # bearer tokens, never cookies


def assert_no_cors(response: requests.Response) -> None:
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


@pytest.mark.parametrize("origin", ALLOWED)
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/models", "/v1/sessions/x", "/health"])
def test_preflight_for_an_allowed_origin(secured_api: FunctionServer, origin: str, path: str) -> None:
    response = requests.options(f"{secured_api.url}{path}", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-session-id, idempotency-key, x-stainless-os"})

    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == origin
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert methods >= {"GET", "POST", "PATCH", "DELETE", "OPTIONS"}
    headers = {h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert headers >= {"authorization", "content-type", "x-session-id", "idempotency-key", "x-stainless-os"}
    assert response.headers["Access-Control-Max-Age"] == "7200"
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("origin", REFUSED)
def test_preflight_for_another_origin_carries_no_cors_headers(secured_api: FunctionServer, origin: str) -> None:
    response = requests.options(f"{secured_api.url}/v1/chat/completions", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})

    assert response.status_code == 204
    assert_no_cors(response)


@pytest.mark.parametrize("origin", ALLOWED)
def test_json_stream_and_error_answers_carry_cors_headers(secured_api: FunctionServer, sim: VertexSimulator,
                                                          identity_provider: IdentityProvider, origin: str) -> None:
    auth = {"Authorization": f"Bearer {identity_provider.token()}", "Origin": origin}
    sim.script({"text": "plain"}, {"text": "streamed"})

    answers = {
        "json": requests.post(f"{secured_api.url}/v1/chat/completions", json=HELLO, headers=auth, timeout=30),
        "stream": requests.post(f"{secured_api.url}/v1/chat/completions", json={**HELLO, "stream": True},
                                headers=auth, timeout=30),
        "models": requests.get(f"{secured_api.url}/v1/models", headers=auth, timeout=30),
        "401": requests.get(f"{secured_api.url}/v1/models", headers={"Origin": origin}, timeout=30),
        "401 bad token": requests.get(f"{secured_api.url}/v1/models", timeout=30,
                                      headers={"Origin": origin, "Authorization": "Bearer nope"}),
        "400": requests.post(f"{secured_api.url}/v1/chat/completions", json={"model": 1}, headers=auth, timeout=30),
        "404": requests.get(f"{secured_api.url}/v1/models/nope", headers=auth, timeout=30),
        "405": requests.put(f"{secured_api.url}/v1/models", headers=auth, timeout=30),
        "415": requests.post(f"{secured_api.url}/v1/chat/completions", data="hi", headers=auth, timeout=30),
        "public": requests.get(f"{secured_api.url}/health?deep=0", headers={"Origin": origin}, timeout=30),
    }

    expected = {"json": 200, "stream": 200, "models": 200, "401": 401, "401 bad token": 401, "400": 400, "404": 404,
                "405": 405, "415": 415, "public": 200}
    assert {name: r.status_code for name, r in answers.items()} == expected
    assert answers["stream"].headers["Content-Type"].startswith("text/event-stream")
    assert answers["stream"].text.rstrip().endswith("data: [DONE]")
    for response in answers.values():
        assert_cors(response, origin)


@pytest.mark.parametrize("origin", REFUSED)
def test_answers_to_another_origin_carry_no_cors_headers(secured_api: FunctionServer, sim: VertexSimulator,
                                                         identity_provider: IdentityProvider, origin: str) -> None:
    auth = {"Authorization": f"Bearer {identity_provider.token()}", "Origin": origin}
    sim.script({"text": "streamed"})

    streamed = requests.post(f"{secured_api.url}/v1/chat/completions", json={**HELLO, "stream": True},
                             headers=auth, timeout=30)
    refused = requests.get(f"{secured_api.url}/v1/models", headers={"Origin": origin}, timeout=30)

    # The server still answers (CORS is the browser's to enforce); it just grants nothing.
    assert (streamed.status_code, refused.status_code) == (200, 401)
    assert_no_cors(streamed)
    assert_no_cors(refused)
    assert "Origin" in streamed.headers["Vary"]
