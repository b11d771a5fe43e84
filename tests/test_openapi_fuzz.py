"""Schemathesis fuzzes every documented operation of a live ``api`` function against its own document.

The function runs as everywhere else in the suite: functions-framework, the Vertex simulator,
the Firestore emulator, ``AUTH_MODE=none`` (one fixed local identity). The checks: no 5xx, and
every status, content type and body is one the document describes. Positive and negative
(schema-violating) inputs both; the budget keeps the run well under two minutes.

The fuzzer never makes the function reach beyond loopback: any string that looks like a URL
is replaced before the request is sent, so no image fetch (not even a DNS lookup) happens.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer
from vertexchat import openapi

_URL_NOISE = re.compile(r"[\t\r\n\\]")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PIXEL = ("data:image/png;base64,"
         "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAIAAAUAAU3Xow0AAAAASUVORK5CYII=")


@pytest.fixture(scope="module")
def fuzzed(function_env: dict[str, str], simulator: VertexSimulator) -> Iterator[FunctionServer]:
    server = FunctionServer("api", {**function_env, "AUTH_MODE": "none", "LOG_LEVEL": "WARNING"})
    yield server
    server.stop()


# Loaded from the module the function serves (tests/test_openapi.py checks that the served
# document is this one). Not schemathesis.pytest.from_fixture: with pytest 9 it fails on a
# removed pytest internal (Function._nodeid) in schemathesis 4.32.
schema = schemathesis.openapi.from_dict(openapi.document())
schema.config.update(request_timeout=30)
schema.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=30)


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_and_never_fails(case: Any, fuzzed: FunctionServer) -> None:
    if isinstance(case.body, dict | list):
        case.body = with_served_model(without_urls(case.body))
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and key.isascii() and key.isprintable() and key:
        # One key per body: a repeated body replays, and a new body never meets an old key (422).
        case.headers["Idempotency-Key"] = f"fuzz-{zlib.crc32(repr((key, case.body)).encode())}"
    case.call_and_validate(base_url=fuzzed.url, checks=CHECKS)


def with_served_model(body: Any) -> Any:
    """Most chat bodies name a model the simulator serves, so completions and streams get through."""
    if isinstance(body, dict) and isinstance(body.get("model"), str) and zlib.crc32(repr(body).encode()) % 4:
        return {**body, "model": "claude-sonnet-4-5"}
    return body


def without_urls(value: Any) -> Any:
    """``value`` with every URL-like string replaced by an inline image, so nothing is fetched."""
    if isinstance(value, dict):
        return {key: without_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_urls(item) for item in value]
    # urlsplit drops tabs and newlines anywhere and leading blanks, so judge what it would see.
    if isinstance(value, str) and ("//" in _URL_NOISE.sub("", value) or "http" in value.lower()):
        return PIXEL
    return value
