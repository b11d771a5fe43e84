"""Plumbing shared by the local fake servers: a loopback HTTP server, its thread, and the CLI loop.

The fakes stand in for Google endpoints in tests, benchmarks and `make run`. They speak real HTTP
on a real socket so that unpatched clients (google-auth, the anthropic SDK, our own backend running
as a separate process) exercise their genuine transport code against them. They must never run
deployed, so every entry point refuses to start when K_SERVICE says this is Cloud Run.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

AppT = TypeVar("AppT")


class CloudRunRefusal(RuntimeError):
    """A fake server was asked to start on Cloud Run, where it could shadow real credentials or models."""


def refuse_on_cloud_run(name: str, environ: Mapping[str, str] | None = None) -> None:
    """Raise CloudRunRefusal when K_SERVICE is set: Cloud Run sets it, so we are deployed."""
    service = (os.environ if environ is None else environ).get("K_SERVICE")
    if service:
        raise CloudRunRefusal(
            f"refusing to start the {name}: K_SERVICE={service!r} is set, so this process runs on Cloud Run; "
            "the local fakes are for tests, benchmarks and `make run` only"
        )


class LoopbackServer(ThreadingHTTPServer, Generic[AppT]):
    """A threaded HTTP server that carries its application state and can drop all its connections.

    Streams hold a thread each, so the listen backlog is large and stop() closes open connections
    instead of waiting for slow streams to end by themselves.
    """

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: AppT) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, a DNS query that can stall for seconds offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
            self._workers.add(threading.current_thread())
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._connections.discard(request)
                self._workers.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-response is routine for a fake (and often the point of a test).
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down every open connection so that handler threads blocked on them return."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def join_workers(self, timeout: float) -> None:
        """Wait (bounded) for handler threads to finish after their connections were closed."""
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))


class ServerThread(Generic[AppT]):
    """A LoopbackServer serving from a daemon thread, for use inside a test process."""

    def __init__(self, server: LoopbackServer[AppT]) -> None:
        self.server = server
        # A short poll interval keeps stop() fast: shutdown() waits for the serve loop to wake up.
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="local-fake", daemon=True)
        self._thread.start()

    @property
    def host_port(self) -> str:
        return f"{self.server.server_name}:{self.server.server_port}"

    def stop(self) -> None:
        """Stop accepting, drop open connections, and release the port."""
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self.server.join_workers(timeout=5.0)
        self._thread.join(timeout=5.0)


class LocalService(Generic[AppT]):
    """A fake server as a Python object: start it, give its address to a client, stop it.

    Subclasses set ``name`` and build their unstarted server in :meth:`bind`.
    """

    name = "local service"

    def __init__(self) -> None:
        self._running: ServerThread[AppT] | None = None

    def bind(self, host: str, port: int) -> LoopbackServer[AppT]:
        raise NotImplementedError

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        refuse_on_cloud_run(self.name)
        if self._running is not None:
            raise RuntimeError(f"{self.name} already started")
        self._running = ServerThread(self.bind(host, port))

    def stop(self) -> None:
        """Stop serving, drop open connections and release the port."""
        if self._running is not None:
            self._running.stop()
            self._running = None

    @property
    def host_port(self) -> str:
        """``127.0.0.1:PORT``."""
        if self._running is None:
            raise RuntimeError(f"{self.name} not started")
        return self._running.host_port

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    def __enter__(self) -> Self:
        if self._running is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_cli(server: LoopbackServer[Any], banner: str) -> int:
    """Serve in the foreground until SIGTERM or SIGINT; print the banner once the socket is bound."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    print(banner, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close_connections()
        server.server_close()
    return 0


def run_guarded(name: str, main: Callable[[], int]) -> int:
    """Run a CLI main, turning a Cloud Run refusal into a clear message and exit status 2."""
    try:
        refuse_on_cloud_run(name)
    except CloudRunRefusal as refusal:
        print(f"error: {refusal}", file=sys.stderr, flush=True)
        return 2
    return main()


class JsonHandler(BaseHTTPRequestHandler):
    """Request handler with body reading and JSON/text replies, speaking HTTP/1.1 with keep-alive."""

    protocol_version = "HTTP/1.1"
    server_version = "local-fake"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        # Silent: the CLI's stdout is parsed for the banner and benchmarks would drown in access logs.
        return

    @property
    def route(self) -> str:
        """The request path without its query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        """The query parameters, last value wins."""
        return {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}

    def read_body(self) -> bytes:
        """Read the whole request body, honouring Content-Length or chunked transfer encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def common_headers(self) -> dict[str, str]:
        """Headers added to every response; subclasses extend it."""
        return {}

    def send_bytes(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        for name, value in {**self.common_headers(), **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

    def send_text(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_bytes(status, text.encode(), content_type)
