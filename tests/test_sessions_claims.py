"""The Idempotency-Key decision as a pure function: every state of the record, no Firestore."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from vertexchat.sessions.claims import Claim, Verdict, decide

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def record(**fields: object) -> dict[str, object]:
    return {"token": "theirs", "body_hash": "h1", "state": "in_progress", "lease_until": LATER, "expire_at": LATER,
            "result": None, **fields}


def test_no_record_is_created_and_held() -> None:
    assert decide(None, token="mine", body_hash="h1", now=NOW) == Verdict(Claim("new", token="mine"), "create")


def test_our_own_token_is_ours_without_another_write() -> None:
    assert decide(record(token="mine"), token="mine", body_hash="h1", now=NOW) == Verdict(Claim("new", token="mine"))


def test_a_different_body_is_a_mismatch() -> None:
    assert decide(record(), token="mine", body_hash="h2", now=NOW).claim.state == "mismatch"


def test_a_finished_request_is_replayed() -> None:
    done = record(state="done", result=json.dumps({"completion": {"id": "x"}}), lease_until=None)
    verdict = decide(done, token="mine", body_hash="h1", now=NOW)
    assert verdict == Verdict(Claim("done", result={"completion": {"id": "x"}}))


def test_a_running_request_answers_in_progress_with_a_bounded_wait() -> None:
    soon = decide(record(lease_until=NOW + timedelta(seconds=0.2)), token="mine", body_hash="h1", now=NOW)
    late = decide(record(lease_until=NOW + timedelta(minutes=9)), token="mine", body_hash="h1", now=NOW)
    assert (soon.claim.state, soon.claim.retry_after, soon.write) == ("in_progress", 1.0, None)
    assert late.claim.retry_after == 5.0


def test_a_lapsed_lease_is_taken_over_and_an_expired_record_replaced() -> None:
    lapsed = decide(record(lease_until=NOW - timedelta(seconds=1)), token="mine", body_hash="h1", now=NOW)
    expired = decide(record(expire_at=NOW, body_hash="other"), token="mine", body_hash="h1", now=NOW)
    assert lapsed == Verdict(Claim("new", token="mine"), "take_over")
    assert expired == Verdict(Claim("new", token="mine"), "replace")
