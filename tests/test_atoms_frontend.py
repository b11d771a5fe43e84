"""The atoms frontend's own requests, replayed against vertexchat, and the fields its code reads.

The frontend (atoms-tech/atoms.tech) signs users in with WorkOS AuthKit and talks to its
backend from Next.js API routes: `/v1/models` for its model pickers, `POST /v1/chat/completions`
through the AI SDK's OpenAI-compatible provider (`streamText` with its tools, `toolChoice:
'auto'`, `includeUsage: true`), and `/atoms/chat/sessions[/{id}]?user_id=...` for its history
pages. Here those requests go, as the frontend sends them plus the one change it needs (the
user's access token forwarded as `Authorization: Bearer`), to a function configured for WorkOS:
`AUTH_MODE=oidc` with tokens that carry no `aud` (`AUTH_ALLOW_NO_AUDIENCE`). What is asserted is
what the frontend's code reads:

- pickers: `id`, `context_length` (a number) and `capabilities` (a list of strings);
- the AI SDK's stream parser: `id`/`created`/`model` of the first chunk, `delta.content`,
  `delta.tool_calls[].index/id/type/function.name/arguments`, `finish_reason`, the `usage` chunk
  that `stream_options.include_usage` asks for, then `[DONE]`;
- history pages: `new Date(s.updated_at || s.created_at)`, so ISO-8601 strings (unix seconds
  would be read as milliseconds: a date in 1970), `message_count`, `title`, `tokens_*`, and each
  message's `role` and `content` string.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer, sse_events
from tests.jwks import IdentityProvider

WORKOS_CLIENT_ID = "client_01HXYZ123456789ABCDEFGHIJ"
WORKOS_USER = "user_01HBEQKA6K4QJAS93VPE39W1JT"
# The profile id the frontend passes as ?user_id= (ignored: the owner is the token's subject).
PROFILE_ID = "9b2f6c1e-5a7d-4e3b-8c21-6f0e4d2a1b7c"
# The models the frontend's pickers offer (src/app/api/models/route.ts), and their windows.
FRONTEND_MODELS = {"claude-sonnet-4-5@20250929": 200_000, "claude-sonnet-4-5@20250929-1m": 1_000_000,
                   "claude-haiku-4-5@20251001": 200_000}
# ECMAScript's date-time string format, which `new Date(string)` is required to parse.
ES_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
INSTRUCTIONS = "You are a helpful AI assistant for the Atoms platform."
USAGE = {"input_tokens": 120, "output_tokens": 30, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}


def tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A tool as the AI SDK sends it: a zod schema turned into draft-07 JSON Schema."""
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": properties,
        "required": required, "additionalProperties": False}}}


TOOLS = [
    tool("searchDatabase", "Search the database for requirements or documents",
         {"query": {"type": "string", "description": "The search query"},
          "filters": {"type": "object", "properties": {"projectId": {"type": "string"}},
                      "additionalProperties": False}}, ["query"]),
    tool("analyzeDocument", "Analyze a document and extract insights",
         {"documentId": {"type": "string"},
          "analysisType": {"type": "string", "enum": ["summary", "requirements", "risks", "dependencies"]}},
         ["documentId", "analysisType"]),
]


@pytest.fixture(scope="module")
def workos() -> Iterator[IdentityProvider]:
    """Stands in for WorkOS: an issuer whose access tokens carry no `aud`."""
    provider = IdentityProvider()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def backend(function_env: dict[str, str], workos: IdentityProvider) -> Iterator[FunctionServer]:
    """The `api` function configured as the README says for WorkOS AuthKit."""
    server = FunctionServer("api", {**function_env, **workos.env(), "AUTH_AUDIENCE": "",
                                    "AUTH_ALLOW_NO_AUDIENCE": "true", "AUTH_CLIENT_ID": WORKOS_CLIENT_ID})
    yield server
    server.stop()


@pytest.fixture
def bearer(workos: IdentityProvider, firestore: str) -> dict[str, str]:
    """The header the frontend's API routes forward: the signed-in user's WorkOS access token."""
    token = workos.token(WORKOS_USER, aud=None, sid="session_01HQSXZGF8FHF7A9ZZFCW4387R",
                         org_id="org_01HRDMC6CM357W30QMHMQ96Q0S", role="member")
    return {"Authorization": f"Bearer {token}"}


def stream_chat(backend: FunctionServer, bearer: dict[str, str], body: dict[str, Any]) -> tuple[
        requests.Response, list[dict[str, Any]]]:
    """POST what the AI SDK posts for `streamText`; the response and every JSON chunk, `[DONE]` checked."""
    with requests.post(f"{backend.url}/v1/chat/completions", json=body, timeout=30, stream=True,
                       headers={**bearer, "Content-Type": "application/json"}) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [e for e in sse_events(response) if not e.startswith(":")]
    assert events[-1] == "[DONE]"
    return response, [json.loads(e) for e in events[:-1]]


def ai_sdk_body(session_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of @ai-sdk/openai-compatible's doStream for the frontend's streamText call.

    `providerOptions: { atomsagent: { session_id } }` puts `session_id` in the body: the
    provider spreads its own providerOptions key into the request (README, "the atoms frontend").
    """
    return {"model": "claude-sonnet-4-5@20250929", "messages": [{"role": "system", "content": INSTRUCTIONS},
                                                                *messages],
            "tools": TOOLS, "tool_choice": "auto", "stream": True, "stream_options": {"include_usage": True},
            "session_id": session_id}


def assert_recent(moment: str, since: datetime) -> None:
    """What `new Date(moment)` reads must be now-ish, not 1970 (the unix-seconds bug)."""
    assert ES_DATE_TIME.match(moment), moment
    assert since - timedelta(seconds=1) <= datetime.fromisoformat(moment) <= datetime.now(UTC) + timedelta(seconds=1)


def test_the_model_pickers_get_context_length_and_capability_names(backend: FunctionServer,
                                                                   bearer: dict[str, str],
                                                                   sim: VertexSimulator) -> None:
    response = requests.get(f"{backend.url}/v1/models", headers=bearer, timeout=30)

    assert response.status_code == 200, response.text
    listing = response.json()
    assert listing["object"] == "list"
    # The frontend keeps the listed models it knows, and falls back to its own list if none is left.
    offered = {m["id"]: m for m in listing["data"] if m["id"] in FRONTEND_MODELS}
    assert set(offered) == set(FRONTEND_MODELS)
    for model_id, model in offered.items():
        assert (model["object"], model["owned_by"]) == ("model", "anthropic")
        assert isinstance(model["created"], int)
        assert model["context_length"] == FRONTEND_MODELS[model_id]
        assert isinstance(model["capabilities"], list)
        assert all(isinstance(name, str) for name in model["capabilities"])
        assert {"chat", "streaming", "tools"} <= set(model["capabilities"])


def test_a_tool_loop_streams_as_the_ai_sdk_reads_it_and_lands_in_the_history_pages(
        backend: FunctionServer, bearer: dict[str, str], sim: VertexSimulator) -> None:
    started = datetime.now(UTC)
    session_id = str(uuid.uuid4())  # the frontend mints its session ids with randomUUID()
    question = {"role": "user", "content": "Find the login requirements"}
    sim.script({"content": [{"type": "tool_use", "id": "toolu_01", "name": "searchDatabase",
                             "input": {"query": "login"}, "chunks": ['{"que', 'ry": "login"}']}],
                "stop_reason": "tool_use", "usage": USAGE},
               {"text": "There are no login requirements yet."})

    # Step 1: Claude calls a tool.
    first, chunks = stream_chat(backend, bearer, ai_sdk_body(session_id, [question]))

    assert first.headers["X-Session-Id"] == session_id
    head = chunks[0]
    assert isinstance(head["id"], str)
    assert isinstance(head["created"], int)
    assert head["model"] == "claude-sonnet-4-5@20250929"
    deltas = [d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls") or []]
    assert deltas[0]["index"] == 0
    assert deltas[0]["id"] == "toolu_01"
    assert deltas[0]["type"] == "function"
    assert deltas[0]["function"]["name"] == "searchDatabase"
    assert json.loads("".join(d["function"].get("arguments") or "" for d in deltas)) == {"query": "login"}
    assert [c["choices"][0]["finish_reason"] for c in chunks
            if c["choices"] and c["choices"][0].get("finish_reason")] == ["tool_calls"]
    # include_usage: one last chunk with the usage and no choices.
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 120
    assert chunks[-1]["usage"]["completion_tokens"] == 30
    assert sim.requests("streamRawPredict")[-1]["body"]["tools"][0]["name"] == "searchDatabase"

    # Step 2: the AI SDK ran the tool and sends the whole conversation back, as OpenAI messages.
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "toolu_01", "type": "function",
         "function": {"name": "searchDatabase", "arguments": '{"query":"login"}'}}]}
    result = {"role": "tool", "tool_call_id": "toolu_01", "content": json.dumps({"results": [], "count": 0})}
    _, chunks = stream_chat(backend, bearer, ai_sdk_body(session_id, [question, call, result]))

    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "There are no login requirements yet."
    assert [c["choices"][0]["finish_reason"] for c in chunks
            if c["choices"] and c["choices"][0].get("finish_reason")] == ["stop"]

    # The history pages: the list, then the session, as the frontend asks for them.
    listed = requests.get(f"{backend.url}/atoms/chat/sessions", headers=bearer, timeout=30,
                          params={"user_id": PROFILE_ID, "page": "1", "page_size": "20"}).json()
    detail = requests.get(f"{backend.url}/atoms/chat/sessions/{session_id}", headers=bearer, timeout=30,
                          params={"user_id": PROFILE_ID}).json()

    assert (listed["total"], listed["page"], listed["page_size"], listed["has_more"]) == (1, 1, 20, False)
    [summary] = listed["sessions"]
    assert summary["id"] == session_id
    assert summary["user_id"] == WORKOS_USER
    assert summary["title"] == "Find the login requirements"
    assert_recent(summary["updated_at"] or summary["created_at"], started)
    assert_recent(summary["created_at"], started)
    assert_recent(summary["last_message_at"], started)
    assert summary["archived"] is False
    assert summary["message_count"] == len(detail["messages"])
    assert summary["tokens_total"] == summary["tokens_in"] + summary["tokens_out"] > 0
    assert detail["session"] == summary
    conversation = [(m["role"], m["content"]) for m in detail["messages"] if m["role"] != "system"]
    assert conversation == [("user", "Find the login requirements"), ("assistant", ""),
                            ("tool", '{"results": [], "count": 0}'),
                            ("assistant", "There are no login requirements yet.")]
    for message in detail["messages"]:
        assert isinstance(message["content"], str)
        assert_recent(message["created_at"], started)
    assert detail["messages"][-1]["tokens"] > 0


def test_another_users_history_is_not_found_whatever_user_id_says(backend: FunctionServer,
                                                                  bearer: dict[str, str],
                                                                  workos: IdentityProvider,
                                                                  sim: VertexSimulator) -> None:
    session_id = str(uuid.uuid4())
    sim.script({"text": "Hello."})
    body = ai_sdk_body(session_id, [{"role": "user", "content": "Hi"}])
    stream_chat(backend, bearer, {k: v for k, v in body.items() if k not in ("tools", "tool_choice")})
    other = {"Authorization": f"Bearer {workos.token('user_01OTHER', aud=None)}"}

    listed = requests.get(f"{backend.url}/atoms/chat/sessions", headers=other, timeout=30,
                          params={"user_id": PROFILE_ID}).json()
    detail = requests.get(f"{backend.url}/atoms/chat/sessions/{session_id}", headers=other, timeout=30,
                          params={"user_id": PROFILE_ID})

    assert (listed["sessions"], listed["total"]) == ([], 0)
    assert detail.status_code == 404
