"""The sessions routes over HTTP, served by functions-framework against the Firestore emulator."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import requests

from local import procs
from tests.harness import FunctionServer
from vertexchat.sessions.ids import legacy_uuid
from vertexchat.sessions.records import Usage
from vertexchat.sessions.store import SessionStore

ME = "local-user"  # the identity every request has until authentication sets one
SEED_ID = "session-1762333076184-ez9oxt7qt5r"


@pytest.fixture
def url(api: FunctionServer, session_store: SessionStore) -> str:
    """The ``api`` function's base URL, with Firestore emptied for the test."""
    return api.url


def create(url: str, **body: object) -> dict[str, object]:
    response = requests.post(f"{url}/v1/sessions", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def error_of(response: requests.Response) -> tuple[int, str | None, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["param"]


def test_create_answers_201_with_a_server_made_uuid(url: str) -> None:
    session = create(url, title="Trip", model="claude-sonnet-4-5", metadata={"k": "v"})
    bare = requests.post(f"{url}/v1/sessions", timeout=10)

    assert uuid.UUID(str(session["id"])).version == 4
    assert session["object"] == "chat.session"
    assert (session["title"], session["model"], session["metadata"], session["message_count"]) == (
        "Trip", "claude-sonnet-4-5", {"k": "v"}, 0)
    assert isinstance(session["created_at"], int)
    assert session["created_at"] == session["updated_at"]
    assert session["usage"] == {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0,
                                "cache_creation_input_tokens": 0}
    assert bare.status_code == 201
    assert bare.json()["title"] is None


@pytest.mark.parametrize(("body", "param"), [
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ({"metadata": {"k": 1}}, "metadata"),
    ({"metadata": {"k": "v" * 513}}, "metadata"),
    ({"title": 5}, "title"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"user_id": "someone"}, "user_id"),
])
def test_bad_create_bodies_name_the_field(url: str, body: dict[str, object], param: str) -> None:
    response = requests.post(f"{url}/v1/sessions", json=body, timeout=10)
    assert error_of(response)[0::2] == (400, param)


def test_list_pages_newest_first(url: str) -> None:
    ids = [create(url, title=f"s{i}")["id"] for i in range(3)]
    first = requests.get(f"{url}/v1/sessions", params={"limit": 2}, timeout=10).json()
    second = requests.get(f"{url}/v1/sessions", params={"limit": 2, "after": first["next_cursor"]},
                          timeout=10).json()

    assert first["object"] == "list"
    assert [s["id"] for s in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True
    assert [s["id"] for s in second["data"]] == [ids[0]]
    assert second["has_more"] is False
    assert second["next_cursor"] is None


@pytest.mark.parametrize(("query", "param"), [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"after": "not-a-cursor"}, "after"), ({"after": ""}, "after"),
])
def test_bad_list_parameters_are_a_400_naming_them(url: str, query: dict[str, str], param: str) -> None:
    response = requests.get(f"{url}/v1/sessions", params=query, timeout=10)
    assert error_of(response) == (400, None, param)


def test_get_patch_delete(url: str) -> None:
    session_id = create(url, title="old", metadata={"a": "1"})["id"]

    patched = requests.patch(f"{url}/v1/sessions/{session_id}", json={"title": "new"}, timeout=10)
    replaced = requests.patch(f"{url}/v1/sessions/{session_id}", json={"metadata": {"b": "2"}}, timeout=10)
    got = requests.get(f"{url}/v1/sessions/{session_id}", timeout=10)
    deleted = requests.delete(f"{url}/v1/sessions/{session_id}", timeout=10)
    again = requests.delete(f"{url}/v1/sessions/{session_id}", timeout=10)
    gone = requests.get(f"{url}/v1/sessions/{session_id}", timeout=10)

    assert patched.json()["title"] == "new"
    assert patched.json()["metadata"] == {"a": "1"}
    assert replaced.json()["metadata"] == {"b": "2"}
    assert replaced.json()["title"] == "new"
    assert got.json()["title"] == "new"
    assert deleted.json() == {"id": session_id, "object": "chat.session.deleted", "deleted": True}
    assert error_of(again) == (404, "not_found", "session_id")  # gone: nothing left to delete
    assert error_of(gone) == (404, "not_found", "session_id")


def test_someone_elses_session_looks_exactly_like_a_missing_one(url: str, session_store: SessionStore) -> None:
    theirs = session_store.create_session("someone-else", title="private").id
    session_store.append(theirs, "someone-else", [{"role": "user", "content": "secret"}], request_id="r")
    missing = str(uuid.uuid4())

    for method in ("GET", "PATCH"):
        kwargs = {"json": {"title": "x"}} if method == "PATCH" else {}
        a = requests.request(method, f"{url}/v1/sessions/{theirs}", timeout=10, **kwargs)  # type: ignore[arg-type]
        b = requests.request(method, f"{url}/v1/sessions/{missing}", timeout=10, **kwargs)  # type: ignore[arg-type]
        assert error_of(a) == error_of(b) == (404, "not_found", "session_id")
        assert a.json()["error"]["message"].replace(theirs, "?") == b.json()["error"]["message"].replace(missing, "?")
    messages = requests.get(f"{url}/v1/sessions/{theirs}/messages", timeout=10)
    assert error_of(messages)[0] == 404
    # DELETE as well: someone else's session answers exactly like a missing one, and survives.
    deleted = requests.delete(f"{url}/v1/sessions/{theirs}", timeout=10)
    absent = requests.delete(f"{url}/v1/sessions/{missing}", timeout=10)
    assert error_of(deleted) == error_of(absent) == (404, "not_found", "session_id")
    assert deleted.json()["error"]["message"].replace(theirs, "?") == absent.json()["error"]["message"].replace(
        missing, "?")
    assert session_store.get_session(theirs, "someone-else").title == "private"
    assert [m.message["content"] for m in session_store.transcript(theirs, "someone-else")] == ["secret"]


@pytest.mark.parametrize("raw", [SEED_ID, "not-a-uuid", "6f1c0e4e2a8b4c559a570d7c2f2b1e3a", "%01"])
def test_v1_paths_take_uuids_only(url: str, raw: str) -> None:
    response = requests.get(f"{url}/v1/sessions/{raw}", timeout=10)
    assert error_of(response) == (400, None, "session_id")


def test_messages_page_in_seq_order(url: str, session_store: SessionStore) -> None:
    session_id = create(url)["id"]
    session_store.append(session_id, ME, [{"role": "user", "content": "hi"}], request_id="r1")
    session_store.append(session_id, ME, [{"role": "assistant", "content": "hello"}], request_id="r1",
                         model="claude-sonnet-4-5", finish_reason="stop")
    session_store.append(session_id, ME, [{"role": "user", "content": "bye"}], request_id="r2")

    first = requests.get(f"{url}/v1/sessions/{session_id}/messages", params={"limit": 2}, timeout=10).json()
    rest = requests.get(f"{url}/v1/sessions/{session_id}/messages",
                        params={"limit": 2, "after": first["next_cursor"]}, timeout=10).json()

    assert [(m["seq"], m["role"], m["content"]) for m in first["data"] + rest["data"]] == [
        (0, "user", "hi"), (1, "assistant", "hello"), (2, "user", "bye")]
    reply = first["data"][1]
    assert (reply["id"], reply["object"], reply["parent_seq"], reply["status"], reply["finish_reason"],
            reply["model"]) == ("000000000001", "chat.message", 0, "complete", "stop", "claude-sonnet-4-5")
    assert first["has_more"] is True
    assert rest["has_more"] is False
    bad = requests.get(f"{url}/v1/sessions/{session_id}/messages", params={"after": "zz"}, timeout=10)
    assert error_of(bad) == (400, None, "after")


def test_compat_list_ignores_user_id(url: str, session_store: SessionStore) -> None:
    mine = [create(url, title=f"m{i}")["id"] for i in range(3)]
    session_store.create_session("someone-else", title="theirs")

    page1 = requests.get(f"{url}/atoms/chat/sessions", params={"page": 1, "page_size": 2,
                                                               "user_id": "someone-else"}, timeout=10).json()
    page2 = requests.get(f"{url}/atoms/chat/sessions", params={"page": 2, "page_size": 2}, timeout=10).json()

    assert [s["id"] for s in page1["sessions"]] == [mine[2], mine[1]]
    assert (page1["total"], page1["page"], page1["page_size"], page1["has_more"]) == (3, 1, 2, True)
    assert [s["id"] for s in page2["sessions"]] == [mine[0]]
    assert page2["has_more"] is False
    bad = requests.get(f"{url}/atoms/chat/sessions", params={"page_size": "500"}, timeout=10)
    assert error_of(bad) == (400, None, "page_size")


def test_compat_get_accepts_the_legacy_id(url: str, session_store: SessionStore) -> None:
    session_id = legacy_uuid(SEED_ID)
    session_store.open_turn(session_id, ME, legacy_id=SEED_ID)
    session_store.append(session_id, ME, [{"role": "user", "content": "hi"},
                                          {"role": "assistant", "content": "hello"}], request_id="r")

    by_legacy = requests.get(f"{url}/atoms/chat/sessions/{SEED_ID}", params={"user_id": "x"}, timeout=10)
    by_uuid = requests.get(f"{url}/atoms/chat/sessions/{session_id}", timeout=10)

    assert by_legacy.status_code == 200, by_legacy.text
    body = by_legacy.json()
    assert (body["session"]["id"], body["session"]["legacy_id"]) == (session_id, SEED_ID)
    assert [(m["message_index"], m["role"], m["content"]) for m in body["messages"]] == [
        (0, "user", "hi"), (1, "assistant", "hello")]
    assert by_uuid.json() == body


def test_compat_get_never_takes_identity_from_the_query(url: str, session_store: SessionStore) -> None:
    theirs = legacy_uuid("atoms_session_abc123")
    session_store.open_turn(theirs, "someone-else", legacy_id="atoms_session_abc123")

    response = requests.get(f"{url}/atoms/chat/sessions/atoms_session_abc123", params={"user_id": "someone-else"},
                            timeout=10)
    assert error_of(response) == (404, "not_found", "session_id")
    assert error_of(requests.get(f"{url}/atoms/chat/sessions/%01", timeout=10)) == (400, None, "session_id")


def test_the_sessions_function_serves_its_root_and_nothing_else(start_function: Callable[..., FunctionServer],
                                                                session_store: SessionStore) -> None:
    server = start_function("sessions")
    created = requests.post(f"{server.url}/", json={"title": "root"}, timeout=10)
    listed = requests.get(f"{server.url}/", timeout=10)

    assert created.status_code == 201
    assert [s["id"] for s in listed.json()["data"]] == [created.json()["id"]]
    assert requests.get(f"{server.url}/v1/sessions/{created.json()['id']}", timeout=10).status_code == 200
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 404
    refused = requests.put(f"{server.url}/v1/sessions", timeout=10)
    assert error_of(refused) == (405, "method_not_allowed", None)
    assert refused.headers["Allow"] == "GET, POST, OPTIONS"
    item = requests.post(f"{server.url}/v1/sessions/{created.json()['id']}", timeout=10)
    assert item.headers["Allow"] == "GET, PATCH, DELETE, OPTIONS"


def test_unreachable_firestore_is_a_503_with_retry_after(start_function: Callable[..., FunctionServer]) -> None:
    server = start_function("sessions", FIRESTORE_EMULATOR_HOST=f"127.0.0.1:{procs.free_port()}",
                            FIRESTORE_TIMEOUT_SECONDS="1")
    started = time.monotonic()
    response = requests.get(f"{server.url}/v1/sessions", timeout=30)

    assert time.monotonic() - started < 5
    assert error_of(response) == (503, "storage_unavailable", None)
    assert "Firestore" in response.json()["error"]["message"]
    assert int(response.headers["Retry-After"]) >= 1


def test_the_sessions_function_never_imports_the_anthropic_sdk(firestore: str) -> None:
    code = (
        "import sys, flask; sys.path.insert(0, 'functions'); import main\n"
        "app = flask.Flask('t')\n"
        "with app.test_request_context('/v1/sessions', method='POST'):\n"
        "    assert main.sessions(flask.request).status_code == 201\n"
        "with app.test_request_context('/v1/sessions'):\n"
        "    assert main.sessions(flask.request).status_code == 200\n"
        "assert 'anthropic' not in sys.modules, 'sessions imported anthropic'\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "GOOGLE_CLOUD_PROJECT": "vertexchat-test",
           "FIRESTORE_EMULATOR_HOST": firestore}
    result = subprocess.run([sys.executable, "-c", code], cwd=procs.ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "ok"


ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")  # ECMAScript's date-time format


def test_compat_routes_answer_atomsagents_shapes(url: str, session_store: SessionStore) -> None:
    before = datetime.now(UTC)
    session_id = create(url, title="Trip", metadata={"organization_id": "org_1", "agent_type": "chat"})["id"]
    session_store.append(session_id, ME, [
        {"role": "user", "content": [{"type": "text", "text": "weather?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
    ], request_id="r1")
    session_store.append(session_id, ME, [{"role": "assistant", "content": "It is sunny."}], request_id="r1",
                         model="claude-sonnet-4-5", finish_reason="stop",
                         usage=Usage(input=10, output=5, cache_read=3, cache_write=2))
    empty = create(url)["id"]

    listed = requests.get(f"{url}/atoms/chat/sessions", timeout=10).json()
    detail = requests.get(f"{url}/atoms/chat/sessions/{session_id}", timeout=10).json()

    summaries = {s["id"]: s for s in listed["sessions"]}
    summary = summaries[session_id]
    assert set(summary) == {"id", "user_id", "organization_id", "title", "model", "agent_type", "created_at",
                            "updated_at", "last_message_at", "message_count", "tokens_in", "tokens_out",
                            "tokens_total", "metadata", "archived", "legacy_id"}
    assert (summary["user_id"], summary["organization_id"], summary["agent_type"], summary["archived"]) == (
        ME, "org_1", "chat", False)
    assert (summary["message_count"], summary["tokens_in"], summary["tokens_out"], summary["tokens_total"]) == (
        4, 15, 5, 20)
    for field in ("created_at", "updated_at", "last_message_at"):
        assert ISO_UTC.match(summary[field]), summary[field]
        assert before - timedelta(seconds=1) <= datetime.fromisoformat(summary[field]) <= datetime.now(UTC)
    assert summaries[empty]["last_message_at"] is None
    assert detail["session"] == summary

    user, call, result, reply = detail["messages"]
    assert set(reply) == {"id", "message_index", "role", "content", "metadata", "tokens", "created_at",
                          "updated_at"}
    assert [m["message_index"] for m in detail["messages"]] == [0, 1, 2, 3]
    assert uuid.UUID(reply["id"]).version == 5
    assert len({m["id"] for m in detail["messages"]}) == 4
    assert (user["content"], user["tokens"]) == ("weather?", None)
    assert (call["content"], call["metadata"]["tool_calls"][0]["id"]) == ("", "toolu_1")
    assert (result["role"], result["content"], result["metadata"]["tool_call_id"]) == ("tool", "sunny", "toolu_1")
    assert (reply["content"], reply["tokens"], reply["metadata"]) == ("It is sunny.", 20,
                                                                      {"seq": 3, "finish_reason": "stop"})
    assert ISO_UTC.match(reply["created_at"])
    assert reply["updated_at"] is None
    # The same session on /v1 keeps OpenAI's unix seconds.
    assert isinstance(requests.get(f"{url}/v1/sessions/{session_id}", timeout=10).json()["updated_at"], int)
