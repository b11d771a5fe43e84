"""Test harness: the functions served by functions-framework over HTTP, as in production.

A :class:`FunctionServer` is a real functions-framework process on a free loopback port,
with the real ``google.auth.default()`` path pointed at the fake metadata server and
Vertex pointed at the simulator. Its stdout (our JSON log lines) goes to a file the tests
can read.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests

from local import procs

PROJECT = "vertexchat-test"
REGION = "us-east5"


def base_env(metadata_host_port: str, simulator_url: str) -> dict[str, str]:
    """A minimal, explicit environment: nothing leaks in from the developer's shell."""
    home = Path(tempfile.mkdtemp(prefix="vertexchat-home-"))
    return {
        **procs.ambient_env(home, metadata_host_port),
        **procs.simulated_upstream_env(metadata_host_port, simulator_url),
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "CLOUD_ML_REGION": REGION,
        "THREADS": "32",
        "LOG_LEVEL": "DEBUG",
    }


class FunctionServer:
    """One functions-framework process serving a target of ``functions/main.py``."""

    def __init__(self, target: str, env: Mapping[str, str]) -> None:
        self.target = target
        self.port = procs.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkdtemp(prefix="vertexchat-fn-")) / "function.log"
        self.proc = procs.start_function(target, port=self.port, env=env, log_path=self.log_path)

    def stop(self) -> None:
        self.proc.stop()

    def log_lines(self) -> list[dict[str, Any]]:
        """Every JSON log line the function wrote so far."""
        lines = []
        for raw in self.proc.output().splitlines():
            text = raw.strip()
            if text.startswith("{"):
                try:
                    lines.append(json.loads(text))
                except ValueError:
                    continue
        return lines

    def request_log(self, request_id: str, *, wait: float = 5.0) -> dict[str, Any]:
        """The one request line the function logged for ``request_id``.

        The line is written when the response closes, which the server does just after the
        client has read the last byte: wait for it briefly, then make sure there is exactly one.
        """
        deadline = time.monotonic() + wait
        while True:
            found = [line for line in self.log_lines()
                     if line.get("request_id") == request_id and line.get("logger") == "vertexchat.request"]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        time.sleep(0.05)  # a second line, if one were (wrongly) written, would follow at once
        found = [line for line in self.log_lines()
                 if line.get("request_id") == request_id and line.get("logger") == "vertexchat.request"]
        assert len(found) == 1, f"expected one request log line for {request_id}, got {found}"
        return found[0]


def sse_events(response: requests.Response) -> Iterator[str]:
    """The raw ``data:`` payloads and ``:`` comments of a streamed response, in order."""
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            yield line[6:]
        elif line.startswith(":"):
            yield line
