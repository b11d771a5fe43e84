"""The upstream policy, in one place: retries, region failover and circuit breaking.

Before the first byte reaches the client, a failed Vertex call is retried when the failure
is worth retrying: 429 (quota), 529/503 (overloaded), 500/502, 504 and connection errors.
Each retry goes to the next location in ``[CLOUD_ML_REGION, *VERTEX_FALLBACK_REGIONS]``,
because Vertex quotas are per location. Waits are jittered exponential backoff, never shorter
than the upstream's ``Retry-After``, and all attempts together stay inside
``UPSTREAM_DEADLINE_SECONDS``; when the next wait would cross it, the last error is returned
to the client (with its ``Retry-After``). The SDK's own retries are off, so attempts never
multiply. Once streaming has begun there are no retries: errors go in-band (relay.py).

A circuit breaker per (location, model) opens only on outages: 5xx answers (overloaded
included), connection failures and timeouts. A 429 is a quota answer from a location that
works: it is retried and failed over like the rest, but it never counts against a circuit
(it proves the location answers), so one client's burst can never turn into 503s for
everyone else. Failures count per request, not per attempt: a circuit opens once
``BREAKER_FAILURES`` different requests failed on it within ``BREAKER_WINDOW_SECONDS``.
While open, that location is skipped, and with no location left the request fails fast
with 503 ``circuit_open`` and ``Retry-After``. It stays open for what the upstream asked in
its last ``Retry-After`` (at least 1 s), or ``BREAKER_COOLDOWN_SECONDS`` when it asked
nothing, whichever is shorter; then one probe request is let through (half-open): an answer
closes the breaker, another outage opens it again. Breakers are per instance; their state is
in the health report.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vertexchat.errors import (
    APIError,
    GatewayTimeoutError,
    OverloadedError,
    RateLimitError,
    ServiceUnavailableError,
    UpstreamError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE: tuple[type[APIError], ...] = (RateLimitError, OverloadedError, UpstreamError, GatewayTimeoutError)
# A circuit opens only on outages; RateLimitError (429) is retryable but never one of them.
OUTAGES: tuple[type[APIError], ...] = (OverloadedError, UpstreamError, GatewayTimeoutError)
# The shortest an open circuit stays open, whatever the upstream asked (Retry-After: 0).
_MIN_OPEN_SECONDS = 1.0


def retryable(error: APIError) -> bool:
    """Whether another attempt (maybe elsewhere) could succeed. Our own credentials never improve."""
    return isinstance(error, RETRYABLE) and error.code != "credentials_unavailable"


def outage(error: APIError) -> bool:
    """Whether ``error`` says the location is failing (5xx, unreachable, timeout), not just busy for us (429)."""
    return isinstance(error, OUTAGES) and retryable(error)


@dataclass(frozen=True, slots=True)
class Policy:
    """Retry and breaker settings (see config.py for the variables)."""

    regions: tuple[str, ...]
    max_attempts: int = 4
    deadline: float = 30.0
    base_delay: float = 0.25
    max_delay: float = 8.0
    breaker_failures: int = 5
    breaker_window: float = 60.0
    breaker_cooldown: float = 30.0


@dataclass
class Breaker:
    """One (location, model) circuit."""

    failures: list[float] = field(default_factory=list)
    opened_at: float | None = None
    # How long this opening lasts: what the upstream asked for, bounded by the configured cooldown.
    cooldown: float = 0.0
    probing: bool = False

    def state(self, now: float) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if now - self.opened_at >= self.cooldown else "open"

    def remaining(self, now: float) -> float:
        return 0.0 if self.opened_at is None else max(0.0, self.cooldown - (now - self.opened_at))


class Breakers:
    """Every breaker of this instance, thread-safe."""

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._circuits: dict[tuple[str, str], Breaker] = {}

    def acquire(self, region: str, model: str) -> str | None:
        """May a request go to ``region`` now? ``"pass"``, ``"probe"`` (the one half-open try) or None."""
        with self._lock:
            breaker = self._circuits.get((region, model))
            if breaker is None:
                return "pass"
            state = breaker.state(self._clock())
            if state == "closed":
                return "pass"
            if state == "half_open" and not breaker.probing:
                breaker.probing = True
                return "probe"
            return None

    def success(self, region: str, model: str) -> None:
        with self._lock:
            breaker = self._circuits.pop((region, model), None)
        if breaker is not None and breaker.opened_at is not None:
            log.info("circuit closed", extra={"fields": {"event": "breaker", "state": "closed", "region": region,
                                                         "model": model}})

    def failure(self, region: str, model: str, retry_after: float | None = None) -> None:
        """One request met an outage at ``region``; ``retry_after`` is what the upstream asked, if anything."""
        now = self._clock()
        with self._lock:
            breaker = self._circuits.setdefault((region, model), Breaker())
            window_start = now - self._policy.breaker_window
            breaker.failures = [t for t in breaker.failures if t >= window_start] + [now]
            reopen = breaker.probing or len(breaker.failures) >= self._policy.breaker_failures
            if not reopen:
                return
            cooldown = self._policy.breaker_cooldown
            if retry_after is not None:
                cooldown = min(cooldown, max(_MIN_OPEN_SECONDS, retry_after))
            breaker.opened_at, breaker.cooldown, breaker.probing = now, cooldown, False
        log.warning("circuit opened", extra={"fields": {"event": "breaker", "state": "open", "region": region,
                                                        "model": model, "open_seconds": cooldown}})

    def release_probe(self, region: str, model: str) -> None:
        """A probe that ended without a verdict (e.g. a caller error) frees the probe slot."""
        with self._lock:
            breaker = self._circuits.get((region, model))
            if breaker is not None:
                breaker.probing = False

    def retry_after(self, model: str, regions: tuple[str, ...]) -> float:
        """Seconds until the first of ``regions`` lets a probe through."""
        now = self._clock()
        with self._lock:
            waits = [b.remaining(now) for (region, m), b in self._circuits.items()
                     if m == model and region in regions and b.opened_at is not None]
        return min(waits, default=1.0) or 1.0

    def snapshot(self) -> list[dict[str, Any]]:
        """Non-closed circuits, for the health report."""
        now = self._clock()
        with self._lock:
            return [{"region": region, "model": model, "state": b.state(now),
                     "recent_failures": len(b.failures)}
                    for (region, model), b in sorted(self._circuits.items())]


@dataclass
class Attempts:
    """What happened, for the request's log line."""

    regions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def call_with_failover(
    attempt: Callable[[str], T],
    *,
    model: str,
    policy: Policy,
    breakers: Breakers,
    record: Attempts,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``attempt(region)`` under the policy; return its result or raise the error to show.

    Many parameters because ``clock`` and ``sleep`` are the tests' seams for time.
    """
    started = clock()
    error: APIError | None = None
    # region -> (when it failed, the wait it asked for): returning to a region honours its own Retry-After.
    failed: dict[str, tuple[float, float]] = {}
    # Regions this request has already counted an outage against: one request, one failure.
    counted: set[str] = set()
    for number in range(policy.max_attempts):
        chosen = _next_region(policy.regions, number, model, breakers)
        if chosen is None:
            # Every circuit is open. Within a request that just opened them, its own last error
            # says more than a generic 503.
            raise error if error is not None else _fail_fast(model, policy, breakers)
        region, ticket = chosen
        if error is not None:
            delay = _delay(policy, number, failed.get(region), clock())
            if clock() - started + delay > policy.deadline:
                _release(breakers, region, model, ticket)
                raise error
            if delay > 0:
                sleep(delay)
        record.regions.append(region)
        try:
            result = attempt(region)
        except APIError as exc:
            if not retryable(exc):
                _release(breakers, region, model, ticket)
                raise
            _verdict(breakers, region, model, exc, count=ticket == "probe" or region not in counted)
            counted.add(region)
            record.errors.append(type(exc).__name__)
            _log_attempt(number, region, model, exc)
            error = exc
            failed[region] = (clock(), float(exc.upstream_retry_after or 0.0))
            continue
        except BaseException:
            # Not the upstream's fault (a bug, no thread left...): no verdict, but never keep the probe.
            _release(breakers, region, model, ticket)
            raise
        breakers.success(region, model)
        return result
    assert error is not None
    raise error


def _next_region(regions: tuple[str, ...], number: int, model: str, breakers: Breakers) -> tuple[str, str] | None:
    for offset in range(len(regions)):
        region = regions[(number + offset) % len(regions)]
        ticket = breakers.acquire(region, model)
        if ticket is not None:
            return region, ticket
    return None


def _verdict(breakers: Breakers, region: str, model: str, error: APIError, *, count: bool) -> None:
    """What a retryable failure tells the region's breaker."""
    if not outage(error):
        # A 429 is an answer: the location works (a probe that gets one closes the circuit).
        breakers.success(region, model)
    elif count:
        breakers.failure(region, model, error.upstream_retry_after)


def _release(breakers: Breakers, region: str, model: str, ticket: str) -> None:
    if ticket == "probe":
        breakers.release_probe(region, model)


def _fail_fast(model: str, policy: Policy, breakers: Breakers) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"Claude ({model}) is failing in every configured Vertex AI location; requests are paused briefly.",
        code="circuit_open", retry_after=breakers.retry_after(model, policy.regions),
    )


def _delay(policy: Policy, number: int, failure: tuple[float, float] | None, now: float) -> float:
    """No wait to fail over to an untried location (it has its own quota); backoff to retry one."""
    if failure is None:
        return 0.0
    failed_at, asked = failure
    backoff = min(policy.max_delay, policy.base_delay * 2 ** max(0, number - 1)) * random.uniform(0.5, 1.0)  # noqa: S311
    return float(max(backoff, asked - (now - failed_at)))


def _log_attempt(number: int, region: str, model: str, error: APIError) -> None:
    log.warning("upstream attempt failed", extra={"fields": {
        "event": "retry", "attempt": number + 1, "region": region, "model": model,
        "error_class": type(error).__name__, "status": error.status}})
