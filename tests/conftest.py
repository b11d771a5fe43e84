"""Shared fixtures: real servers on loopback, started once per session and reset per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import openai
import pytest

from local.metadata_server import MetadataServer
from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer, base_env


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
    """The Vertex simulator, emptied of scripts and records for this test."""
    simulator.reset()
    metadata_server.reset()
    return simulator


@pytest.fixture(scope="session")
def function_env(metadata_server: MetadataServer, simulator: VertexSimulator) -> dict[str, str]:
    return base_env(metadata_server.host_port, simulator.url)


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


@pytest.fixture
def client(api: FunctionServer, sim: VertexSimulator) -> openai.OpenAI:
    """The official OpenAI SDK pointed at the function; its own retries off, to see every answer."""
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused-locally", max_retries=0, timeout=30)
