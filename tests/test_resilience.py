"""The upstream policy with a fake clock: retries, failover order, deadlines and the circuit breaker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vertexchat.errors import (
    APIError,
    CredentialsError,
    InvalidRequestError,
    OverloadedError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
)
from vertexchat.resilience import Attempts, Breakers, Policy, call_with_failover


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def script(*outcomes: APIError | str) -> tuple[Callable[[str], str], list[str]]:
    """An attempt function that plays ``outcomes`` in order and records the regions it was called for."""
    calls: list[str] = []
    queue = list(outcomes)

    def attempt(region: str) -> str:
        calls.append(region)
        outcome = queue.pop(0)
        if isinstance(outcome, APIError):
            raise outcome
        return outcome

    return attempt, calls


def run(attempt: Callable[[str], str], policy: Policy, clock: Clock, breakers: Breakers | None = None,
        record: Attempts | None = None) -> str:
    return call_with_failover(attempt, model="m", policy=policy, breakers=breakers or Breakers(policy, clock),
                              record=record or Attempts(), clock=clock, sleep=clock.sleep)


def rate_limited(retry_after: float | None = None) -> RateLimitError:
    return RateLimitError("quota", retry_after=retry_after or 5, upstream_retry_after=retry_after)


def test_a_429_then_success_is_retried_in_the_same_single_region() -> None:
    clock = Clock()
    attempt, calls = script(rate_limited(), "ok")
    assert run(attempt, Policy(regions=("us-east5",)), clock) == "ok"
    assert calls == ["us-east5", "us-east5"]
    assert len(clock.slept) == 1
    assert 0 < clock.slept[0] <= 0.25


def test_retry_after_is_honoured() -> None:
    clock = Clock()
    attempt, _ = script(rate_limited(retry_after=3), "ok")
    run(attempt, Policy(regions=("r",)), clock)
    assert clock.slept == [3]


def test_a_wait_past_the_deadline_returns_the_error_at_once() -> None:
    clock = Clock()
    attempt, calls = script(rate_limited(retry_after=60), "never")
    with pytest.raises(RateLimitError) as caught:
        run(attempt, Policy(regions=("r",), deadline=30), clock)
    assert calls == ["r"]
    assert clock.slept == []
    assert caught.value.retry_after == 60


def test_failover_goes_to_the_next_region_without_waiting() -> None:
    clock = Clock()
    record = Attempts()
    attempt, calls = script(rate_limited(retry_after=10), "ok")
    assert run(attempt, Policy(regions=("us-east5", "europe-west1")), clock, record=record) == "ok"
    assert calls == ["us-east5", "europe-west1"]
    assert clock.slept == []
    assert record.regions == ["us-east5", "europe-west1"]
    assert record.errors == ["RateLimitError"]


def test_429_everywhere_ends_with_the_last_429() -> None:
    clock = Clock()
    attempt, calls = script(*[rate_limited(retry_after=60)] * 4)
    with pytest.raises(RateLimitError):
        run(attempt, Policy(regions=("a", "b")), clock)
    assert calls == ["a", "b"]


@pytest.mark.parametrize("error", [InvalidRequestError("bad"), CredentialsError("no token"),
                                   APIError("bug")])
def test_errors_that_cannot_improve_are_not_retried(error: APIError) -> None:
    attempt, calls = script(error, "ok")
    with pytest.raises(type(error)):
        run(attempt, Policy(regions=("a", "b")), Clock())
    assert calls == ["a"]


@pytest.mark.parametrize("error", [OverloadedError("529"), UpstreamError("500"), UpstreamError("reset")])
def test_overload_and_server_errors_are_retried(error: APIError) -> None:
    attempt, calls = script(error, "ok")
    assert run(attempt, Policy(regions=("a",)), Clock()) == "ok"
    assert calls == ["a", "a"]


def test_attempts_are_bounded() -> None:
    attempt, calls = script(*[UpstreamError("x")] * 10)
    with pytest.raises(UpstreamError):
        run(attempt, Policy(regions=("a",), max_attempts=3, deadline=1000), Clock())
    assert len(calls) == 3


def test_breaker_opens_then_skips_the_region_then_probes_after_cooldown() -> None:
    clock = Clock()
    policy = Policy(regions=("a", "b"), breaker_failures=2, breaker_window=60, breaker_cooldown=30, max_attempts=2)
    breakers = Breakers(policy, clock)
    for _ in range(2):
        attempt, _ = script(UpstreamError("a down"), "ok from b")
        assert run(attempt, policy, clock, breakers) == "ok from b"
    assert [(c["region"], c["state"]) for c in breakers.snapshot()] == [("a", "open")]

    attempt, calls = script("ok")
    assert run(attempt, policy, clock, breakers) == "ok"
    assert calls == ["b"], "an open circuit is skipped without waiting"

    clock.now += 31
    attempt, calls = script("probe ok")
    assert run(attempt, policy, clock, breakers) == "probe ok"
    assert calls == ["a"], "after the cooldown one probe goes to the recovered region"
    assert breakers.snapshot() == []


def test_all_circuits_open_fails_fast_with_503_and_retry_after() -> None:
    clock = Clock()
    policy = Policy(regions=("a",), breaker_failures=1, breaker_cooldown=20, max_attempts=1)
    breakers = Breakers(policy, clock)
    with pytest.raises(UpstreamError):
        run(script(UpstreamError("down"))[0], policy, clock, breakers)
    clock.now += 5

    attempt, calls = script("never")
    with pytest.raises(ServiceUnavailableError) as caught:
        run(attempt, policy, clock, breakers)
    assert calls == []
    assert caught.value.code == "circuit_open"
    assert caught.value.headers()["Retry-After"] == "15"


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = Clock()
    policy = Policy(regions=("a",), breaker_failures=1, breaker_cooldown=10)
    breakers = Breakers(policy, clock)
    breakers.failure("a", "m")
    clock.now += 11
    assert breakers.acquire("a", "m") == "probe"
    assert breakers.acquire("a", "m") is None
    breakers.failure("a", "m")
    assert [c["state"] for c in breakers.snapshot()] == ["open"]


def test_failures_outside_the_window_do_not_count() -> None:
    clock = Clock()
    policy = Policy(regions=("a",), breaker_failures=2, breaker_window=10)
    breakers = Breakers(policy, clock)
    breakers.failure("a", "m")
    clock.now += 11
    breakers.failure("a", "m")
    assert [c["state"] for c in breakers.snapshot()] == ["closed"]


def test_a_probe_that_ends_in_a_bug_frees_its_slot_and_only_its_own() -> None:
    clock = Clock()
    policy = Policy(regions=("a",), breaker_failures=1, breaker_cooldown=10, max_attempts=1)
    breakers = Breakers(policy, clock)
    breakers.failure("a", "m")
    clock.now += 11

    def broken(region: str) -> str:
        raise RuntimeError("can't start new thread")

    with pytest.raises(RuntimeError):
        run(broken, policy, clock, breakers)
    assert breakers.acquire("a", "m") == "probe", "the slot of a probe that died without a verdict is free again"


def test_429s_never_open_a_circuit_however_many() -> None:
    clock = Clock()
    policy = Policy(regions=("a", "b"), breaker_failures=2, max_attempts=4, deadline=1000)
    breakers = Breakers(policy, clock)
    for _ in range(5):
        attempt, _ = script(*[rate_limited(retry_after=1)] * 4)
        with pytest.raises(RateLimitError):
            run(attempt, policy, clock, breakers)
    assert breakers.snapshot() == []
    attempt, calls = script("ok")
    assert run(attempt, policy, clock, breakers) == "ok"
    assert calls == ["a"]


def test_outages_count_once_per_request_not_per_attempt() -> None:
    clock = Clock()
    policy = Policy(regions=("a",), breaker_failures=2, max_attempts=4, deadline=1000)
    breakers = Breakers(policy, clock)
    attempt, calls = script(*[UpstreamError("down")] * 4)
    with pytest.raises(UpstreamError):
        run(attempt, policy, clock, breakers)
    assert len(calls) == 4
    assert [(c["state"], c["recent_failures"]) for c in breakers.snapshot()] == [("closed", 1)]

    attempt, calls = script(UpstreamError("down"), "never")
    with pytest.raises(UpstreamError):
        run(attempt, policy, clock, breakers)
    assert calls == ["a"], "the second request's failure opened the circuit; its retry had nowhere to go"
    assert [c["state"] for c in breakers.snapshot()] == ["open"]


@pytest.mark.parametrize(("asked", "open_for"), [(2.0, 2.0), (None, 30.0), (600.0, 30.0), (0.0, 1.0)])
def test_an_open_circuit_waits_what_the_upstream_asked_within_the_cooldown(asked: float | None,
                                                                          open_for: float) -> None:
    clock = Clock()
    policy = Policy(regions=("a",), breaker_failures=1, breaker_cooldown=30, max_attempts=1)
    breakers = Breakers(policy, clock)
    with pytest.raises(OverloadedError):
        run(script(OverloadedError("busy", upstream_retry_after=asked))[0], policy, clock, breakers)

    assert breakers.retry_after("m", ("a",)) == open_for
    clock.now += open_for - 0.01
    assert breakers.acquire("a", "m") is None
    clock.now += 0.02
    assert breakers.acquire("a", "m") == "probe"


def test_a_probe_answered_with_429_closes_the_circuit() -> None:
    clock = Clock()
    policy = Policy(regions=("a",), breaker_failures=1, breaker_cooldown=10, max_attempts=1)
    breakers = Breakers(policy, clock)
    breakers.failure("a", "m")
    clock.now += 11
    with pytest.raises(RateLimitError):
        run(script(rate_limited())[0], policy, clock, breakers)
    assert breakers.snapshot() == []
