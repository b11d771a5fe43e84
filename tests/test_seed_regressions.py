"""Regression tests for the four production failures of the backend vertexchat replaces.

See ../shared/seeds/000_59f23b927e5b4c8a.txt: a NameError (`user_identifier`), "No access
token available" from Vertex, non-UUID session ids in a uuid column (tests/test_sessions*),
and "SocketError: other side closed" mid-stream (also tests/test_chat_errors.py and
tests/test_stream_lifecycle.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from local import procs
from local.metadata_server import MetadataServer
from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer, sse_events

ROOT = procs.ROOT
HELLO = {"model": "claude-sonnet-4-5@20250929", "messages": [{"role": "user", "content": "Hello"}]}


def test_an_undefined_name_fails_the_lint_gate(tmp_path: Path) -> None:
    """Failure 1: `user_id = user_identifier or session_id` must never reach production."""
    module = tmp_path / "claude_client.py"
    module.write_text(textwrap.dedent("""
        async def get_session(session_id: str) -> str:
            user_id = user_identifier or session_id
            return user_id
    """))
    ruff = subprocess.run([str(ROOT / ".venv/bin/ruff"), "check", "--config", str(ROOT / "pyproject.toml"),
                           str(module)], capture_output=True, text=True, check=False)
    mypy = subprocess.run([str(ROOT / ".venv/bin/mypy"), "--strict", str(module)], capture_output=True,
                          text=True, check=False, cwd=tmp_path)
    assert ruff.returncode != 0
    assert "F821" in ruff.stdout
    assert mypy.returncode != 0
    assert 'Name "user_identifier" is not defined' in mypy.stdout


def test_every_function_module_imports_cleanly() -> None:
    """No module of the deployable package fails at import time (a NameError at module level would)."""
    package = ROOT / "functions" / "vertexchat"
    names = sorted(p.stem for p in package.glob("*.py") if p.stem != "__init__")
    code = "import importlib, sys; sys.path.insert(0, 'functions'); import main\n" + "".join(
        f"importlib.import_module('vertexchat.{name}')\n" for name in names)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "GOOGLE_CLOUD_PROJECT": "p"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_vertex_token_comes_from_ambient_credentials_and_is_refreshed(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator,
        metadata_server: MetadataServer) -> None:
    """Failure 2: "No access token available". The token comes from google.auth.default() and is
    refreshed before it expires (here tokens live 60 s, inside the 5-minute refresh margin): in the
    background, so requests keep using the valid token until the fresh one has arrived."""
    metadata_server.configure(expires_in=60)
    server = start_function()
    statuses = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses.append(requests.post(f"{server.url}/v1/chat/completions", json=HELLO, timeout=30).status_code)
        if len({r["authorization"] for r in sim.requests()}) > 1:
            break
        time.sleep(0.1)
    metadata_server.configure(expires_in=3600)

    assert set(statuses) == {200}
    tokens = [r["authorization"].removeprefix("Bearer ") for r in sim.requests()]
    assert len(set(tokens)) >= 2
    assert set(tokens) <= set(metadata_server.issued_tokens)


def test_a_dropped_upstream_never_drops_the_client_socket(api: FunctionServer, sim: VertexSimulator) -> None:
    """Failure 4: "SocketError: other side closed". The upstream connection dies mid-stream; the client
    still gets a well-formed end: an error event, then [DONE]."""
    sim.script({"content": [{"type": "text", "text": "a b c d e f"}], "stop_reason": "end_turn", "reset_after": 2})

    with requests.post(f"{api.url}/v1/chat/completions", json={**HELLO, "stream": True}, stream=True,
                       timeout=30) as response:
        events = list(sse_events(response))

    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["message"]


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[str]:
    """`make run`'s program on a free port, exactly as the README starts it (minus the port)."""
    port = procs.free_port()
    env = {**os.environ, "PORT": str(port), "HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    # gcloud's own configuration must still be found to run the emulator.
    if "CLOUDSDK_CONFIG" in os.environ:
        env["CLOUDSDK_CONFIG"] = os.environ["CLOUDSDK_CONFIG"]
    proc = procs.start("local stack", [sys.executable, "-m", "local.stack"], env=env,
                       log_path=tmp_path / "stack.log")
    try:
        procs.wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=120, ok=lambda s: s == 200)
        yield f"http://localhost:{port}"
    finally:
        proc.stop()


def test_the_seed_curl_commands_work_against_the_local_stack(local_stack: str) -> None:
    """The seed's own test commands, verbatim but for the port."""
    base = ["curl", "-sS", "-X", "POST", f"{local_stack}/v1/chat/completions", "-H", "Content-Type: application/json"]

    plain = subprocess.run([*base, "-d", '{"model": "claude-sonnet-4", "messages": [{"role": "user", '
                            '"content": "Hello"}]}'], capture_output=True, text=True, timeout=60, check=True)
    streamed = subprocess.run([*base, "-d", '{"model": "claude-sonnet-4", "messages": [{"role": "user", '
                               '"content": "Count to 10"}], "stream": true}'],
                              capture_output=True, text=True, timeout=60, check=True)

    completion = json.loads(plain.stdout)
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"]
    lines = [line[6:] for line in streamed.stdout.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    assert json.loads(lines[0])["object"] == "chat.completion.chunk"
