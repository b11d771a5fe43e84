"""Ambient credentials as the function uses them: the real google.auth against the fake metadata server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from local.metadata_server import MetadataServer
from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer

MODEL = "claude-sonnet-4-5@20250929"
HELLO = {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}]}
# Below the function's 300 s refresh margin: every request finds the token due for a refresh.
SHORT_LIVED = 120


@pytest.fixture
def metadata(metadata_server: MetadataServer, sim: VertexSimulator) -> Iterator[MetadataServer]:
    """The metadata server, healthy again after the test whatever it configured."""
    yield metadata_server
    metadata_server.configure(token_status=None, expires_in=3600)


def ask(server: FunctionServer) -> tuple[float, requests.Response]:
    started = time.monotonic()
    response = requests.post(f"{server.url}/v1/chat/completions", json=HELLO, timeout=60)
    return time.monotonic() - started, response


def bearer(request: dict[str, Any]) -> str:
    return str(request["authorization"]).removeprefix("Bearer ")


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_failing_refresh_never_stalls_requests_while_the_token_is_valid(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator, metadata: MetadataServer) -> None:
    metadata.configure(expires_in=SHORT_LIVED)
    server = start_function()
    assert ask(server)[1].status_code == 200
    token = bearer(sim.requests()[-1])
    before = metadata.snapshot()["token_requests"]

    # The metadata server now fails (google-auth retries it with backoff for about 15 s).
    metadata.configure(token_status=500)
    for _ in range(3):
        elapsed, response = ask(server)
        assert response.status_code == 200, response.text
        assert elapsed < 5, f"a request waited {elapsed:.1f}s for a refresh it did not need"
    # Every request went out with the token that is still valid ...
    assert {bearer(r) for r in sim.requests()} == {token}
    # ... while a refresh was being tried behind them.
    wait_for(lambda: metadata.snapshot()["token_requests"] > before)


def test_a_token_due_for_refresh_is_refreshed_behind_the_requests(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator, metadata: MetadataServer) -> None:
    metadata.configure(expires_in=SHORT_LIVED)
    server = start_function()
    assert ask(server)[1].status_code == 200
    first = bearer(sim.requests()[-1])
    issued = len(metadata.issued_tokens)

    # The next request is served with the current token and starts one refresh ...
    assert ask(server)[1].status_code == 200
    assert bearer(sim.requests()[-1]) == first
    wait_for(lambda: len(metadata.issued_tokens) > issued)
    # ... whose token the following requests use (one refresh, not one per request).
    metadata.configure(expires_in=3600)
    wait_for(lambda: ask(server)[1].status_code == 200 and bearer(sim.requests()[-1]) != first)
    assert bearer(sim.requests()[-1]) in metadata.issued_tokens


def test_an_expired_token_waits_for_the_refresh(start_function: Callable[..., FunctionServer],
                                                sim: VertexSimulator, metadata: MetadataServer) -> None:
    # Each token lives 1 s, and the requests come 1.5 s apart.
    metadata.configure(expires_in=1)
    server = start_function()
    for _ in range(2):
        assert ask(server)[1].status_code == 200
        time.sleep(1.5)
    tokens = [bearer(r) for r in sim.requests()]
    assert len(set(tokens)) == 2, "an expired token is never sent: each request waited for a new one"
    assert set(tokens) <= set(metadata.issued_tokens)
