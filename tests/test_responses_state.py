"""Responses state in Firestore over HTTP: owner isolation, chains across instances, sessions, delete, failures.

Alice and Bob hold real tokens of the local identity provider (AUTH_MODE=oidc): someone else's response answers
exactly like a missing one on every route, and nothing of it reaches Vertex.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any

import openai
import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import PROJECT, FunctionServer
from tests.jwks import IdentityProvider

MODEL = "claude-sonnet-4-5"


def generated(sim: VertexSimulator) -> list[dict[str, Any]]:
    return [r["body"] for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]


def text(value: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": value}]


@pytest.fixture
def alice(secured_api: FunctionServer, identity_provider: IdentityProvider, firestore: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{secured_api.url}/v1", api_key=identity_provider.token("user-alice"),
                         max_retries=0, timeout=30)


@pytest.fixture
def bob(secured_api: FunctionServer, identity_provider: IdentityProvider, firestore: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{secured_api.url}/v1", api_key=identity_provider.token("user-bob"),
                         max_retries=0, timeout=30)


def test_bob_cannot_read_continue_delete_or_reference_alices_response(alice: openai.OpenAI, bob: openai.OpenAI,
                                                                      sim: VertexSimulator) -> None:
    sim.script({"text": "Alice's secret answer."})
    mine = alice.responses.create(model=MODEL, input="my secret")
    item_id = mine.output[0].id
    calls = len(sim.requests())

    for attempt in (lambda: bob.responses.retrieve(mine.id),
                    lambda: bob.responses.input_items.list(mine.id),
                    lambda: bob.responses.delete(mine.id),
                    lambda: bob.responses.create(model=MODEL, input="more", previous_response_id=mine.id),
                    lambda: bob.responses.create(model=MODEL, input=[{"type": "item_reference", "id": item_id}])):
        with pytest.raises(openai.NotFoundError) as caught:
            attempt()
        assert caught.value.code == "not_found"

    assert len(sim.requests()) == calls  # nothing of Bob's went to Vertex
    assert alice.responses.retrieve(mine.id).output_text == "Alice's secret answer."


def test_a_stored_chain_survives_a_new_instance_and_is_a_session_branch(
        api: FunctionServer, start_function: Callable[..., FunctionServer], sim: VertexSimulator,
        firestore: str) -> None:
    sim.script({"text": "Nice to meet you, Ada."}, {"text": "Your name is Ada."}, {"text": "You are Ada."})
    first_client = openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused", max_retries=0, timeout=30)
    raw = first_client.responses.with_raw_response.create(model=MODEL, input="I am Ada.")
    first = raw.parse()
    session_id = raw.headers["X-Session-Id"]

    fresh = start_function()  # a new instance: nothing in memory
    other = openai.OpenAI(base_url=f"{fresh.url}/v1", api_key="unused", max_retries=0, timeout=30)
    second = other.responses.create(model=MODEL, input="What is my name?", previous_response_id=first.id)
    # A second continuation of the first response branches the session.
    third = other.responses.create(model=MODEL, input="Who am I?", previous_response_id=first.id)

    assert (second.output_text, third.output_text) == ("Your name is Ada.", "You are Ada.")
    _, second_body, third_body = generated(sim)
    assert second_body["messages"] == [{"role": "user", "content": text("I am Ada.")},
                                       {"role": "assistant", "content": text("Nice to meet you, Ada.")},
                                       {"role": "user", "content": text("What is my name?")}]
    assert third_body["messages"][2] == {"role": "user", "content": text("Who am I?")}
    messages = requests.get(f"{fresh.url}/v1/sessions/{session_id}/messages", timeout=10).json()["data"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "I am Ada."), ("assistant", "Nice to meet you, Ada."), ("user", "What is my name?"),
        ("assistant", "Your name is Ada."), ("user", "Who am I?"), ("assistant", "You are Ada.")]
    assert messages[4]["parent_seq"] == messages[1]["seq"]  # the branch starts after the first reply
    assert other.responses.retrieve(first.id).output_text == "Nice to meet you, Ada."


def test_conversation_continues_a_vertexchat_session(api: FunctionServer, sim: VertexSimulator,
                                                     firestore: str) -> None:
    session_id = requests.post(f"{api.url}/v1/sessions", json={"title": "t"}, timeout=10).json()["id"]
    sim.script({"text": "Noted: blue."}, {"text": "Blue."})
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused", max_retries=0, timeout=30)

    client.responses.create(model=MODEL, input="My colour is blue.", extra_body={"conversation": session_id})
    answer = client.responses.create(model=MODEL, input="My colour?", extra_body={"conversation": session_id})

    assert answer.output_text == "Blue."
    assert generated(sim)[-1]["messages"][:2] == [{"role": "user", "content": text("My colour is blue.")},
                                                  {"role": "assistant", "content": text("Noted: blue.")}]


def test_delete_removes_the_response_and_its_items(api: FunctionServer, sim: VertexSimulator, firestore: str) -> None:
    sim.script({"text": "To be deleted."})
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused", max_retries=0, timeout=30)
    response = client.responses.create(model=MODEL, input=[{"role": "user", "content": "hi", "id": None}])
    [listed] = client.responses.input_items.list(response.id).data

    deleted = requests.delete(f"{api.url}/v1/responses/{response.id}", timeout=10)

    assert deleted.json() == {"id": response.id, "object": "response.deleted", "deleted": True}
    for item_id in (response.output[0].id, listed.id):
        with pytest.raises(openai.NotFoundError) as caught:
            client.responses.create(model=MODEL, input=[{"type": "item_reference", "id": item_id}])
        assert caught.value.param == "input[0].id"  # type: ignore[attr-defined]


def sse_events(response: requests.Response) -> list[dict[str, Any]]:
    events = []
    for block in response.text.split("\n\n"):
        data = [line[6:] for line in block.splitlines() if line.startswith("data: ")]
        if data:
            events.append(json.loads(data[0]))
    return events


def test_a_failure_mid_stream_is_an_error_event_then_response_failed(api: FunctionServer, sim: VertexSimulator,
                                                                     firestore: str) -> None:
    sim.script({"text": "This will break partway through.", "error_after": 3})

    response = requests.post(f"{api.url}/v1/responses", json={"model": MODEL, "input": "go", "stream": True},
                             timeout=30)

    assert response.status_code == 200
    events = sse_events(response)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1]["response"]["status"] == "failed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    stored = requests.get(f"{api.url}/v1/responses/{events[0]['response']['id']}", timeout=10).json()
    assert stored["status"] == "failed"


def test_a_client_that_leaves_closes_the_upstream_and_the_response_is_stored_incomplete(
        api: FunctionServer, sim: VertexSimulator, firestore: str) -> None:
    sim.script({"content": [{"type": "text", "text": "tok " * 200}], "stop_reason": "end_turn", "interval_ms": 50})
    payload = json.dumps({"model": MODEL, "input": "long story", "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=10)
    sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    received = b""
    while b"response.output_text.delta" not in received:
        received += sock.recv(4096)
    sock.close()
    hung_up = time.time()
    response_id = re.search(rb'"id":"(resp_[0-9a-f]+)"', received).group(1).decode()  # type: ignore[union-attr]

    deadline = time.monotonic() + 5
    while not (generated_records := [r for r in sim.requests() if r.get("closed_early")]):
        assert time.monotonic() < deadline, sim.requests()
        time.sleep(0.05)
    assert generated_records[-1]["finished_at"] - hung_up < 1.0
    deadline = time.monotonic() + 5
    while (stored := requests.get(f"{api.url}/v1/responses/{response_id}", timeout=10)).status_code == 404:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    body = stored.json()
    assert (body["status"], body["incomplete_details"]) == ("incomplete", {"reason": "interrupted"})
    assert body["output"][0]["content"][0]["text"].startswith("tok ")


def test_a_large_image_input_is_stored_whole_and_sent_again_on_continuation(api: FunctionServer,
                                                                           sim: VertexSimulator,
                                                                           firestore: str) -> None:
    data = base64.b64encode(bytes(range(256)) * 5000).decode()  # 1.7 MB of base64: over a Firestore document
    image = {"type": "input_image", "image_url": f"data:image/png;base64,{data}"}
    sim.script({"text": "A test pattern."}, {"text": "Yes, still it."})
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused", max_retries=0, timeout=60)

    first = client.responses.create(model=MODEL, input=[{"role": "user", "content": [image]}])
    listed = client.responses.input_items.list(first.id)
    second = client.responses.create(model=MODEL, input="Same picture?", previous_response_id=first.id)

    assert listed.data[0].content[0].image_url == image["image_url"]  # type: ignore[union-attr]
    assert second.output_text == "Yes, still it."
    sent = generated(sim)[-1]["messages"][0]["content"][0]
    assert sent == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    chunks = (f"http://{firestore}/v1/projects/{PROJECT}/databases/(default)/documents/responses/{first.id}/"
              "chunks")
    assert len(requests.get(chunks, timeout=10).json()["documents"]) >= 2  # the input did not fit inline
    assert requests.delete(f"{api.url}/v1/responses/{first.id}", timeout=30).status_code == 200
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    assert requests.get(chunks, timeout=10).json().get("documents", []) == []


def test_a_response_whose_session_was_deleted_cannot_be_continued(api: FunctionServer, sim: VertexSimulator,
                                                                  firestore: str) -> None:
    sim.script({"text": "Soon forgotten."})
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused", max_retries=0, timeout=30)
    raw = client.responses.with_raw_response.create(model=MODEL, input="remember")
    assert requests.delete(f"{api.url}/v1/sessions/{raw.headers['X-Session-Id']}", timeout=10).status_code == 200

    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model=MODEL, input="again", previous_response_id=raw.parse().id)

    assert caught.value.param == "previous_response_id"  # type: ignore[attr-defined]
    assert len(generated(sim)) == 1
