"""The entry points as deployed: canonical paths, root paths, health, and cold-start hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from local import procs
from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer

HELLO = {"model": "claude-sonnet-4-5@20250929", "messages": [{"role": "user", "content": "Hello"}]}


def test_chat_function_serves_its_root_and_canonical_path(start_function: Callable[..., FunctionServer],
                                                          sim: VertexSimulator) -> None:
    server = start_function("chat_completions")
    sim.script({"text": "root"}, {"text": "canonical"})

    root = requests.post(f"{server.url}/", json=HELLO, timeout=30)
    canonical = requests.post(f"{server.url}/v1/chat/completions", json=HELLO, timeout=30)

    assert root.json()["choices"][0]["message"]["content"] == "root"
    assert canonical.json()["choices"][0]["message"]["content"] == "canonical"
    # The chat function does not serve other functions' routes.
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 404


def test_messages_function_serves_the_messages_api_at_its_root_and_paths(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    server = start_function("messages")
    sim.script({"text": "root"}, {"text": "canonical"})
    body = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello"}]}

    root = requests.post(f"{server.url}/", json=body, timeout=30)
    canonical = requests.post(f"{server.url}/v1/messages?beta=true", json=body, timeout=30)
    count = requests.post(f"{server.url}/v1/messages/count_tokens", json={**body, "max_tokens": None}, timeout=30)

    assert root.json()["content"][0]["text"] == "root"
    assert canonical.json()["content"][0]["text"] == "canonical"
    assert count.status_code == 400  # Vertex refuses max_tokens in a count: Claude's own 400, in Anthropic's shape
    assert count.json()["type"] == "error"
    # Another function's route is Anthropic's 404 here.
    other = requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=30)
    assert other.status_code == 404
    assert other.json()["error"]["type"] == "not_found_error"


def test_health_get_and_head(api: FunctionServer) -> None:
    got = requests.get(f"{api.url}/health", timeout=10)
    head = requests.head(f"{api.url}/health", timeout=10)

    assert got.status_code == 200
    assert got.json()["status"] == "ok"
    assert got.json()["version"]
    assert head.status_code == 200
    assert head.content == b""


def test_simulated_upstream_is_announced_on_every_response(api: FunctionServer) -> None:
    assert requests.get(f"{api.url}/health", timeout=10).headers["X-Upstream"] == "simulator"
    assert requests.get(f"{api.url}/v1/nope", timeout=10).headers["X-Upstream"] == "simulator"


@pytest.mark.parametrize(("function", "path"), [
    ("health", "/health"), ("health", "/health?deep=0"), ("models", "/v1/models"), ("sessions", "/v1/sessions"),
])
def test_light_functions_never_import_the_anthropic_sdk(function: str, path: str) -> None:
    """The anthropic SDK costs seconds of cold start; only chat may load it."""
    code = (
        "import sys, flask; sys.path.insert(0, 'functions'); import main\n"
        "app = flask.Flask('t')\n"
        f"with app.test_request_context({path!r}):\n"
        f"    status = main.{function}(flask.request).status_code\n"
        "assert 'anthropic' not in sys.modules, 'anthropic was imported'\n"
        "print('ok', status)\n"
    )
    # Nothing answers on port 9: the function fails fast and still must not touch the SDK.
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "GOOGLE_CLOUD_PROJECT": "p",
           "VERTEX_ENDPOINT": "http://127.0.0.1:9", "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
           "FIRESTORE_TIMEOUT_SECONDS": "1", "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-c", code], cwd=procs.ROOT, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("ok ")


def test_bad_setting_stops_the_function_at_start_up(function_env: dict[str, str], tmp_path: Path) -> None:
    port = procs.free_port()
    with pytest.raises(procs.StartError, match="STREAM_HEARTBEAT_SECONDS"):
        procs.start_function("api", port=port, env={**function_env, "STREAM_HEARTBEAT_SECONDS": "soon"},
                             log_path=tmp_path / "function.log")


def test_simulator_can_never_be_selected_on_cloud_run(function_env: dict[str, str], tmp_path: Path) -> None:
    port = procs.free_port()
    with pytest.raises(procs.StartError, match="VERTEXCHAT_SIMULATOR"):
        procs.start_function("api", port=port, env={**function_env, "K_SERVICE": "chat"},
                             log_path=tmp_path / "function.log")


@pytest.mark.parametrize("target", ["api", "chat_completions", "health"])
def test_start_up_logs_no_warning(function_env: dict[str, str], tmp_path: Path, target: str) -> None:
    """`make run` and the tests wait for readiness; that probe must not read like an error."""
    log_path = tmp_path / "function.log"
    proc = procs.start_function(target, port=procs.free_port(), env=function_env, log_path=log_path)
    try:
        # The request line is written when the response closes, just after the probe read it.
        deadline = time.monotonic() + 5
        while '"vertexchat.request"' not in proc.output() and time.monotonic() < deadline:
            time.sleep(0.02)
        lines = [json.loads(line) for line in proc.output().splitlines() if line.startswith("{")]
    finally:
        proc.stop()
    probes = [line for line in lines if line.get("logger") == "vertexchat.request"]
    assert [(p["method"], p["route"], p["status"], p["severity"]) for p in probes] == [
        ("GET", "openapi", 200, "INFO")]
    assert not [line for line in lines if line["severity"] in ("WARNING", "ERROR", "CRITICAL")]
