"""Connections as clients hold them: keep-alive reuse, and early answers that do not wait for a body.

Raw sockets, because what matters here is the connection itself: whether the server keeps an
idle one open for the next request, and whether it answers (and closes) one whose body has
not arrived.
"""

from __future__ import annotations

import json
import select
import socket
import time
from typing import Any

from tests.harness import FunctionServer

# Node's fetch (undici) reuses sockets idle for up to 4 s; the AI SDK retries after 2 s.
NODE_IDLE_REUSE = 4.0


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
