"""The instance's lifecycle: SIGTERM marks it as stopping, so streams in flight end cleanly.

Cloud Run sends SIGTERM and kills the instance about 10 s later. gunicorn (under
functions-framework) handles SIGTERM in each worker itself: it stops accepting and waits for
requests in flight, but a stream would simply be cut at the kill. So each worker's SIGTERM
handler is chained to also set :func:`stopping`, which every relayed stream watches: it closes the
upstream, stores the reply as ``incomplete``, and ends with an in-band error and its end of
stream well inside the grace period (see ``relay.py``).

Why wrap gunicorn's ``Worker.init_signals`` and not just call ``signal.signal``: functions-framework
imports ``main.py`` in gunicorn's master process, before the workers fork, and each worker then
installs its own handlers (``init_signals``), so a handler set at import would be replaced;
functions-framework offers no shutdown hook of its own.

Tested in tests/test_shutdown.py.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

_stopping = threading.Event()


def stopping() -> bool:
    """Whether this instance was told to stop."""
    return _stopping.is_set()


def begin_shutdown() -> None:
    """Mark the instance as stopping (what SIGTERM does)."""
    _stopping.set()


def install() -> None:
    """Chain :func:`begin_shutdown` to the SIGTERM handler each gunicorn worker installs (idempotent).

    No-op where gunicorn is not serving (tests in process, other servers).
    """
    try:
        from gunicorn.workers.base import Worker  # type: ignore[import-untyped]  # noqa: PLC0415 - only under gunicorn
    except ImportError:
        return
    original = Worker.init_signals
    if getattr(original, "vertexchat_wrapped", False):
        return

    def init_signals(self: Any) -> None:
        original(self)
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm(sig: int, frame: FrameType | None) -> None:
            begin_shutdown()
            if callable(previous):
                previous(sig, frame)

        signal.signal(signal.SIGTERM, on_sigterm)

    init_signals.vertexchat_wrapped = True  # type: ignore[attr-defined]
    Worker.init_signals = init_signals
