"""The Firestore boundary: the lazily created client, call options, and error translation.

Every Firestore call of vertexchat passes :meth:`Storage.call_options` (a per-attempt
timeout and a retry of transient errors only, bounded by the same timeout) and runs
inside :func:`translated`, which turns google-api-core and google-auth exceptions into
``vertexchat.errors``: an unreachable or overloaded Firestore is a 503 with
``Retry-After``, refused credentials a 503 that says which role is missing. Nothing above
this module sees a Google exception.

The client honours ``FIRESTORE_EMULATOR_HOST`` itself (the local stack and the tests set it).

Tested in tests/test_sessions_store.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.auth import exceptions as auth_exc
from google.cloud import firestore

from vertexchat.config import Settings
from vertexchat.errors import APIError, CredentialsError, ServiceUnavailableError

log = logging.getLogger(__name__)

_UNAVAILABLE = (gexc.RetryError, gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError,
                gexc.TooManyRequests, gexc.Aborted, gexc.Unknown, gexc.GatewayTimeout, TimeoutError)
_REFUSED = (gexc.PermissionDenied, gexc.Unauthenticated, auth_exc.GoogleAuthError)

_IAM_HINT = ("Give the runtime service account roles/datastore.user on the project "
             "(locally: run the Firestore emulator and set FIRESTORE_EMULATOR_HOST).")


class Storage:
    """One Firestore client per instance, created on first use (never at import)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeout = settings.firestore_timeout
        self._lock = threading.Lock()
        self._client: firestore.Client | None = None
        self._retry = gretry.Retry(predicate=gretry.if_transient_error, initial=0.1, maximum=1.0,
                                   multiplier=2.0, timeout=self.timeout)

    @property
    def client(self) -> firestore.Client:
        if self._client is None:
            with self._lock, translated("connect to"):
                if self._client is None:
                    self._client = firestore.Client(project=self.settings.project_id,
                                                    database=self.settings.firestore_database)
        return self._client

    def call_options(self) -> dict[str, Any]:
        """``retry=`` and ``timeout=`` for one Firestore call."""
        return {"retry": self._retry, "timeout": self.timeout}


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Run Firestore calls, translating their failures to vertexchat errors.

    ``action`` completes "Could not <action> session storage", e.g. ``"read"``.
    """
    try:
        yield
    except APIError:
        raise
    except _REFUSED as exc:
        log.exception("firestore refused vertexchat's credentials", extra={"fields": {"error": _short(exc)}})
        raise CredentialsError(f"Could not {action} session storage: Firestore refused vertexchat's "
                               f"credentials ({type(exc).__name__}). {_IAM_HINT}") from None
    except _UNAVAILABLE as exc:
        log.warning("firestore unavailable", extra={"fields": {"error": _short(exc)}})
        raise ServiceUnavailableError(f"Could not {action} session storage: Firestore is unreachable or "
                                      "overloaded. Try again shortly.", code="storage_unavailable",
                                      retry_after=2.0) from None
    except gexc.NotFound as exc:
        # Documents that may be missing are handled where they are read; a NotFound that
        # gets this far means the database itself is missing.
        log.exception("firestore database not found", extra={"fields": {"error": _short(exc)}})
        raise ServiceUnavailableError(f"Could not {action} session storage: the Firestore database was not "
                                      "found; check FIRESTORE_DATABASE and that the database exists.",
                                      code="storage_unavailable") from None
    except gexc.GoogleAPICallError as exc:
        log.exception("firestore call failed", extra={"fields": {"error": _short(exc)}})
        raise APIError(f"Could not {action} session storage ({type(exc).__name__}).",
                       code="storage_error") from None


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__
