"""Connections as clients hold them: keep-alive reuse, and early answers that do not wait for a body.

Raw sockets, because what matters here is the connection itself: whether the server keeps an
idle one open for the next request, and whether it answers (and closes) one whose body has
not arrived.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.harness import FunctionServer
from tests.jwks import IdentityProvider

# Node's fetch (undici) reuses sockets idle for up to 4 s; the AI SDK retries after 2 s.
NODE_IDLE_REUSE = 4.0
# What a slow or hostile client declares, and sends one byte of.
GIGABYTE = 1024 ** 3
CHAT = "/v1/chat/completions"


def connect(server: FunctionServer, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def send_get(sock: socket.socket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n".encode())


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """One HTTP/1.1 response with a Content-Length body: (status, lower-cased headers, parsed JSON)."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection before answering: {buffer!r}"
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection mid-body"
        body += chunk
    return int(status_line.split()[1]), headers, json.loads(body[:length])


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the server has closed its end (EOF or reset waiting to be read), without blocking."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def test_an_idle_keep_alive_connection_outlives_what_clients_reuse(api: FunctionServer) -> None:
    with connect(api) as sock:
        send_get(sock, "/v1")
        status, headers, _ = read_response(sock)
        assert status == 200
        assert headers.get("connection", "keep-alive").lower() == "keep-alive"

        time.sleep(NODE_IDLE_REUSE + 1)

        assert not closed_by_peer(sock), "the server closed an idle connection a client would still reuse"
        send_get(sock, "/v1")
        status, _, body = read_response(sock)
        assert status == 200
        assert body["object"] == "service"


def start_upload(server: FunctionServer, *, length: int, content_type: str = "application/json",
                 authorization: str | None = None) -> socket.socket:
    """A POST that declares ``length`` body bytes and sends one."""
    sock = connect(server)
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    sock.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{auth}"
                 f"Content-Length: {length}\r\n\r\n{{".encode())
    return sock


def answered_and_closed(sock: socket.socket, within: float = 5) -> tuple[int, dict[str, str], Any]:
    """The response to a request whose body never came, read within ``within`` seconds; the
    server must then close the connection (a client would otherwise keep sending)."""
    sock.settimeout(within)
    status, headers, body = read_response(sock)
    deadline = time.monotonic() + within
    while not closed_by_peer(sock):
        assert time.monotonic() < deadline, "the connection was left open for a body nobody will read"
        time.sleep(0.05)
    return status, headers, body


@contextlib.contextmanager
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


def test_a_huge_declared_body_is_refused_at_once_and_never_starves_other_requests(
        start_function: Callable[..., FunctionServer]) -> None:
    # Fewer threads than slow clients, as on a 2-CPU machine (functions-framework: 4 per CPU).
    server = start_function(THREADS="8")
    with sockets() as slow:
        slow.extend(start_upload(server, length=GIGABYTE) for _ in range(12))

        # Twelve clients are connected, each silent after one byte: a plain request is served.
        assert requests.get(f"{server.url}/v1", timeout=5).status_code == 200
        for sock in slow:
            status, headers, body = answered_and_closed(sock)
            assert status == 413
            assert body["error"]["code"] == "request_too_large"
            assert headers["x-request-id"]


def test_an_unsupported_media_type_is_refused_without_waiting_for_the_body(api: FunctionServer) -> None:
    with sockets() as opened:
        opened.append(start_upload(api, length=GIGABYTE, content_type="text/plain"))
        status, _, body = answered_and_closed(opened[0])
    assert status == 415
    assert body["error"]["code"] == "unsupported_media_type"


@pytest.fixture(scope="module")
def identity_env(identity_provider: IdentityProvider) -> dict[str, str]:
    return identity_provider.env()


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"], ids=["no token", "invalid token"])
def test_an_unauthenticated_upload_is_refused_without_waiting_for_the_body(
        start_function: Callable[..., FunctionServer], identity_env: dict[str, str],
        authorization: str | None) -> None:
    server = start_function(**identity_env)
    with sockets() as opened:
        # Small enough to pass the size check: only the missing or bad token refuses it.
        opened.append(start_upload(server, length=10_000, authorization=authorization))
        status, headers, body = answered_and_closed(opened[0])
    assert status == 401
    assert body["error"]["type"] == "authentication_error"
    assert headers["www-authenticate"].startswith("Bearer")


def test_a_refused_request_with_its_whole_body_keeps_its_connection(api: FunctionServer) -> None:
    # A client that sent everything loses nothing by an early answer: the connection stays usable.
    payload = b"x" * 2000
    with connect(api) as sock:
        sock.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        assert read_response(sock)[0] == 415
        send_get(sock, "/v1")
        assert read_response(sock)[0] == 200
