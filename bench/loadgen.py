"""The load generator: N concurrent streamed completions over raw asyncio sockets, timed per event.

Run as its own process, so that its CPU is not the server's:

    python -m bench.loadgen --url http://127.0.0.1:8080 --kind openai --concurrency 64 --requests 192 \
        --json out.json

It speaks just enough HTTP/1.1 (keep-alive, chunked or sized bodies) to time each SSE event the
moment its bytes are read, with nothing between the socket and the clock. Per stream it records
the time to the first content token (from just before the request is written), the gaps between
content events, and whether the stream ended properly: ``data: [DONE]`` for OpenAI streams,
``message_stop`` for Claude's. It imports only the standard library (and uvloop when the
interpreter has it), so it runs under any of the bench's environments.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.compare import noise
from bench.stats import summarize


@dataclass
class StreamResult:
    """What one streamed request did, as seen from the client."""

    ok: bool = False
    status: int = 0
    error: str | None = None
    ttft: float | None = None
    gaps: list[float] = field(default_factory=list)
    content_events: int = 0
    content_chars: int = 0
    duration: float = 0.0


class StreamParser:
    """Folds SSE bytes into a StreamResult; ``kind`` is "openai" (chunks), "claude" or "responses" (events)."""

    def __init__(self, kind: str, result: StreamResult, started: float) -> None:
        self.kind = kind
        self.result = result
        self.started = started
        self.last_content: float | None = None
        self.done = False
        self._buffer = b""

    def feed(self, data: bytes, now: float) -> None:
        self._buffer += data
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip(), now)

    def _data(self, payload: bytes, now: float) -> None:
        if payload == b"[DONE]":
            self.done = True
            return
        try:
            event = json.loads(payload)
        except ValueError:
            self._fail("malformed event")
            return
        text = self._content(event) if isinstance(event, dict) else None
        if text:
            self._content_event(len(text), now)

    def _content(self, event: dict[str, Any]) -> str | None:
        if self.kind == "claude":
            kind = event.get("type")
            if kind == "message_stop":
                self.done = True
            elif kind == "error":
                self._fail(f"error event: {json.dumps(event.get('error'))[:200]}")
            elif kind == "content_block_delta":
                return str((event.get("delta") or {}).get("text") or "")
            return None
        if self.kind == "responses":
            return self._response_event(event)
        if "error" in event:
            self._fail(f"error chunk: {json.dumps(event['error'])[:200]}")
            return None
        choices = event.get("choices") or ()
        delta = choices[0].get("delta") or {} if choices else {}
        return delta.get("content") or None

    def _response_event(self, event: dict[str, Any]) -> str | None:
        """The Responses API's semantic events: text deltas count, ``response.completed`` ends."""
        kind = event.get("type")
        if kind in ("response.completed", "response.incomplete"):
            self.done = True
        elif kind in ("error", "response.failed"):
            self._fail(f"{kind} event: {json.dumps(event)[:200]}")
        elif kind == "response.output_text.delta":
            return str(event.get("delta") or "")
        return None

    def _content_event(self, chars: int, now: float) -> None:
        result = self.result
        if result.ttft is None:
            result.ttft = now - self.started
        elif self.last_content is not None:
            result.gaps.append(now - self.last_content)
        self.last_content = now
        result.content_events += 1
        result.content_chars += chars

    def _fail(self, message: str) -> None:
        if self.result.error is None:
            self.result.error = message


class Connection:
    """One keep-alive HTTP/1.1 connection, reopened after the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, request: bytes, parser: StreamParser) -> int:
        """Send ``request``; feed the body to ``parser`` as it arrives; return the status."""
        await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head)
        reader = self.reader
        if headers.get("transfer-encoding", "").lower() == "chunked":
            await _read_chunked(reader, parser)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
            parser.feed(body + b"\n\n", time.perf_counter())
        else:
            while data := await reader.read(65536):
                parser.feed(data, time.perf_counter())
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _read_chunked(reader: asyncio.StreamReader, parser: StreamParser) -> None:
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()).strip():
                pass
            return
        data = await reader.readexactly(size)
        parser.feed(data, time.perf_counter())
        await reader.readexactly(2)


@dataclass
class Plan:
    """What to send: one request template per worker (bodies differ only by session id)."""

    host: str
    port: int
    requests: list[bytes]
    kind: str
    total: int
    concurrency: int
    ramp: float
    timeout: float
    progress_every: int


async def _one(conn: Connection, plan: Plan, request: bytes) -> StreamResult:
    result = StreamResult()
    started = time.perf_counter()
    parser = StreamParser(plan.kind, result, started)
    try:
        result.status = await asyncio.wait_for(conn.exchange(request, parser), plan.timeout)
    except TimeoutError:
        result.error = f"timeout after {plan.timeout:g}s"
        conn.close()
    except (OSError, asyncio.IncompleteReadError, ValueError, asyncio.LimitOverrunError) as exc:
        result.error = f"{type(exc).__name__}: {str(exc)[:120]}"
        conn.close()
    result.duration = time.perf_counter() - started
    if result.error is None and result.status != 200:
        result.error = f"HTTP {result.status}"
    if result.error is None and not parser.done:
        result.error = "stream ended without its end marker"
    result.ok = result.error is None and result.content_events > 0
    if result.error is None and not result.ok:
        result.error = "no content"
    return result


async def run(plan: Plan) -> tuple[list[StreamResult], float]:
    """Run the plan; returns every stream's result and the wall time taken."""
    results: list[StreamResult] = []
    started = time.perf_counter()
    issued = 0

    async def worker(index: int) -> None:
        nonlocal issued
        await asyncio.sleep(plan.ramp * index / plan.concurrency)
        conn = Connection(plan.host, plan.port)
        request = plan.requests[index % len(plan.requests)]
        try:
            while issued < plan.total:
                issued += 1
                results.append(await _one(conn, plan, request))
                if plan.progress_every and len(results) % plan.progress_every == 0:
                    print(json.dumps({"done": len(results), "t": time.time()}), flush=True)
        finally:
            conn.close()

    await asyncio.gather(*(worker(i) for i in range(plan.concurrency)))
    return results, time.perf_counter() - started


def summary(results: list[StreamResult], wall: float, *, raw: bool) -> dict[str, Any]:
    """The numbers the report needs (times in seconds); with ``raw`` the samples too."""
    ok = [r for r in results if r.ok]
    ttfts = [r.ttft for r in ok if r.ttft is not None]
    gaps = [gap for r in ok for gap in r.gaps]
    errors = Counter(r.error for r in results if not r.ok)
    out: dict[str, Any] = {
        "requests": len(results),
        "completed": len(ok),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors.most_common(5)),
        "ttft": {**summarize(ttfts), "p50_noise": noise(ttfts, 50), "p99_noise": noise(ttfts, 99)},
        "gap": summarize(gaps),
        "content_events": sorted({r.content_events for r in ok}),
        "content_chars": sorted({r.content_chars for r in ok}),
        "duration": summarize([r.duration for r in ok]),
        "wall_s": wall,
        "streams_per_s": len(ok) / wall if wall else None,
    }
    if raw:
        out["raw"] = {"ttft": ttfts, "gaps": gaps}
    return out


def build_requests(url: str, path: str, body: dict[str, Any], headers: list[str],
                   session_ids: list[str]) -> tuple[str, int, list[bytes]]:
    """Serialized requests, one per session id (or one for all when there are none)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    bodies = [json.dumps({**body, "session_id": sid}) for sid in session_ids] or [json.dumps(body)]
    extra = "".join(f"{h}\r\n" for h in headers)
    requests = []
    for text in bodies:
        payload = text.encode()
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Accept: text/event-stream\r\nContent-Length: {len(payload)}\r\n{extra}\r\n")
        requests.append(head.encode() + payload)
    return host, port, requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="scheme://host:port of the server")
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--kind", choices=("openai", "claude", "responses"), default="openai")
    parser.add_argument("--body", required=True, help="the JSON request body")
    parser.add_argument("--header", action="append", default=[], help="extra 'Name: value' header")
    parser.add_argument("--session-ids", type=Path, help="JSON list of session ids, one per worker")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=1)
    parser.add_argument("--ramp", type=float, default=0.0, help="seconds over which workers start")
    parser.add_argument("--timeout", type=float, default=120.0, help="per stream")
    parser.add_argument("--progress-every", type=int, default=0, help="print a progress line every N streams")
    parser.add_argument("--raw", action="store_true", help="include every TTFT and gap in the output")
    parser.add_argument("--json", type=Path, required=True, help="where to write the summary")
    args = parser.parse_args(argv)

    session_ids = json.loads(args.session_ids.read_text()) if args.session_ids else []
    host, port, requests = build_requests(args.url, args.path, json.loads(args.body), args.header, session_ids)
    plan = Plan(host, port, requests, args.kind, args.requests, args.concurrency, args.ramp, args.timeout,
                args.progress_every)
    runner, loop_name = asyncio.run, "asyncio"
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional: a cheaper event loop when the interpreter has it

        runner, loop_name = uvloop.run, "uvloop"
    results, wall = runner(run(plan))
    out = summary(results, wall, raw=args.raw)
    out["loop"] = loop_name
    args.json.write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
