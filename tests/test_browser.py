"""A real browser calls the function cross-origin: headless Chromium (Debian's ``chromium``).

A page served from a second loopback origin runs ``fetch`` with a bearer token against the
function (AUTH_MODE=oidc, CORS_ALLOWED_ORIGINS naming that origin), reads a streamed completion
chunk by chunk through a ReadableStream reader, reads a 401's body, and POSTs what it saw back
to its own server. The same calls from an origin the function does not allow are blocked by
the browser: ``fetch`` rejects with a TypeError.

No DevTools client is needed: the page reports to its own origin. Chromium resolves no host
name at all (``--host-resolver-rules``), so it cannot send traffic beyond loopback.
`make test` installs Chromium when it is missing (`make system-deps`).
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from local import procs
from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer
from tests.jwks import IdentityProvider

pytestmark = pytest.mark.browser

WORDS = ["one", " two", " three", " four", " five"]
PACE_MS = 200

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>vertexchat browser test</title></head><body>
<script>
const CONFIG = %(config)s;

async function streamed() {
  const started = performance.now();
  const response = await fetch(CONFIG.api + "/v1/chat/completions", {
    method: "POST",
    headers: {"Authorization": "Bearer " + CONFIG.token, "Content-Type": "application/json"},
    body: JSON.stringify({model: CONFIG.model, stream: true, messages: [{role: "user", content: "Count"}]}),
  });
  const seen = {status: response.status, contentType: response.headers.get("Content-Type"),
                requestId: response.headers.get("X-Request-Id"), chunks: []};
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    seen.chunks.push({ms: performance.now() - started, text: decoder.decode(value, {stream: true})});
  }
  return seen;
}

async function denied() {
  const response = await fetch(CONFIG.api + "/v1/models");
  return {status: response.status, body: await response.json(),
          wwwAuthenticate: response.headers.get("WWW-Authenticate")};
}

async function attempt(name, call) {
  try {
    return {ok: true, value: await call()};
  } catch (error) {
    return {ok: false, error: error.name + ": " + error.message};
  }
}

(async () => {
  const report = {origin: location.origin, streamed: await attempt("streamed", streamed),
                  denied: await attempt("denied", denied)};
  await fetch("/report", {method: "POST", body: JSON.stringify(report)});
})();
</script></body></html>
"""


@dataclass
class Origin:
    """A loopback web server: one page, and the report its script posts back."""

    config: dict[str, str]
    report: dict[str, Any] = field(default_factory=dict)
    arrived: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def __post_init__(self) -> None:
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (PAGE % {"config": json.dumps(origin.config)}).encode()
                self.send_response(200 if self.path == "/page.html" else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                origin.report.update(json.loads(self.rfile.read(length)))
                origin.arrived.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def chromium() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if found is None:
        pytest.fail("Chromium is not installed: run `make system-deps` (apt-get install chromium).", pytrace=False)
    return found


def visit(page: Origin, tmp_path: Path, timeout: float = 45.0) -> dict[str, Any]:
    """Open ``page`` in headless Chromium and return what its script reported."""
    profile = tmp_path / f"profile-{page.url.rsplit(':', 1)[1]}"
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-default-apps", "--disable-extensions", "--disable-breakpad", "--no-default-browser-check",
           # Every host name fails to resolve: nothing but the loopback addresses used here is reachable.
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
           f"--user-data-dir={profile}", f"{page.url}/page.html"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    browser = procs.start("chromium", cmd, env=env, log_path=tmp_path / f"{profile.name}.log")
    try:
        if not page.arrived.wait(timeout):
            log = browser.output()[-3000:]
            pytest.fail(f"the page never reported (Chromium alive: {browser.alive()}):\n{log}", pytrace=False)
    finally:
        browser.stop()
    return page.report


@pytest.fixture(scope="module")
def served(function_env: dict[str, str],
           identity_provider: IdentityProvider) -> Iterator[tuple[FunctionServer, Origin]]:
    """The function, and the one page origin it allows."""
    page = Origin({})
    server = FunctionServer("api", {**function_env, **identity_provider.env(), "CORS_ALLOWED_ORIGINS": page.url})
    page.config.update(api=server.url, token=identity_provider.token("user-browser"),
                       model="claude-sonnet-4-5@20250929")
    yield server, page
    server.stop()
    page.stop()


def test_an_allowed_origin_streams_a_completion_chunk_by_chunk(served: tuple[FunctionServer, Origin],
                                                               sim: VertexSimulator, tmp_path: Path) -> None:
    server, page = served
    sim.script({"content": [{"type": "text", "text": "".join(WORDS), "chunks": WORDS}], "stop_reason": "end_turn",
                "interval_ms": PACE_MS})

    report = visit(page, tmp_path)

    assert report["origin"] == page.url
    assert report["streamed"]["ok"], report["streamed"]
    seen = report["streamed"]["value"]
    assert seen["status"] == 200
    assert seen["contentType"].startswith("text/event-stream")
    assert seen["requestId"]  # an exposed header the page can read
    text = "".join(chunk["text"] for chunk in seen["chunks"])
    deltas = [json.loads(line[6:])["choices"][0]["delta"].get("content", "")
              for line in text.splitlines() if line.startswith("data: {")]
    assert "".join(deltas) == "".join(WORDS)
    assert text.rstrip().endswith("data: [DONE]")
    # Delivered as Claude produced it, not buffered: separate reads, spread over the paced stream.
    arrivals = [chunk["ms"] for chunk in seen["chunks"]]
    assert len(arrivals) >= len(WORDS)
    assert arrivals[-1] - arrivals[0] >= PACE_MS * (len(WORDS) - 2)
    assert server.request_log(seen["requestId"])["status"] == 200

    # The page can read why it was refused: the 401 carries the CORS headers too.
    assert report["denied"]["ok"], report["denied"]
    denied = report["denied"]["value"]
    assert denied["status"] == 401
    assert denied["body"]["error"]["type"] == "authentication_error"
    assert denied["wwwAuthenticate"].startswith('Bearer error="invalid_token"')


def chat_requests(server: FunctionServer, method: str) -> int:
    return sum(1 for line in server.log_lines() if line.get("logger") == "vertexchat.request"
               and line.get("route") == "chat.completions" and line.get("method") == method)


def test_another_origin_is_blocked_by_the_browser(served: tuple[FunctionServer, Origin], sim: VertexSimulator,
                                                  tmp_path: Path) -> None:
    server, allowed = served
    stranger = Origin(dict(allowed.config))
    posts, preflights = chat_requests(server, "POST"), chat_requests(server, "OPTIONS")
    try:
        report = visit(stranger, tmp_path)
    finally:
        stranger.stop()

    assert report["origin"] == stranger.url != allowed.url
    # The simple GET is sent but its answer withheld; the POST stops at its preflight.
    for name in ("streamed", "denied"):
        assert not report[name]["ok"], report[name]
        assert report[name]["error"].startswith("TypeError"), report[name]
    assert chat_requests(server, "OPTIONS") == preflights + 1
    assert chat_requests(server, "POST") == posts
    assert [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")] == []
