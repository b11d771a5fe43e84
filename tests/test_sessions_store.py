"""The Firestore session store against the official emulator: ownership, paging, chunking,
concurrency, exactly-once turns, retention and idempotency records."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore as gfs

from local import procs
from tests.harness import PROJECT
from vertexchat import config
from vertexchat.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from vertexchat.sessions.ids import canonical_session_id
from vertexchat.sessions.store import SessionStore, Usage

ALICE, BOB = "user-alice", "user-bob"
U1 = {"role": "user", "content": "Hello"}
A1 = {"role": "assistant", "content": "Hi! How can I help?"}
U2 = {"role": "user", "content": "Tell me a joke."}


@pytest.fixture
def raw(session_store: SessionStore) -> gfs.Client:
    """A plain Firestore client on the same emulator, to look behind the store's back."""
    return gfs.Client(project=PROJECT)


def new_session(store: SessionStore, owner: str = ALICE) -> str:
    return store.create_session(owner, title="t").id


def big_image_message(megabytes: float) -> dict[str, Any]:
    payload = base64.b64encode(bytes(range(256)) * int(megabytes * 1024 * 1024 / 256 * 3 / 4)).decode()
    return {"role": "user", "content": [
        {"type": "text", "text": "What is in these pictures? ✓ 日本語"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{payload}", "detail": "high"}},
    ]}


def test_sessions_get_server_made_uuid4_ids(session_store: SessionStore) -> None:
    session = session_store.create_session(ALICE, title="Plans", model="claude-sonnet-4-5",
                                           metadata={"project": "atoms"})
    assert uuid.UUID(session.id).version == 4
    again = session_store.get_session(session.id, ALICE)
    assert (again.title, again.model, again.metadata, again.message_count) == ("Plans", "claude-sonnet-4-5",
                                                                               {"project": "atoms"}, 0)
    assert again.expire_at is not None
    assert again.expire_at > datetime.now(UTC) + timedelta(days=29)


def test_another_owner_cannot_see_or_touch_a_session(session_store: SessionStore) -> None:
    session_id = new_session(session_store)
    session_store.append(session_id, ALICE, [U1], request_id="r1")
    attempts: list[Callable[[], object]] = [
        lambda: session_store.get_session(session_id, BOB),
        lambda: session_store.history(session_id, BOB),
        lambda: session_store.append(session_id, BOB, [U2], request_id="r2"),
        lambda: session_store.record_conversation(session_id, BOB, [U1, U2], request_id="r2"),
        lambda: session_store.list_messages(session_id, BOB),
        lambda: session_store.update_session(session_id, BOB, title="mine now"),
        lambda: session_store.delete_session(session_id, BOB),
        lambda: session_store.open_turn(session_id, BOB),
    ]
    for attempt in attempts:
        with pytest.raises(NotFoundError) as caught:
            attempt()
        assert caught.value.message == f"No session {session_id}."
    assert session_store.list_sessions(BOB).data == []
    assert session_store.history(session_id, ALICE) == [U1]
    assert session_store.get_session(session_id, ALICE).title == "t"


def test_open_turn_creates_for_the_caller_and_keeps_the_legacy_id(session_store: SessionStore) -> None:
    session_id, legacy = canonical_session_id("session-1762333076184-ez9oxt7qt5r", "session_id")
    first = session_store.open_turn(session_id, ALICE, legacy_id=legacy, model="claude-sonnet-4-5")
    second = session_store.open_turn(session_id, ALICE, legacy_id=legacy)
    assert (first.created, second.created) == (True, False)
    session = session_store.get_session(session_id, ALICE)
    assert (session.legacy_id, session.model) == (legacy, "claude-sonnet-4-5")
    with pytest.raises(NotFoundError):
        session_store.open_turn(session_id, BOB, legacy_id=legacy)
    with pytest.raises(NotFoundError):
        session_store.open_turn(str(uuid.uuid4()), ALICE, create_if_missing=False)


def test_session_listing_is_newest_first_with_cursor_pages(session_store: SessionStore) -> None:
    ids = [new_session(session_store) for _ in range(5)]
    new_session(session_store, BOB)
    pages, after = [], None
    while True:
        page = session_store.list_sessions(ALICE, limit=2, after=after)
        pages.append([s.id for s in page.data])
        if not page.has_more:
            assert page.next_cursor is None
            break
        after = page.next_cursor
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]
    # Activity moves a session to the front.
    session_store.append(ids[0], ALICE, [U1], request_id="r")
    assert session_store.list_sessions(ALICE, limit=1).data[0].id == ids[0]
    assert session_store.count_sessions(ALICE) == 5


@pytest.mark.parametrize("cursor", ["nope", "bm9wZQ", base64.urlsafe_b64encode(b'[1, "x"]').decode(), "W10"])
def test_a_malformed_cursor_is_a_400_naming_after(session_store: SessionStore, cursor: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        session_store.list_sessions(ALICE, after=cursor)
    assert caught.value.param == "after"


def test_message_listing_pages_in_seq_order(session_store: SessionStore) -> None:
    session_id = new_session(session_store)
    sent = [{"role": "user", "content": f"m{i}"} for i in range(5)]
    assert session_store.append(session_id, ALICE, sent, request_id="r") == [0, 1, 2, 3, 4]
    seen, after = [], None
    while True:
        page = session_store.list_messages(session_id, ALICE, limit=2, after=after)
        seen.extend((m.seq, m.id, m.message["content"]) for m in page.data)
        if not page.has_more:
            break
        after = page.next_cursor
    assert seen == [(i, f"{i:012d}", f"m{i}") for i in range(5)]


def test_a_message_over_one_mebibyte_round_trips_identically(session_store: SessionStore, raw: gfs.Client) -> None:
    session_id = new_session(session_store)
    big = big_image_message(3)
    reply = {"role": "assistant", "content": "Two cats.", "reasoning_content": "Looking closely.",
             "thinking_blocks": [{"type": "thinking", "thinking": "cats", "signature": "c2ln" * 100}]}
    session_store.append(session_id, ALICE, [big], request_id="r1")
    session_store.append(session_id, ALICE, [reply], request_id="r1", model="claude-sonnet-4-5",
                         finish_reason="stop", usage=Usage(input=1200, output=30, cache_read=5))

    assert session_store.history(session_id, ALICE) == [big, reply]
    stored = session_store.list_messages(session_id, ALICE).data
    assert stored[0].message == big
    assert stored[1].usage == Usage(input=1200, output=30, cache_read=5)
    doc = raw.document(f"sessions/{session_id}/messages/000000000000").get().to_dict() or {}
    assert "body" not in doc
    assert doc["chunks"]["count"] >= 2
    session = session_store.get_session(session_id, ALICE)
    assert (session.message_count, session.usage.input, session.model) == (2, 1200, "claude-sonnet-4-5")


def test_one_append_larger_than_a_firestore_request_is_split_across_commits(session_store: SessionStore) -> None:
    session_id = new_session(session_store)
    sent = [big_image_message(4), {"role": "assistant", "content": "ok"}, big_image_message(4),
            big_image_message(4)]
    assert session_store.append(session_id, ALICE, sent, request_id="r") == [0, 1, 2, 3]
    assert session_store.history(session_id, ALICE) == sent


def test_delete_removes_the_session_its_messages_and_chunks(session_store: SessionStore, raw: gfs.Client) -> None:
    session_id = new_session(session_store)
    session_store.append(session_id, ALICE, [big_image_message(1.5), A1], request_id="r")
    session_ref = raw.document(f"sessions/{session_id}")
    assert list(session_ref.collection("chunks").stream())

    session_store.delete_session(session_id, ALICE)

    assert not session_ref.get().exists
    assert list(session_ref.collection("messages").stream()) == []
    assert list(session_ref.collection("chunks").stream()) == []
    with pytest.raises(NotFoundError):
        session_store.get_session(session_id, ALICE)
    with pytest.raises(NotFoundError):
        session_store.delete_session(session_id, ALICE)


def test_concurrent_appends_get_unique_gapless_seqs(session_store: SessionStore) -> None:
    session_id = new_session(session_store)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def append(i: int) -> None:
        try:
            results.append(session_store.append(session_id, ALICE, [{"role": "user", "content": f"n{i}"}],
                                                request_id=f"r{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(seq for seqs in results for seq in seqs) == list(range(20))
    contents = [m["content"] for m in session_store.history(session_id, ALICE)]
    assert sorted(contents) == sorted(f"n{i}" for i in range(20))
    assert session_store.get_session(session_id, ALICE).message_count == 20


def test_a_resent_conversation_is_stored_once(session_store: SessionStore) -> None:
    session_id = new_session(session_store)
    turn1 = session_store.record_conversation(session_id, ALICE, [U1], request_id="r1")
    reply = session_store.append(session_id, ALICE, [A1], request_id="r1", parent_seq=turn1.head_seq)
    echoed = {**A1, "refusal": None, "tool_calls": None}
    turn2 = session_store.record_conversation(session_id, ALICE, [U1, echoed, U2], request_id="r2")
    again = session_store.record_conversation(session_id, ALICE, [U1, echoed, U2], request_id="r3")

    assert (turn1.appended, reply, turn2.appended) == ([0], [1], [2])
    assert (again.appended, again.head_seq, again.diverged_at) == ([], 2, None)
    assert session_store.history(session_id, ALICE) == [U1, A1, U2]


def test_concurrent_identical_turns_store_their_messages_once(session_store: SessionStore) -> None:
    session_id = new_session(session_store)
    session_store.append(session_id, ALICE, [U1, A1], request_id="r0")
    syncs = []
    threads = [threading.Thread(target=lambda: syncs.append(session_store.record_conversation(
        session_id, ALICE, [U1, A1, U2], request_id="r1"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(s.appended) for s in syncs) == [0] * 7 + [1]
    assert {s.head_seq for s in syncs} == {2}
    assert session_store.history(session_id, ALICE) == [U1, A1, U2]


def test_a_divergent_conversation_becomes_a_branch_and_keeps_the_old_one(session_store: SessionStore) -> None:
    session_id = new_session(session_store)
    session_store.append(session_id, ALICE, [U1, A1, U2], request_id="r0")
    edited = {"role": "user", "content": "Tell me a poem."}

    sync = session_store.record_conversation(session_id, ALICE, [U1, A1, edited], request_id="r1")
    session_store.append(session_id, ALICE, [A1], request_id="r1", parent_seq=sync.head_seq)
    regenerate = session_store.record_conversation(session_id, ALICE, [U1], request_id="r2")

    assert (sync.appended, sync.diverged_at) == ([3], 2)
    assert (regenerate.appended, regenerate.head_seq, regenerate.diverged_at) == ([], 0, 1)
    assert session_store.history(session_id, ALICE) == [U1]
    every = session_store.list_messages(session_id, ALICE).data
    assert [(m.seq, m.parent_seq) for m in every] == [(0, None), (1, 0), (2, 1), (3, 1), (4, 3)]


def test_expired_sessions_and_messages_are_invisible(session_store: SessionStore, raw: gfs.Client) -> None:
    kept, expired = new_session(session_store), new_session(session_store)
    session_store.append(kept, ALICE, [U1, A1], request_id="r")
    past = datetime.now(UTC) - timedelta(seconds=1)
    raw.document(f"sessions/{expired}").update({"expire_at": past})
    raw.document(f"sessions/{kept}/messages/000000000001").update({"expire_at": past})

    with pytest.raises(NotFoundError):
        session_store.get_session(expired, ALICE)
    assert [s.id for s in session_store.list_sessions(ALICE).data] == [kept]
    assert session_store.count_sessions(ALICE) == 1
    assert [m.seq for m in session_store.list_messages(kept, ALICE).data] == [0]


def test_activity_past_the_stamp_restamps_every_message(session_store: SessionStore, raw: gfs.Client) -> None:
    session_id = new_session(session_store)
    session_store.append(session_id, ALICE, [U1], request_id="r")
    soon = datetime.now(UTC) + timedelta(days=1)
    raw.document(f"sessions/{session_id}").update({"transcript_expire_at": soon})
    raw.document(f"sessions/{session_id}/messages/000000000000").update({"expire_at": soon})

    session_store.append(session_id, ALICE, [A1], request_id="r")

    session = raw.document(f"sessions/{session_id}").get().to_dict() or {}
    stamps = [m.to_dict()["expire_at"] for m in raw.collection(f"sessions/{session_id}/messages").stream()]
    assert all(stamp >= session["expire_at"] for stamp in stamps)
    assert all(stamp == session["transcript_expire_at"] for stamp in stamps)


def test_ttl_zero_keeps_sessions_forever(firestore: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore)
    store = SessionStore(config.load({"GOOGLE_CLOUD_PROJECT": PROJECT, "SESSION_TTL_DAYS": "0"}))
    session_id = new_session(store)
    store.append(session_id, ALICE, [U1], request_id="r")
    assert store.get_session(session_id, ALICE).expire_at is None


def test_unreachable_firestore_is_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{procs.free_port()}")
    store = SessionStore(config.load({"GOOGLE_CLOUD_PROJECT": PROJECT, "FIRESTORE_TIMEOUT_SECONDS": "1"}))
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError) as caught:
        store.get_session(str(uuid.uuid4()), ALICE)
    assert time.monotonic() - started < 5
    assert caught.value.status == 503
    assert caught.value.code == "storage_unavailable"
    assert caught.value.retry_after
    with pytest.raises(ServiceUnavailableError):
        store.ping("instance-1")


def test_ping_writes_and_reads_back(session_store: SessionStore, raw: gfs.Client) -> None:
    session_store.ping("instance-1")
    assert raw.document("health/instance-1").get().exists


def test_idempotency_claims(session_store: SessionStore) -> None:
    first = session_store.claim_idempotency(ALICE, "key-1", "hash-a")
    assert first.state == "new"
    assert first.token
    busy = session_store.claim_idempotency(ALICE, "key-1", "hash-a")
    assert busy.state == "in_progress"
    assert busy.retry_after
    assert session_store.claim_idempotency(ALICE, "key-1", "hash-b").state == "mismatch"
    assert session_store.claim_idempotency(BOB, "key-1", "hash-b").state == "new"

    assert session_store.complete_idempotency(ALICE, "key-1", first.token, {"session_id": "s", "seq": 3})
    done = session_store.claim_idempotency(ALICE, "key-1", "hash-a")
    assert (done.state, done.result) == ("done", {"session_id": "s", "seq": 3})
    assert not session_store.complete_idempotency(ALICE, "key-1", "stale-token", {"x": 1})


def test_a_released_or_abandoned_claim_can_be_taken_again(session_store: SessionStore) -> None:
    first = session_store.claim_idempotency(ALICE, "key-2", "h")
    assert first.token
    session_store.release_idempotency(ALICE, "key-2", first.token)
    second = session_store.claim_idempotency(ALICE, "key-2", "h", lease=timedelta(milliseconds=1))
    time.sleep(0.05)
    third = session_store.claim_idempotency(ALICE, "key-2", "h")
    assert second.state == third.state == "new"
    assert second.token != third.token
    assert second.token
    assert not session_store.complete_idempotency(ALICE, "key-2", second.token, {})


def test_a_bad_idempotency_key_is_a_400(session_store: SessionStore) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        session_store.claim_idempotency(ALICE, "bad\nkey", "h")
    assert caught.value.param == "Idempotency-Key"


def test_messages_left_behind_by_ttl_never_surface_in_a_new_session(session_store: SessionStore) -> None:
    """TTL deletes a session document lazily and without its subcollections; a reused id starts clean."""
    session_id = str(uuid.uuid4())
    session_store.open_turn(session_id, "alice")
    session_store.append(session_id, "alice", [{"role": "user", "content": "alice's secret"}], request_id="r1")
    db = gfs.Client(project=PROJECT)
    db.collection("sessions").document(session_id).delete()  # what the TTL policy does to the session alone

    session_store.open_turn(session_id, "bob")
    assert session_store.history(session_id, "bob") == []
    assert session_store.append(session_id, "bob", [{"role": "user", "content": "hi"}], request_id="r2") == [0]
