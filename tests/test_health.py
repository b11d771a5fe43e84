"""The health function over HTTP: its checks, its cache, HEAD, and what it must never reveal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from local import procs
from local.metadata_server import MetadataServer
from local.vertex_sim import VertexSimulator
from tests.harness import PROJECT, REGION, FunctionServer
from vertexchat import __version__

MODEL = "claude-sonnet-4-5@20250929"
CHECKS = ("firestore", "credentials", "vertex", "catalog", "circuits")
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def probe(server: FunctionServer, query: str = "") -> requests.Response:
    return requests.get(f"{server.url}/health{query}", timeout=60)


def pings(emulator: str, instance: str) -> int:
    """How many health round trips ``instance`` has made to Firestore (the document's counter)."""
    url = f"http://{emulator}/v1/projects/{PROJECT}/databases/(default)/documents/health/{instance}"
    response = requests.get(url, headers={"Authorization": "Bearer owner"}, timeout=10)
    if response.status_code == 404:
        return 0
    response.raise_for_status()
    return int(response.json()["fields"]["pings"]["integerValue"])


@pytest.fixture
def fresh(start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> FunctionServer:
    """A new ``health`` function that never reuses a deep result, so each probe sees the present."""
    return start_function("health", HEALTH_CACHE_SECONDS="0")


@pytest.fixture
def no_tokens(metadata_server: MetadataServer, sim: VertexSimulator) -> Iterator[None]:
    """The metadata server refuses every access token (at once: a 404 is not retried).

    After ``sim``, which resets the metadata server.
    """
    metadata_server.configure(token_status=404)
    yield
    metadata_server.configure(token_status=None)


def test_all_green_is_200_ok_with_every_check_timed(fresh: FunctionServer) -> None:
    response = probe(fresh)

    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["version"] == __version__
    assert set(report["checks"]) == set(CHECKS)
    for name, check in report["checks"].items():
        assert check["status"] == "ok", (name, check)
        assert check["error"] is None
        assert isinstance(check["latency_ms"], int | float)
        assert check["latency_ms"] >= 0
    assert report["checks"]["catalog"]["source"] == "live"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_api_function_serves_it_too(start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    server = start_function("api", HEALTH_CACHE_SECONDS="0")

    assert probe(server).json()["status"] == "ok"
    assert requests.get(f"{server.url}/", timeout=10).json()["object"] == "service"


def test_head_answers_the_same_status_without_a_body(fresh: FunctionServer, sim: VertexSimulator) -> None:
    for path in ("/health", "/"):
        head = requests.head(f"{fresh.url}{path}", timeout=60)
        assert head.status_code == 200
        assert head.content == b""

    sim.script({"status": 500, "match": {"kind": "countTokens"}, "times": 2})
    assert requests.head(f"{fresh.url}/health", timeout=60).status_code == 503
    down = probe(fresh)
    assert down.status_code == 503
    assert down.json()["status"] == "down"


def test_a_stopped_firestore_is_503_naming_firestore(start_function: Callable[..., FunctionServer],
                                                      sim: VertexSimulator, tmp_path: Path) -> None:
    port = procs.free_port()
    emulator = procs.start_firestore(port=port, log_path=tmp_path / "firestore.log")
    try:
        server = start_function("health", HEALTH_CACHE_SECONDS="0", FIRESTORE_EMULATOR_HOST=f"127.0.0.1:{port}",
                                FIRESTORE_TIMEOUT_SECONDS="5")
        running = probe(server).json()
        assert running["checks"]["firestore"]["status"] == "ok", running

        emulator.stop()
        response = probe(server)
    finally:
        emulator.stop()

    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "down"
    assert report["checks"]["firestore"]["status"] == "down"
    assert "Firestore" in report["checks"]["firestore"]["error"]
    assert {name for name, check in report["checks"].items() if check["status"] == "down"} == {"firestore"}


@pytest.mark.usefixtures("no_tokens")
def test_no_credentials_is_503_naming_credentials(fresh: FunctionServer) -> None:
    response = probe(fresh)

    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "down"
    credentials = report["checks"]["credentials"]
    assert credentials["status"] == "down"
    assert "credentials" in credentials["error"]
    # Firestore (the emulator) needs no token: only what depends on the token is down.
    assert report["checks"]["firestore"]["status"] == "ok"
    head = requests.head(f"{fresh.url}/health", timeout=60)
    assert (head.status_code, head.content) == (503, b"")


def test_a_count_tokens_failure_is_503_naming_vertex(fresh: FunctionServer, sim: VertexSimulator) -> None:
    denied = {"error": {"code": 403, "message": "Permission denied on publisher model claude-sonnet-4-5",
                        "status": "PERMISSION_DENIED"}}
    sim.script({"status": 403, "body": denied, "match": {"kind": "countTokens"}})

    response = probe(fresh)

    assert response.status_code == 503
    report = response.json()
    assert report["checks"]["credentials"]["status"] == "ok", report
    assert report["status"] == "down"
    assert report["checks"]["vertex"]["status"] == "down"
    assert "Permission denied" in report["checks"]["vertex"]["error"]
    # The probe asked count-tokens about the configured health model, and generated nothing.
    (counted,) = sim.requests("countTokens")
    assert counted["location"] == REGION
    assert not sim.requests("rawPredict")
    assert not sim.requests("streamRawPredict")


def test_an_open_circuit_is_200_degraded_and_listed(start_function: Callable[..., FunctionServer],
                                                    sim: VertexSimulator) -> None:
    server = start_function("api", HEALTH_CACHE_SECONDS="0", BREAKER_FAILURES="1")
    sim.script({"status": 529, "body": OVERLOADED})
    failed = requests.post(f"{server.url}/v1/chat/completions", timeout=30,
                           json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]})
    assert failed.status_code >= 500

    response = probe(server)

    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded"
    circuits = report["checks"]["circuits"]
    assert circuits["status"] == "degraded"
    assert [(c["region"], c["model"], c["state"]) for c in circuits["open"]] == [(REGION, MODEL, "open")]
    assert all(report["checks"][name]["status"] == "ok" for name in ("firestore", "credentials", "vertex"))


def test_a_flood_of_probes_costs_one_vertex_call_and_one_firestore_round_trip(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator, firestore_emulator: str) -> None:
    server = start_function("health", HEALTH_CACHE_SECONDS="60")

    with ThreadPoolExecutor(max_workers=100) as pool:
        responses = list(pool.map(lambda _: probe(server), range(100)))

    assert [r.status_code for r in responses] == [200] * 100
    reports = [r.json() for r in responses]
    assert all(report == reports[0] for report in reports), "every probe got the one cached result"
    assert len(sim.requests("countTokens")) == 1
    assert pings(firestore_emulator, reports[0]["instance"]) == 1


def test_deep_0_answers_from_the_process_alone(fresh: FunctionServer, sim: VertexSimulator,
                                               metadata_server: MetadataServer, firestore_emulator: str) -> None:
    before = metadata_server.snapshot()["requests"]

    response = probe(fresh, "?deep=0")

    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert set(report["checks"]) == {"catalog", "circuits"}
    assert report["checks"]["catalog"]["source"] == "unlisted"
    assert sim.requests() == []
    assert metadata_server.snapshot()["requests"] == before
    assert pings(firestore_emulator, report["instance"]) == 0


def test_the_report_reveals_no_token_or_secret(fresh: FunctionServer, metadata_server: MetadataServer) -> None:
    text = probe(fresh).text
    issued = metadata_server.issued_tokens

    assert issued, "the probe obtained a token, so there was one to leak"
    for token in issued:
        assert token not in text
    for secret in ("Bearer", "access_token", "fake-token", "Authorization"):
        assert secret not in text
    assert "fake-token" not in "".join(str(line) for line in fresh.log_lines())


def test_the_report_shape_for_a_failure_carries_no_stack_trace(fresh: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"status": 500, "body": "<html>upstream exploded</html>", "match": {"kind": "countTokens"}})

    report: dict[str, Any] = probe(fresh).json()

    vertex = report["checks"]["vertex"]
    assert vertex["status"] == "down"
    assert "Traceback" not in vertex["error"]
    assert len(vertex["error"]) < 500
