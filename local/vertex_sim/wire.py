"""The socket side of a streamed reply: chunked writes, waits that notice a hang-up, and abrupt drops.

Tests check that our backend closes its upstream request when its own client goes away, so every
wait here watches the connection and reports the moment the client hangs up, instead of sleeping
blindly and only finding out at the next write.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler


class Wire:
    """One response on one connection, written as HTTP/1.1 chunks (each flushed at once)."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self.handler = handler
        self.sock: socket.socket = handler.connection

    def wait(self, ms: int) -> bool:
        """Pause for `ms` milliseconds; False as soon as the client hangs up."""
        deadline = time.monotonic() + ms / 1000
        poller = select.poll()
        poller.register(self.sock, select.POLLIN | select.POLLHUP | select.POLLERR)
        while (remaining := deadline - time.monotonic()) > 0:
            if poller.poll(remaining * 1000):
                if self._peer_closed():
                    return False
                # The client sent bytes (a pipelined request): nothing to learn, so just sleep it out.
                time.sleep(max(0.0, deadline - time.monotonic()))
        return True

    def _peer_closed(self) -> bool:
        try:
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def start(self, status: int, headers: dict[str, str]) -> bool:
        """Send the status line and headers of a chunked response; False if the client is gone."""
        try:
            self.handler.send_response(status)
            for name, value in headers.items():
                self.handler.send_header(name, value)
            self.handler.send_header("Transfer-Encoding", "chunked")
            self.handler.end_headers()
            self.handler.wfile.flush()
        except OSError:
            return False
        return True

    def chunk(self, data: bytes) -> bool:
        """Write one chunk and flush it; False if the client is gone."""
        try:
            self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.handler.wfile.flush()
        except OSError:
            return False
        return True

    def end(self) -> bool:
        """Write the terminating chunk, completing the body."""
        return self.chunk(b"")

    def drop(self, *, hard: bool) -> None:
        """End the connection without completing the body: FIN, or with `hard` an RST."""
        self.handler.close_connection = True
        if hard:
            # Linger 0 makes close() send RST; the real close happens once the handler's files close too.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        else:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
