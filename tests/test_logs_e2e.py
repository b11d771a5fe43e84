"""The JSON lines a real function writes: one per request, correlated by trace, and nothing secret."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from local.metadata_server import MetadataServer
from local.vertex_sim import VertexSimulator
from tests.harness import PROJECT, REGION, FunctionServer, sse_events

MODEL = "claude-sonnet-4-5@20250929"
SEVERITIES = {"DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACE = "logging.googleapis.com/trace"
SPAN = "logging.googleapis.com/spanId"
QUOTA = {"error": {"code": 429, "message": "Quota exceeded for aiplatform.googleapis.com",
                   "status": "RESOURCE_EXHAUSTED"}}
# Strings that must never reach a log line unless LOG_CONTENT opts in.
PROMPT = "prompt-marker-7f3c2a quokka"
REPLY = "reply-marker-9d41b6 wombat"
BEARER = "bearer-marker-5e8a0c.not-a-real-token"


@pytest.fixture(scope="module")
def server(function_env: dict[str, str]) -> Iterator[FunctionServer]:
    """An ``api`` function of this module's own, so its output holds only these tests' lines."""
    started = FunctionServer("api", {**function_env, "AUTH_MODE": "none"})
    yield started
    started.stop()


def chat(server: FunctionServer, *, stream: bool = False, headers: dict[str, str] | None = None,
         prompt: str = "Hello") -> requests.Response:
    """One chat request, read to the end; the response keeps its headers."""
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": stream}
    with requests.post(f"{server.url}/v1/chat/completions", json=body, headers=headers or {}, stream=stream,
                       timeout=30) as response:
        if stream:
            list(sse_events(response))
        else:
            response.content  # noqa: B018 - read the body before the connection closes
    return response


def lines_of(server: FunctionServer, request_id: str) -> list[dict[str, Any]]:
    return [line for line in server.log_lines() if line.get("request_id") == request_id]


def test_traceparent_becomes_the_cloud_logging_trace(server: FunctionServer, sim: VertexSimulator) -> None:
    response = chat(server, headers={"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01"})

    line = server.request_log(response.headers["X-Request-Id"])
    assert line[TRACE] == f"projects/{PROJECT}/traces/{TRACE_ID}"
    assert line[SPAN] == SPAN_ID
    assert line["logging.googleapis.com/trace_sampled"] is True


def test_x_cloud_trace_context_span_is_converted_from_decimal(server: FunctionServer, sim: VertexSimulator) -> None:
    response = requests.get(f"{server.url}/health?deep=0", timeout=10,
                            headers={"X-Cloud-Trace-Context": f"{TRACE_ID}/12345678901234567;o=0"})

    line = server.request_log(response.headers["X-Request-Id"])
    assert line[TRACE] == f"projects/{PROJECT}/traces/{TRACE_ID}"
    assert re.fullmatch(r"[0-9a-f]{16}", line[SPAN])
    assert int(line[SPAN], 16) == 12345678901234567
    assert line["logging.googleapis.com/trace_sampled"] is False


def test_a_completion_writes_one_request_line_with_its_facts(server: FunctionServer, sim: VertexSimulator) -> None:
    sim.script({"text": "Hi there", "usage": {"input_tokens": 12, "output_tokens": 3}})

    response = chat(server, headers={"X-Request-Id": f"test-{uuid.uuid4().hex}"})

    line = server.request_log(response.headers["X-Request-Id"])
    assert line["severity"] == "INFO"
    assert line["message"] == "POST chat.completions -> 200"
    assert (line["function"], line["route"], line["method"], line["status"]) == ("api", "chat.completions",
                                                                                 "POST", 200)
    assert (line["model"], line["region"], line["attempts"]) == (MODEL, REGION, 1)
    assert line["stream"] is False
    assert line["usage"]["prompt_tokens"] == 12
    assert line["usage"]["completion_tokens"] == 3
    assert line["duration_ms"] > 0
    assert re.fullmatch(r"[0-9a-f]{16}", line["user"]), "a hash of the caller, never the id itself"
    assert "ttft_ms" not in line


def test_a_stream_writes_one_request_line_with_time_to_first_token(server: FunctionServer,
                                                                   sim: VertexSimulator) -> None:
    sim.script({"text": "one two three", "usage": {"input_tokens": 7, "output_tokens": 3}})

    response = chat(server, stream=True)

    line = server.request_log(response.headers["X-Request-Id"])
    assert (line["status"], line["model"], line["region"], line["attempts"]) == (200, MODEL, REGION, 1)
    assert line["stream"] is True
    assert line["outcome"] == "complete"
    assert 0 < line["ttft_ms"] <= line["duration_ms"]
    assert line["usage"]["prompt_tokens"] == 7
    assert line["usage"]["completion_tokens"] == 3
    assert re.fullmatch(r"[0-9a-f]{16}", line["user"])


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_in_a_session_logs_the_session_id(server: FunctionServer, sim: VertexSimulator, stream: bool) -> None:
    session_id = str(uuid.uuid4())

    response = chat(server, stream=stream, headers={"X-Session-Id": session_id})

    assert response.status_code == 200
    assert server.request_log(response.headers["X-Request-Id"])["session_id"] == session_id


def test_a_retry_writes_its_own_line_correlated_with_the_request(server: FunctionServer,
                                                                 sim: VertexSimulator) -> None:
    sim.script({"status": 429, "body": QUOTA}, {"text": "fine"})

    response = chat(server, headers={"traceparent": f"00-{TRACE_ID}-{SPAN_ID}-01"})

    request_id = response.headers["X-Request-Id"]
    (retry,) = [line for line in lines_of(server, request_id) if line.get("event") == "retry"]
    assert retry["severity"] == "WARNING"
    assert (retry["error_class"], retry["region"], retry["attempt"]) == ("RateLimitError", REGION, 1)
    assert retry[TRACE] == f"projects/{PROJECT}/traces/{TRACE_ID}"
    assert server.request_log(request_id)["attempts"] == 2


def test_a_failure_and_a_breaker_transition_are_logged_with_their_class(
        start_function: Callable[..., FunctionServer], sim: VertexSimulator) -> None:
    # Breakers open on outages only (a 429 never opens one: issue 15, fault 1).
    breaking = start_function("api", BREAKER_FAILURES="1")
    sim.script({"status": 529, "body": {"type": "error", "error": {"type": "overloaded_error",
                                                                    "message": "Overloaded"}}})

    response = chat(breaking)

    request_id = response.headers["X-Request-Id"]
    line = breaking.request_log(request_id)
    assert (line["status"], line["severity"]) == (503, "ERROR")
    assert (line["error_class"], line["error_code"]) == ("OverloadedError", "overloaded")
    (opened,) = [entry for entry in lines_of(breaking, request_id) if entry.get("event") == "breaker"]
    assert (opened["state"], opened["region"], opened["model"]) == ("open", REGION, MODEL)


def test_no_token_prompt_or_reply_reaches_the_log(start_function: Callable[..., FunctionServer],
                                                  sim: VertexSimulator, metadata_server: MetadataServer) -> None:
    fresh = start_function("api", AUTH_MODE="none")
    sim.script({"status": 429, "body": QUOTA}, {"text": REPLY}, {"text": REPLY})

    for stream in (False, True):
        response = chat(fresh, stream=stream, prompt=PROMPT, headers={"Authorization": f"Bearer {BEARER}"})
        assert response.status_code == 200

    output = fresh.proc.output()
    issued = metadata_server.issued_tokens
    assert issued, "the function fetched a Vertex token, so there was one to leak"
    for secret in (*issued, BEARER, PROMPT, REPLY, "quokka", "wombat"):
        assert secret not in output


def test_log_content_opts_in_to_prompt_and_reply(start_function: Callable[..., FunctionServer],
                                                 sim: VertexSimulator) -> None:
    debugging = start_function("api", LOG_CONTENT="true")
    sim.script({"text": REPLY})

    response = chat(debugging, prompt=PROMPT, headers={"Authorization": f"Bearer {BEARER}"})

    content = [line for line in lines_of(debugging, response.headers["X-Request-Id"])
               if PROMPT in json.dumps(line)]
    assert content, "LOG_CONTENT=true logs the prompt"
    assert any(REPLY in json.dumps(line) for line in content)
    assert BEARER not in debugging.proc.output(), "tokens stay out even when content is logged"


def test_every_line_is_one_json_object_with_a_severity(server: FunctionServer) -> None:
    """Runs last in this module: every line the module's function wrote, not only request lines."""
    raw = [text for text in server.proc.output().splitlines() if text.strip()]

    assert raw
    for text in raw:
        line = json.loads(text)
        assert isinstance(line, dict), text
        assert line["severity"] in SEVERITIES, text
        assert isinstance(line["message"], str), text
