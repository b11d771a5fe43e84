"""The models function and model resolution: the OpenAI SDK and raw HTTP against the Vertex simulator.

The in-process tests drive :class:`ModelCatalog` with a fake lister and clock; the rest start
real functions-framework processes whose listing goes to the simulator's Model Garden endpoint.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
import requests

from local import procs
from local.metadata_server import MetadataServer
from local.vertex_sim import VertexSimulator
from tests.harness import PROJECT, FunctionServer
from vertexchat import config
from vertexchat.catalog import CONTEXT_1M
from vertexchat.errors import ModelNotFoundError, UpstreamError
from vertexchat.model_list import ModelCatalog
from vertexchat.upstream.endpoints import LIST_PATH, listing_url

HELLO = [{"role": "user", "content": "Hello"}]
GENERATE = ("rawPredict", "streamRawPredict")


def chat(server: FunctionServer, model: str, **fields: Any) -> requests.Response:
    return requests.post(f"{server.url}/v1/chat/completions", json={"model": model, "messages": HELLO, **fields},
                         timeout=30)


def models(server: FunctionServer, path: str = "") -> requests.Response:
    return requests.get(f"{server.url}/v1/models{path}", timeout=30)


def generate_requests(sim: VertexSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["kind"] in GENERATE]


class FakeLister:
    """A Vertex listing that can fail, block, and counts its calls."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.calls = 0
        self.fail = False
        self.gate: threading.Event | None = None

    def __call__(self) -> list[str]:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise UpstreamError("Could not connect to Vertex AI to list models.")
        return list(self.ids)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def catalog(lister: FakeLister, clock: Clock, **env: str) -> ModelCatalog:
    return ModelCatalog(config.load({"MODELS_CACHE_SECONDS": "600", **env}), lister, clock)


# In process: the cache, its single refresh, stale-on-error.

def test_cache_serves_within_the_ttl_and_refreshes_after() -> None:
    lister, clock = FakeLister(["claude-haiku-4-5@20251001"]), Clock()
    cat = catalog(lister, clock)

    assert cat.snapshot().source == "live"
    clock.now += 599
    assert cat.snapshot().source == "cached"
    clock.now += 2
    assert cat.snapshot().source == "live"
    assert lister.calls == 2


def test_outage_serves_the_last_good_list_then_builtin_on_a_cold_instance() -> None:
    lister, down, clock = FakeLister(["claude-opus-9@20300101"]), FakeLister([]), Clock()
    down.fail = True
    cold = catalog(down, clock)
    warm = catalog(lister, clock)
    warm.snapshot()
    lister.fail = True
    clock.now += 601

    stale = warm.snapshot()
    builtin = cold.snapshot()

    assert stale.source == "stale"
    assert stale.catalog.find("claude-opus-9@20300101") is not None
    assert builtin.source == "builtin"
    assert builtin.catalog.find("claude-sonnet-4-5@20250929") is not None


def test_after_a_failure_vertex_is_not_asked_again_at_once() -> None:
    lister, clock = FakeLister([]), Clock()
    lister.fail = True
    cat = catalog(lister, clock)

    sources = [cat.snapshot().source for _ in range(5)]
    clock.now += 31
    lister.fail = False
    recovered = cat.snapshot().source

    assert sources == ["builtin"] * 5
    assert recovered == "live"
    assert lister.calls == 2


def test_concurrent_callers_wait_for_one_refresh() -> None:
    lister, clock = FakeLister(["claude-haiku-4-5@20251001"]), Clock()
    lister.gate = threading.Event()
    cat = catalog(lister, clock)

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(cat.snapshot) for _ in range(20)]
        time.sleep(0.2)
        lister.gate.set()
        results = [f.result(10) for f in futures]

    assert lister.calls == 1
    assert {r.source for r in results} == {"live"}
    assert all(r.catalog.find("claude-haiku-4-5") for r in results)


def test_chat_resolution_needs_no_listing_for_a_known_id() -> None:
    lister, clock = FakeLister(["claude-sonnet-4@20250514"]), Clock()
    cat = catalog(lister, clock)

    assert cat.resolve("claude-sonnet-4").vertex_id == "claude-sonnet-4@20250514"
    assert lister.calls == 0


def test_chat_resolution_lists_once_for_an_unknown_id_then_answers_404_at_once() -> None:
    lister, clock = FakeLister(["claude-opus-9@20300101"]), Clock()
    cat = catalog(lister, clock)

    assert cat.resolve("claude-opus-9").vertex_id == "claude-opus-9@20300101"
    for _ in range(3):
        with pytest.raises(ModelNotFoundError):
            cat.resolve("gpt-4o")
    assert lister.calls == 1


@pytest.mark.parametrize(("name", "value"), [
    ("MODEL_ALIASES", "fast"),
    ("MODEL_ALIASES", "fast=claude-haiku-4-5,fast=claude-sonnet-4"),
    ("MODEL_ALIASES", "a b=claude-sonnet-4"),
    ("VERTEX_MODELS", "claude sonnet"),
    ("MODELS_CACHE_SECONDS", "-1"),
])
def test_bad_model_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(config.ConfigError, match=name):
        config.load({name: value})


def test_model_settings_parse() -> None:
    settings = config.load({"MODEL_ALIASES": " fast = claude-haiku-4-5 , long=claude-sonnet-4-5-1m ",
                            "VERTEX_MODELS": "claude-haiku-4-5, claude-sonnet-4-5@20250929",
                            "MODELS_CACHE_SECONDS": "0"})
    assert settings.model_aliases == (("fast", "claude-haiku-4-5"), ("long", "claude-sonnet-4-5-1m"))
    assert settings.vertex_models == ("claude-haiku-4-5", "claude-sonnet-4-5@20250929")
    assert settings.models_cache_seconds == 0


# Over HTTP: the official SDK, the simulator's listing, the chat function.

def test_openai_sdk_lists_and_retrieves_models(client: openai.OpenAI) -> None:
    listed = client.models.list()
    ids = [m.id for m in listed.data]

    assert {"claude-sonnet-4-5@20250929", "claude-sonnet-4-5@20250929-1m", "claude-haiku-4-5@20251001"} <= set(ids)
    assert {m.owned_by for m in listed.data} == {"anthropic"}
    assert all(m.object == "model" and m.created > 0 for m in listed.data)
    sonnet = client.models.retrieve("claude-sonnet-4-5@20250929")
    assert sonnet.id == "claude-sonnet-4-5@20250929"
    extra = sonnet.model_extra or {}
    assert extra["supports"]["vision"] is True
    assert extra["context_window"] == extra["context_length"] == 200_000
    assert {"chat", "streaming", "tools", "vision"} <= set(extra["capabilities"])
    assert client.models.retrieve("claude-sonnet-4").id == "claude-sonnet-4"


def test_openai_sdk_retrieve_unknown_is_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("gpt-4o")
    assert raised.value.code == "model_not_found"
    assert raised.value.body == {"message": raised.value.body["message"],  # type: ignore[index]
                                 "type": "invalid_request_error", "param": "model", "code": "model_not_found"}


@pytest.mark.parametrize("path", ["claude-sonnet-4-5@20250929", "claude-sonnet-4-5%4020250929"])
def test_retrieve_takes_ids_with_at_signs_raw_or_encoded(api: FunctionServer, path: str) -> None:
    response = models(api, f"/{path}")
    assert response.status_code == 200
    assert response.json()["id"] == "claude-sonnet-4-5@20250929"
    assert response.headers["X-Catalog-Source"] in ("live", "cached", "stale", "builtin")


def test_the_models_function_serves_its_root_and_only_its_routes(start_function: Callable[..., FunctionServer],
                                                                 sim: VertexSimulator) -> None:
    server = start_function("models")

    root = requests.get(f"{server.url}/", timeout=30)
    one = models(server, "/claude-haiku-4-5@20251001")

    assert root.status_code == 200
    assert root.json()["object"] == "list"
    assert one.json()["id"] == "claude-haiku-4-5@20251001"
    assert chat(server, "claude-haiku-4-5@20251001").status_code == 404
    refused = requests.post(f"{server.url}/v1/models", json={}, timeout=10)
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "GET, OPTIONS"  # RFC 9110: a 405 names what is allowed


def test_listing_follows_every_page(start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    listed = ["claude-sonnet-4-5@20250929", "claude-haiku-4-5@20251001", "claude-opus-4-5@20251101",
              "claude-sonnet-4@20250514", "claude-3-5-sonnet-v2@20241022", "claude-opus-9@20300101",
              "claude-opus-4-1@20250805"]
    sim.configure(models=listed, page_size=3)
    server = start_function()

    response = models(server)

    assert response.headers["X-Catalog-Source"] == "live"
    ids = {m["id"] for m in response.json()["data"]}
    assert set(listed) - {"claude-3-5-sonnet-v2@20241022"} <= ids, "every page is read"
    assert "claude-3-5-sonnet-v2@20241022" not in ids, "retired models are hidden"
    calls = sim.requests("listModels")
    assert len(calls) == 3
    assert all(c["path"].startswith(LIST_PATH) for c in calls)
    assert "pageToken" not in calls[0]["path"]
    assert all("pageToken=" in c["path"] for c in calls[1:])


def test_listing_uses_the_ambient_token_and_bills_the_project(start_function: Callable[..., FunctionServer],
                                                             sim: VertexSimulator,
                                                             metadata_server: MetadataServer) -> None:
    server = start_function()

    assert models(server).status_code == 200

    calls = sim.requests("listModels")
    assert calls
    tokens = {c["authorization"].removeprefix("Bearer ") for c in calls}
    assert tokens <= set(metadata_server.issued_tokens)
    assert {c["headers"]["x-goog-user-project"] for c in calls} == {PROJECT}


@pytest.mark.parametrize(("region", "url"), [
    ("global", "https://aiplatform.googleapis.com/v1beta1/publishers/anthropic/models"),
    ("us", "https://aiplatform.us.rep.googleapis.com/v1beta1/publishers/anthropic/models"),
    ("eu", "https://aiplatform.eu.rep.googleapis.com/v1beta1/publishers/anthropic/models"),
    ("us-east5", "https://us-east5-aiplatform.googleapis.com/v1beta1/publishers/anthropic/models"),
])
def test_listing_url_follows_the_region(region: str, url: str) -> None:
    assert listing_url(config.load({"CLOUD_ML_REGION": region})) == url


def test_aliases_undated_names_and_the_1m_variant_reach_vertex_resolved(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    server = start_function(MODEL_ALIASES="fast=claude-haiku-4-5,long=claude-sonnet-4-5-1m")
    sim.script({"text": "a"}, {"text": "b"}, {"text": "c"}, {"text": "d"})

    fast = chat(server, "fast")
    seed = chat(server, "claude-sonnet-4")
    one_m = chat(server, "claude-sonnet-4-5@20250929-1m")
    streamed = chat(server, "long", stream=True)

    assert [r.status_code for r in (fast, seed, one_m, streamed)] == [200] * 4
    assert fast.json()["model"] == "fast"
    assert one_m.json()["model"] == "claude-sonnet-4-5@20250929-1m"
    upstream = generate_requests(sim)
    assert [r["model"] for r in upstream] == ["claude-haiku-4-5@20251001", "claude-sonnet-4@20250514",
                                              "claude-sonnet-4-5@20250929", "claude-sonnet-4-5@20250929"]
    assert [r["headers"].get("anthropic-beta") for r in upstream] == [None, None, CONTEXT_1M, CONTEXT_1M]
    assert "long" in {m["id"] for m in models(server).json()["data"]}


def test_vertex_models_restricts_the_list_and_chat(start_function: Callable[..., FunctionServer],
                                                   sim: VertexSimulator) -> None:
    server = start_function(VERTEX_MODELS="claude-haiku-4-5,claude-sonnet-4-5@20250929")

    ids = {m["id"] for m in models(server).json()["data"]}
    refused = chat(server, "claude-opus-4-1@20250805")

    assert ids == {"claude-haiku-4-5@20251001", "claude-sonnet-4-5@20250929"}
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "model_not_found"
    assert generate_requests(sim) == []


def test_unknown_model_is_404_before_any_generate_call(start_function: Callable[..., FunctionServer],
                                                       sim: VertexSimulator) -> None:
    server = start_function()

    cold = chat(server, "claude-nope@20990101", stream=True)
    after_cold = sim.requests()
    warm = chat(server, "gpt-4o")

    for response in (cold, warm):
        assert response.status_code == 404
        assert response.json()["error"] == {"message": response.json()["error"]["message"],
                                            "type": "invalid_request_error", "param": "model",
                                            "code": "model_not_found"}
    assert generate_requests(sim) == []
    first_pages = [r for r in after_cold if r["kind"] == "listModels" and "pageToken" not in r["path"]]
    assert len(first_pages) == 1, "a cold instance lists Vertex once before saying 404"
    assert len(sim.requests()) == len(after_cold), "a warm instance answers 404 without any upstream call"
    assert models(server, "/gpt-4o").status_code == 404


def test_outage_is_served_from_cache_then_stale_never_500(start_function: Callable[..., FunctionServer],
                                                          sim: VertexSimulator) -> None:
    sim.configure(models=["claude-opus-9@20300101", "claude-haiku-4-5@20251001"])
    server = start_function(MODELS_CACHE_SECONDS="1")
    first = models(server)
    second = models(server)
    sim.script({"match": {"kind": "listModels"}, "status": 503, "times": 100})
    time.sleep(1.1)

    stale = models(server)
    retrieved = models(server, "/claude-opus-9@20300101")

    assert [first.headers["X-Catalog-Source"], second.headers["X-Catalog-Source"]] == ["live", "cached"]
    assert stale.status_code == 200
    assert stale.headers["X-Catalog-Source"] == "stale"
    assert stale.json() == first.json()
    assert retrieved.status_code == 200
    assert retrieved.headers["X-Catalog-Source"] == "stale"
    warnings = [line for line in server.log_lines()
                if line.get("severity") == "WARNING" and line.get("catalog_source") == "stale"]
    assert warnings, "an outage is logged as a warning"


def test_cold_instance_with_vertex_down_serves_the_builtin_catalog(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    server = start_function(VERTEX_ENDPOINT=f"http://127.0.0.1:{procs.free_port()}")

    response = models(server)

    assert response.status_code == 200
    assert response.headers["X-Catalog-Source"] == "builtin"
    ids = {m["id"] for m in response.json()["data"]}
    assert {"claude-sonnet-4-5@20250929", "claude-sonnet-4-5@20250929-1m", "claude-haiku-4-5@20251001"} <= ids
    assert any(line.get("severity") == "WARNING" and line.get("catalog_source") == "builtin"
               for line in server.log_lines())


def test_a_burst_of_cold_requests_lists_vertex_once(start_function: Callable[..., FunctionServer],
                                                    sim: VertexSimulator) -> None:
    sim.configure(page_size=100, ttft_ms=500)  # a slow listing, so the burst piles up behind it
    server = start_function()
    barrier = threading.Barrier(50)

    def fetch(_: int) -> requests.Response:
        barrier.wait(10)
        return models(server)

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(fetch, range(50)))

    assert {r.status_code for r in responses} == {200}
    assert len(sim.requests("listModels")) == 1
    assert len({r.content for r in responses}) == 1


def test_the_models_path_never_imports_the_anthropic_sdk(function_env: dict[str, str]) -> None:
    code = (
        "import sys, flask; sys.path.insert(0, 'functions'); import main\n"
        "app = flask.Flask('t')\n"
        "with app.test_request_context('/v1/models'):\n"
        "    assert main.models(flask.request).status_code == 200\n"
        "assert 'anthropic' not in sys.modules, 'models imported anthropic'\n"
        "sys.stderr.write('models-ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=procs.ROOT, env=function_env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith("models-ok")
