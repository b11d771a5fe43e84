"""Chat completions with a session: canonical UUIDs, exactly-once transcripts, idempotent replays.

Driven through the real function with the OpenAI SDK and raw HTTP, against the Firestore
emulator and the Vertex simulator.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
import requests

from local import procs
from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer, sse_events
from vertexchat.sessions.ids import legacy_uuid

MODEL = "claude-sonnet-4-5@20250929"
SEED_LEGACY_ID = "session-1762333076184-ez9oxt7qt5r"


@pytest.fixture
def url(api: FunctionServer, firestore: str, sim: VertexSimulator) -> str:
    """The ``api`` function with Firestore and the simulator emptied for the test."""
    return api.url


def chat(url: str, messages: list[dict[str, Any]], *, headers: dict[str, str] | None = None,
         **body: Any) -> requests.Response:
    return requests.post(f"{url}/v1/chat/completions", json={"model": MODEL, "messages": messages, **body},
                         headers=headers or {}, timeout=30)


def transcript(url: str, session_id: str) -> list[dict[str, Any]]:
    response = requests.get(f"{url}/v1/sessions/{session_id}/messages", params={"limit": 100}, timeout=10)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def generate_calls(sim: VertexSimulator) -> int:
    return len([r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")])


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


@pytest.mark.parametrize("where", ["body", "metadata", "header"])
def test_a_new_client_minted_uuid_creates_the_session(url: str, sim: VertexSimulator, where: str) -> None:
    session_id = str(uuid.uuid4())
    sim.script({"text": "Hi!", "usage": {"input_tokens": 9, "output_tokens": 2}})
    placement: dict[str, Any] = {
        "body": {"body": {"session_id": session_id}},
        "metadata": {"body": {"metadata": {"session_id": session_id}}},
        "header": {"headers": {"X-Session-Id": session_id}},
    }[where]

    response = chat(url, [user("Hello")], headers=placement.get("headers"), **placement.get("body", {}))

    assert response.status_code == 200, response.text
    assert response.headers["X-Session-Id"] == session_id
    assert response.json()["session_id"] == session_id
    stored = transcript(url, session_id)
    assert [(m["seq"], m["role"]) for m in stored] == [(0, "user"), (1, "assistant")]
    assert stored[0]["content"] == "Hello"
    assert stored[1]["content"] == "Hi!"
    assert stored[1]["finish_reason"] == "stop"
    assert stored[1]["status"] == "complete"
    session = requests.get(f"{url}/v1/sessions/{session_id}", timeout=10).json()
    assert session["usage"]["output_tokens"] == 2


def test_the_seed_legacy_id_maps_to_the_same_uuid_every_time(url: str, sim: VertexSimulator) -> None:
    """Failure 3 of the old backend: `session-1762333076184-ez9oxt7qt5r` in a uuid column."""
    expected = str(uuid.UUID(bytes=__import__("hashlib").md5(SEED_LEGACY_ID.encode()).digest()))
    assert legacy_uuid(SEED_LEGACY_ID) == expected
    sim.script({"text": "one"}, {"text": "two"})

    first = chat(url, [user("a")], session_id=SEED_LEGACY_ID)
    second = chat(url, [user("a"), {"role": "assistant", "content": "one"}, user("b")],
                  metadata={"session_id": SEED_LEGACY_ID})

    assert first.headers["X-Session-Id"] == second.headers["X-Session-Id"] == expected
    assert [m["content"] for m in transcript(url, expected)] == ["a", "one", "b", "two"]
    compat = requests.get(f"{url}/atoms/chat/sessions/{SEED_LEGACY_ID}", timeout=10).json()
    assert compat["session"]["id"] == expected
    assert len(compat["messages"]) == 4


@pytest.mark.parametrize(("placement", "raw", "param"), [
    ("body", "", "session_id"),
    ("body", "x" * 129, "session_id"),
    ("body", "session-1\n2", "session_id"),
    ("metadata", "bad\x00id", "metadata.session_id"),
    ("header", "y" * 200, "X-Session-Id"),
])
def test_unusable_session_ids_are_400_naming_the_param(url: str, sim: VertexSimulator, placement: str, raw: str,
                                                       param: str) -> None:
    if placement == "header":
        response = chat(url, [user("x")], headers={"X-Session-Id": raw})
    elif placement == "metadata":
        response = chat(url, [user("x")], metadata={"session_id": raw})
    else:
        response = chat(url, [user("x")], session_id=raw)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert generate_calls(sim) == 0


def _converse(url: str, session_id: str, turns: list[str], *, server_history: bool) -> None:
    history: list[dict[str, Any]] = []
    for text in turns:
        history.append(user(text))
        sent = [history[-1]] if server_history else list(history)
        extra = {"session_history": "server"} if server_history else {}
        response = chat(url, sent, session_id=session_id, **extra)
        assert response.status_code == 200, response.text
        history.append(response.json()["choices"][0]["message"])


def test_full_history_and_new_turn_only_clients_store_identical_transcripts(url: str, sim: VertexSimulator) -> None:
    turns = ["first question", "second question", "third question"]
    full, new_only = str(uuid.uuid4()), str(uuid.uuid4())

    _converse(url, full, turns, server_history=False)
    _converse(url, new_only, turns, server_history=True)

    def shape(session_id: str) -> list[tuple[int, str, Any]]:
        return [(m["seq"], m["role"], m["content"]) for m in transcript(url, session_id)]

    assert shape(full) == shape(new_only)
    assert [role for _, role, _ in shape(full)] == ["user", "assistant"] * 3
    # With server history the upstream saw the whole conversation each time.
    last = [r for r in sim.requests() if r["kind"] == "rawPredict"][-1]
    assert len(last["body"]["messages"]) == 5


def test_a_resent_conversation_adds_nothing_twice(url: str, sim: VertexSimulator) -> None:
    session_id = str(uuid.uuid4())
    sim.script({"text": "A1"}, {"text": "A1 again"})
    chat(url, [user("Q1")], session_id=session_id)

    # The client retries the same turn (e.g. after a network blip): only the new reply is added,
    # on a branch that keeps the first.
    chat(url, [user("Q1")], session_id=session_id)

    stored = transcript(url, session_id)
    assert [m["content"] for m in stored].count("Q1") == 1


def test_twenty_concurrent_turns_on_one_session_get_gapless_unique_seqs(url: str, sim: VertexSimulator) -> None:
    session_id = str(uuid.uuid4())
    chat(url, [user("warm-up")], session_id=session_id)

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda i: chat(url, [user(f"parallel {i}")], session_id=session_id).status_code,
                                 range(20)))

    assert statuses == [200] * 20
    stored = [m for m in transcript(url, session_id) if m["seq"] >= 2]
    assert sorted(m["seq"] for m in stored) == list(range(2, 42))
    assert sum(m["role"] == "user" for m in stored) == 20
    assert sum(m["role"] == "assistant" for m in stored) == 20
    assert {m["content"] for m in stored if m["role"] == "user"} == {f"parallel {i}" for i in range(20)}


def test_twenty_concurrent_server_history_turns_store_each_message_once(url: str, sim: VertexSimulator) -> None:
    """Issue 15, fault 2: each turn reads the stored history, and a concurrent turn moves the head meanwhile;
    the history read must never be recorded again (it was: 34-39 user messages instead of 20)."""
    session_id = str(uuid.uuid4())
    chat(url, [user("warm-up")], session_id=session_id, session_history="server")

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(lambda i: chat(url, [user(f"parallel {i}")], session_id=session_id,
                                                session_history="server").status_code, range(20)))

    assert statuses == [200] * 20
    stored = [m for m in transcript(url, session_id) if m["seq"] >= 2]
    assert sum(m["role"] == "user" for m in stored) == 20
    assert sum(m["role"] == "assistant" for m in stored) == 20
    assert sorted(m["content"] for m in stored if m["role"] == "user") == sorted(f"parallel {i}" for i in range(20))
    assert sorted(m["seq"] for m in stored) == list(range(2, 42))


def test_a_streamed_reply_is_stored_with_usage_before_the_stream_ends(url: str, sim: VertexSimulator) -> None:
    session_id = str(uuid.uuid4())
    sim.script({"text": "streamed words here", "usage": {"input_tokens": 4, "output_tokens": 3}})
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)

    chunks = list(client.chat.completions.create(model=MODEL, messages=[user("go")], stream=True,
                                                 extra_body={"session_id": session_id}))

    assert (chunks[0].model_extra or {})["session_id"] == session_id
    stored = transcript(url, session_id)
    assert stored[-1]["content"] == "streamed words here"
    assert stored[-1]["status"] == "complete"
    assert stored[-1]["usage"]["input_tokens"] == 4
    assert stored[-1]["usage"]["output_tokens"] == 3


def test_an_upstream_error_mid_stream_is_stored_as_error_with_the_partial_text(url: str,
                                                                               sim: VertexSimulator) -> None:
    session_id = str(uuid.uuid4())
    sim.script({"content": [{"type": "text", "text": "partial", "chunks": ["par", "tial", " never"]}],
                "error_after": 2})

    with requests.post(f"{url}/v1/chat/completions", stream=True, timeout=30,
                       json={"model": MODEL, "messages": [user("go")], "stream": True, "session_id": session_id}) as r:
        events = list(sse_events(r))

    assert "error" in json.loads(events[-2])
    stored = transcript(url, session_id)
    assert stored[-1]["role"] == "assistant"
    assert stored[-1]["status"] == "error"
    assert stored[-1]["content"] == "partial"


def test_a_client_disconnect_mid_stream_leaves_an_incomplete_message(url: str, sim: VertexSimulator) -> None:
    session_id = str(uuid.uuid4())
    sim.script({"content": [{"type": "text", "text": "tok " * 100}], "interval_ms": 50})
    payload = json.dumps({"model": MODEL, "messages": [user("go")], "stream": True, "session_id": session_id})
    port = int(url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(payload)}\r\n\r\n{payload}".encode())
    received = b""
    while received.count(b"tok") < 3:
        received += sock.recv(4096)
    sock.close()

    deadline = time.monotonic() + 10
    stored: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        stored = transcript(url, session_id)
        if stored and stored[-1]["role"] == "assistant":
            break
        time.sleep(0.1)
    assert stored[-1]["status"] == "incomplete"
    assert stored[-1]["content"].startswith("tok tok")
    assert stored[-1]["content"].count("tok") < 100


def test_a_message_over_one_mebibyte_round_trips(url: str, sim: VertexSimulator) -> None:
    session_id = str(uuid.uuid4())
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 6000).decode()  # about 2 MB
    picture = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}}
    message = {"role": "user", "content": [{"type": "text", "text": "look"}, picture]}

    response = chat(url, [message], session_id=session_id)

    assert response.status_code == 200, response.text
    assert len(json.dumps(message)) > 1024 * 1024
    assert transcript(url, session_id)[0]["content"] == message["content"]


@pytest.mark.parametrize("stream", [False, True])
def test_an_idempotent_retry_replays_without_calling_vertex(url: str, sim: VertexSimulator, stream: bool) -> None:
    session_id = str(uuid.uuid4())
    key = f"key-{uuid.uuid4()}"
    sim.script({"text": "only once"})
    body = {"model": MODEL, "messages": [user("hi")], "stream": stream, "session_id": session_id}

    def send() -> tuple[requests.Response, str]:
        response = requests.post(f"{url}/v1/chat/completions", json=body, headers={"Idempotency-Key": key},
                                 timeout=30)
        return response, response.text

    first, first_text = send()
    second, second_text = send()

    assert first.status_code == second.status_code == 200
    assert generate_calls(sim) == 1
    assert second.headers["Idempotent-Replayed"] == "true"
    if stream:
        def text_of(raw: str) -> str:
            events = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
            return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
        assert text_of(first_text) == text_of(second_text) == "only once"
    else:
        assert first.json() == second.json()
    assert [m["role"] for m in transcript(url, session_id)] == ["user", "assistant"]


def test_an_idempotency_key_reused_with_another_body_is_422(url: str, sim: VertexSimulator) -> None:
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    assert chat(url, [user("one")], headers=headers).status_code == 200
    reused = chat(url, [user("two")], headers=headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["param"] == "Idempotency-Key"
    assert generate_calls(sim) == 1


def test_a_duplicate_while_the_first_runs_is_409_with_retry_after(url: str, sim: VertexSimulator) -> None:
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    sim.script({"text": "slow", "stall_before_headers_ms": 2000})
    first: list[requests.Response] = []
    runner = threading.Thread(target=lambda: first.append(chat(url, [user("q")], headers=headers)))
    runner.start()
    time.sleep(0.7)

    duplicate = chat(url, [user("q")], headers=headers)
    runner.join()

    assert duplicate.status_code == 409
    assert int(duplicate.headers["Retry-After"]) >= 1
    assert first[0].status_code == 200
    assert generate_calls(sim) == 1


def test_firestore_unreachable_is_503_before_any_upstream_call(start_function: Callable[..., FunctionServer],
                                                               sim: VertexSimulator) -> None:
    server = start_function(FIRESTORE_EMULATOR_HOST=f"127.0.0.1:{procs.free_port()}", FIRESTORE_TIMEOUT_SECONDS="2")

    response = chat(server.url, [user("hi")], session_id=str(uuid.uuid4()))

    assert response.status_code == 503, response.text
    assert generate_calls(sim) == 0


@pytest.fixture
def own_firestore(tmp_path: Any) -> Iterator[tuple[procs.Proc, str]]:
    port = procs.free_port()
    proc = procs.start_firestore(port=port, log_path=tmp_path / "firestore.log")
    yield proc, f"127.0.0.1:{port}"
    proc.stop()


def test_a_reply_that_cannot_be_saved_says_so_in_band(start_function: Callable[..., FunctionServer],
                                                      sim: VertexSimulator,
                                                      own_firestore: tuple[procs.Proc, str]) -> None:
    proc, host = own_firestore
    server = start_function(FIRESTORE_EMULATOR_HOST=host, FIRESTORE_TIMEOUT_SECONDS="2")
    # Warm the function's Firestore channel first: on a loaded machine a cold first call can take
    # longer than the 2 s this test allows, and then the turn is refused before the stream begins.
    deadline = time.monotonic() + 30
    while chat(server.url, [user("warm-up")], session_id=str(uuid.uuid4())).status_code != 200:
        assert time.monotonic() < deadline, "the function never reached its Firestore emulator"
    sim.reset()
    sim.script({"content": [{"type": "text", "text": "a b c d e f g h"}], "interval_ms": 300})

    with requests.post(f"{server.url}/v1/chat/completions", stream=True, timeout=60,
                       json={"model": MODEL, "messages": [user("go")], "stream": True,
                             "session_id": str(uuid.uuid4())}) as response:
        events = iter(sse_events(response))
        first = next(events)
        proc.stop()  # Firestore goes away while the reply is still streaming
        rest = list(events)

    assert json.loads(first)["object"] == "chat.completion.chunk"
    assert rest[-1] == "[DONE]"
    error = json.loads(rest[-2])["error"]
    assert error["code"] == "session_not_saved"
    assert "could not be saved" in error["message"]


def test_a_request_refused_with_400_stores_nothing(url: str, sim: VertexSimulator) -> None:
    """Validation runs before the transcript is touched: a bad turn must not poison the session."""
    session_id = str(uuid.uuid4())
    orphan = {"role": "tool", "tool_call_id": "call_nobody", "content": "result of nothing"}

    refused = chat(url, [user("hi"), orphan], session_id=session_id, session_history="server")

    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "messages[1].tool_call_id"
    assert "X-Session-Id" not in refused.headers
    sim.script({"text": "fine"})
    assert chat(url, [user("hi")], session_id=session_id, session_history="server").status_code == 200
    assert [m["content"] for m in transcript(url, session_id)] == ["hi", "fine"]
