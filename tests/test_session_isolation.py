"""Two users, one function: neither can see, append to, or delete the other's sessions, on any route.

Alice and Bob hold real tokens of the local identity provider; the function runs with
AUTH_MODE=oidc. Someone else's session answers exactly like a missing one, a ``user_id`` in
the query changes nothing, and a chat naming Alice's session as Bob is a 404 before any
Vertex call.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer
from tests.jwks import IdentityProvider
from vertexchat.sessions.ids import legacy_uuid

LEGACY_ID = "session-1762333076184-ez9oxt7qt5r"
MODEL = "claude-sonnet-4-5@20250929"


class User:
    """A caller with a token, speaking to one function."""

    def __init__(self, server: FunctionServer, idp: IdentityProvider, subject: str) -> None:
        self.url = server.url
        self.headers = {"Authorization": f"Bearer {idp.token(subject)}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def chat(self, text: str, **extra: Any) -> requests.Response:
        headers = extra.pop("headers", {})
        body = {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}
        return self.call("POST", "/v1/chat/completions", json=body, headers=headers)


@pytest.fixture
def alice(secured_api: FunctionServer, identity_provider: IdentityProvider, firestore: str) -> User:
    return User(secured_api, identity_provider, "user-alice")


@pytest.fixture
def bob(secured_api: FunctionServer, identity_provider: IdentityProvider, firestore: str) -> User:
    return User(secured_api, identity_provider, "user-bob")


def not_found(response: requests.Response) -> bool:
    error = response.json().get("error") or {}
    return response.status_code == 404 and error.get("code") == "not_found" and error.get("param") == "session_id"


@pytest.fixture
def alices_session(alice: User, sim: VertexSimulator) -> str:
    """A session of Alice's with one exchange in it, made through the chat."""
    session_id = alice.call("POST", "/v1/sessions", json={"title": "alice's secrets"}).json()["id"]
    sim.script({"text": "noted"})
    assert alice.chat("my secret", session_id=session_id).status_code == 200
    return str(session_id)


def test_the_sessions_routes_hide_alices_session_from_bob(alice: User, bob: User, alices_session: str) -> None:
    path = f"/v1/sessions/{alices_session}"

    listed = bob.call("GET", "/v1/sessions").json()
    got = bob.call("GET", path)
    patched = bob.call("PATCH", path, json={"title": "pwned"})
    messages = bob.call("GET", f"{path}/messages")
    deleted = bob.call("DELETE", path)

    assert listed["data"] == []
    assert not_found(got)
    assert not_found(patched)
    assert not_found(messages)
    assert not_found(deleted)  # and it deletes nothing
    # Exactly what a session that never existed answers: nothing tells Bob it is there.
    missing = str(uuid.uuid4())
    for response, method, suffix in ((got, "GET", ""), (patched, "PATCH", ""), (messages, "GET", "/messages"),
                                     (deleted, "DELETE", "")):
        kwargs = {"json": {"title": "pwned"}} if method == "PATCH" else {}
        twin = bob.call(method, f"/v1/sessions/{missing}{suffix}", **kwargs)
        assert response.text.replace(alices_session, "?") == twin.text.replace(missing, "?")
    still = alice.call("GET", path).json()
    assert (still["title"], still["message_count"]) == ("alice's secrets", 2)
    assert [s["id"] for s in alice.call("GET", "/v1/sessions").json()["data"]] == [alices_session]


def test_the_compat_routes_ignore_a_user_id_naming_alice(alice: User, bob: User, alices_session: str) -> None:
    for query in ({}, {"user_id": "user-alice"}, {"user_id": "user-alice", "page": "1", "page_size": "100"}):
        listed = bob.call("GET", "/atoms/chat/sessions", params=query).json()
        assert (listed["sessions"], listed["total"]) == ([], 0)
        assert not_found(bob.call("GET", f"/atoms/chat/sessions/{alices_session}", params=query))
    assert alice.call("GET", f"/atoms/chat/sessions/{alices_session}").status_code == 200


def test_a_legacy_id_is_no_way_into_someone_elses_session(alice: User, bob: User, sim: VertexSimulator) -> None:
    sim.script({"text": "stored"})
    assert alice.chat("mine", metadata={"session_id": LEGACY_ID}).status_code == 200

    assert not_found(bob.call("GET", f"/atoms/chat/sessions/{LEGACY_ID}"))
    assert not_found(bob.call("GET", f"/v1/sessions/{legacy_uuid(LEGACY_ID)}"))
    assert alice.call("GET", f"/atoms/chat/sessions/{LEGACY_ID}").json()["session"]["legacy_id"] == LEGACY_ID


@pytest.mark.parametrize("where", ["body", "metadata", "header"])
@pytest.mark.parametrize("stream", [False, True])
def test_bob_cannot_chat_into_alices_session(alice: User, bob: User, alices_session: str, sim: VertexSimulator,
                                             where: str, stream: bool) -> None:
    before = len(sim.requests())
    placement: dict[str, Any] = {
        "body": {"session_id": alices_session},
        "metadata": {"metadata": {"session_id": alices_session}},
        "header": {"headers": {"X-Session-Id": alices_session}},
    }[where]

    response = bob.chat("let me in", stream=stream, **placement)

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert len(sim.requests()) == before, "an upstream call was made for a refused session"
    assert alice.call("GET", f"/v1/sessions/{alices_session}").json()["message_count"] == 2
    assert [m["content"] for m in alice.call("GET", f"/v1/sessions/{alices_session}/messages").json()["data"]] == [
        "my secret", "noted"]
    assert bob.call("GET", "/v1/sessions").json()["data"] == []


def test_bob_cannot_continue_alices_session_by_server_history(alice: User, bob: User, alices_session: str,
                                                              sim: VertexSimulator) -> None:
    before = len(sim.requests())
    response = bob.chat("what did she say?", session_id=alices_session, session_history="server")

    assert not_found(response)
    assert len(sim.requests()) == before
    assert "my secret" not in response.text


def test_the_same_new_session_id_cannot_be_shared(alice: User, bob: User, sim: VertexSimulator) -> None:
    """A client-minted UUID belongs to whoever used it first."""
    session_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
    sim.script({"text": "first"})

    assert alice.chat("hello", session_id=session_id).status_code == 200
    assert bob.chat("hello", session_id=session_id).status_code == 404
    assert alice.call("GET", f"/v1/sessions/{session_id}").json()["message_count"] == 2
