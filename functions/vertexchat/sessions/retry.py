"""Optimistic concurrency for Firestore: read, decide, write conditionally; on a lost race, start over.

Every multi-step write of the sessions store works this way instead of in a transaction
(the emulator answers lock contention with 2-second timeouts): a write carries a
precondition (``create`` on a missing document, or ``last_update_time`` of the snapshot it
was planned from), and a writer that lost the race reads again and re-plans. One helper
runs that loop for every caller, with jittered backoff, and fails with the caller's
"busy" error when the document stays contended.

Tested in tests/test_sessions_store.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from google.api_core import exceptions as gexc

from vertexchat.errors import APIError

T = TypeVar("T")

# What Firestore answers a write whose precondition no longer holds.
LOST_RACE = (gexc.FailedPrecondition, gexc.Conflict, gexc.Aborted)


class Retry(Exception):
    """Raised by an attempt whose read is stale for a reason of its own: start over (with backoff)."""


def until_committed(attempt: Callable[[], T], *, attempts: int, busy: Callable[[], APIError],
                    backoff: bool = True) -> T:
    """Run ``attempt`` until it returns without losing a race; ``busy()`` is raised after ``attempts``."""
    for number in range(attempts):
        try:
            return attempt()
        except (*LOST_RACE, Retry):
            if backoff:
                _backoff(number)
    raise busy()


def _backoff(attempt: int) -> None:
    # Jitter spreads the retries of writers that lost the same race.
    time.sleep(random.uniform(0, min(0.2, 0.005 * 2 ** attempt)))  # noqa: S311 - not cryptographic
