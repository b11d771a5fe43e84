"""Shared fixtures: real servers on loopback, started once per session and reset per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import openai
import pytest
import requests

from local import procs
from local.metadata_server import MetadataServer
from local.vertex_sim import VertexSimulator
from tests.harness import PROJECT, FunctionServer, base_env
from tests.jwks import IdentityProvider
from vertexchat import config
from vertexchat.sessions.store import SessionStore


@pytest.fixture(scope="session")
def metadata_server() -> Iterator[MetadataServer]:
    server = MetadataServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def simulator() -> Iterator[VertexSimulator]:
    sim = VertexSimulator()
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator: VertexSimulator, metadata_server: MetadataServer) -> VertexSimulator:
    """The Vertex simulator, emptied of scripts and records for this test.

    The metadata server gets its healthy default configuration back, but keeps the tokens it
    issued: long-lived functions still hold them, and tests check tokens against that list.
    """
    simulator.reset()
    metadata_server.configure(token_status=None, expires_in=3600)
    return simulator


@pytest.fixture(scope="session")
def function_env(metadata_server: MetadataServer, simulator: VertexSimulator,
                 firestore_emulator: str) -> dict[str, str]:
    return {**base_env(metadata_server.host_port, simulator.url), "FIRESTORE_EMULATOR_HOST": firestore_emulator}


@pytest.fixture(scope="session")
def api(function_env: dict[str, str]) -> Iterator[FunctionServer]:
    """The ``api`` function, served by functions-framework, shared by the session."""
    server = FunctionServer("api", function_env)
    yield server
    server.stop()


@pytest.fixture
def start_function(function_env: dict[str, str]) -> Iterator[Callable[..., FunctionServer]]:
    """Start a function with extra settings for one test; stopped when the test ends."""
    started: list[FunctionServer] = []

    def start(target: str = "api", **overrides: str) -> FunctionServer:
        server = FunctionServer(target, {**function_env, **overrides})
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# The browser origins the secured function allows: one exact, one wildcard.
ALLOWED_ORIGINS = "https://app.example.com,https://*.preview.example.com"


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[IdentityProvider]:
    """A local OIDC issuer (JWKS on loopback, token minter) shared by a test module."""
    provider = IdentityProvider()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def secured_api(function_env: dict[str, str], identity_provider: IdentityProvider) -> Iterator[FunctionServer]:
    """The ``api`` function as deployed: bearer tokens of ``identity_provider`` required, CORS for ALLOWED_ORIGINS."""
    server = FunctionServer("api", {**function_env, **identity_provider.env(), "CORS_ALLOWED_ORIGINS": ALLOWED_ORIGINS})
    yield server
    server.stop()


@pytest.fixture
def client(api: FunctionServer, sim: VertexSimulator) -> openai.OpenAI:
    """The official OpenAI SDK pointed at the function; its own retries off, to see every answer."""
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused-locally", max_retries=0, timeout=30)


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The official Firestore emulator (Google Cloud CLI), shared by the session: its ``host:port``.

    No in-memory stand-in: without ``gcloud`` the tests that need Firestore fail, saying why.
    """
    port = procs.free_port()
    try:
        proc = procs.start_firestore(port=port, log_path=tmp_path_factory.mktemp("firestore") / "emulator.log")
    except procs.StartError as exc:
        pytest.fail(f"The Firestore emulator did not start: {exc}", pytrace=False)
    yield f"127.0.0.1:{port}"
    proc.stop()


@pytest.fixture
def firestore(firestore_emulator: str) -> str:
    """The emulator's ``host:port``, emptied of every document for this test."""
    url = f"http://{firestore_emulator}/emulator/v1/projects/{PROJECT}/databases/(default)/documents"
    requests.delete(url, timeout=10).raise_for_status()
    return firestore_emulator


@pytest.fixture
def session_store(firestore: str, monkeypatch: pytest.MonkeyPatch) -> SessionStore:
    """A session store on the emptied emulator, built as the functions build theirs."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore)
    return SessionStore(config.load({"GOOGLE_CLOUD_PROJECT": PROJECT}))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what needs the Firestore emulator, so `-m "not emulator"` (Cloud Build) can leave it out."""
    for item in items:
        if "firestore_emulator" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.emulator)
