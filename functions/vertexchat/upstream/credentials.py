"""Ambient Google credentials: one set per instance, refreshed before expiry, shared by threads.

The old backend failed with "No access token available" because nothing ever obtained
one. Here the only source is ``google.auth.default()`` with the cloud-platform scope
(a service-account key file, the gcloud application-default login, or the metadata
server on Cloud Run), loaded on first use. Every google-auth failure is translated to
:class:`~vertexchat.errors.CredentialsError` (503) with a message that says how to fix it.

Refreshing never delays a request that holds a token still valid: once a token is within
the refresh margin of its expiry, requests keep using it while one background thread
fetches the next (google-auth retries a failing metadata server with backoff for about
15 s; that wait is the thread's, not the requests'). Only when there is no token, or it has
actually expired, does a request refresh inline, under a lock, so that concurrent requests
trigger one refresh, not one each.

Tested in tests/test_gcp_auth.py. Tested in tests/test_seed_regressions.py.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from vertexchat.errors import CredentialsError

SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# Refresh this long before the token expires, so no request sets out with a token that
# dies in flight (Vertex checks the token once, when the call starts), and a refresh that
# fails has minutes of retries before the token runs out.
_REFRESH_MARGIN_SECONDS = 300.0
# Without credentials google.auth.default() probes the metadata server with retries,
# which takes seconds; remember a failure this long so a flood of requests fails fast.
_FAILURE_TTL_SECONDS = 30.0

HOW_TO_FIX = (
    "Run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service "
    "account key file, or deploy with a runtime service account that has roles/aiplatform.user."
)

log = logging.getLogger(__name__)


class AmbientCredentials:
    """Bearer tokens for Google APIs from the environment's default credentials."""

    def __init__(self, project_hint: str | None = None) -> None:
        self._project_hint = project_hint
        self._lock = threading.Lock()
        self._credentials: Any = None
        self._project: str | None = project_hint
        self._failure: tuple[float, str] | None = None
        # Single flight for the background refresh (the refresh itself runs under _lock).
        self._refreshing = False
        self._refreshing_lock = threading.Lock()

    def token(self) -> str:
        """A valid access token; raises CredentialsError when none can be had."""
        creds = self._credentials
        if creds is not None and _usable(creds):
            if not _fresh(creds):
                self._refresh_in_background(creds)
            return str(creds.token)
        with self._lock:
            return self._token_locked()

    def project_id(self) -> str:
        """The project to bill: the configured one, else the credentials' own."""
        if self._project:
            return self._project
        with self._lock:
            project = self._loaded_project_locked()
        if not project:
            raise CredentialsError(
                "No Google Cloud project is known: set ANTHROPIC_VERTEX_PROJECT_ID or GOOGLE_CLOUD_PROJECT. "
                + HOW_TO_FIX
            )
        return project

    def _loaded_project_locked(self) -> str | None:
        self._load_locked()
        return self._project

    def _token_locked(self) -> str:
        creds = self._load_locked()
        # Another request may have refreshed it while this one waited for the lock.
        if not _usable(creds):
            self._refresh_locked(creds)
        return str(creds.token)

    def _refresh_in_background(self, creds: Any) -> None:
        """Start fetching the next token unless that is under way, or failed moments ago."""
        with self._refreshing_lock:
            if self._refreshing or self._recent_failure() is not None:
                return
            self._refreshing = True
        try:
            threading.Thread(target=self._refresh_behind, args=(creds,), name="token-refresh", daemon=True).start()
        except RuntimeError:
            # No thread to be had: the current token is still good, the next request tries again.
            self._refreshing = False

    def _refresh_behind(self, creds: Any) -> None:
        try:
            with self._lock:
                if not _fresh(creds):
                    self._refresh_locked(creds)
        except CredentialsError:
            log.warning("token refresh failed; using the current token until it expires")
        finally:
            self._refreshing = False

    def _load_locked(self) -> Any:
        if self._credentials is not None:
            return self._credentials
        self._raise_recent_failure()
        import google.auth  # noqa: PLC0415 - deferred: costs import time on paths that never need it
        from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415

        try:
            creds, project = google.auth.default(scopes=[SCOPE])
        except DefaultCredentialsError as exc:
            raise self._fail(f"No Google credentials were found ({_first_line(exc)}).") from None
        self._credentials = creds
        self._project = self._project_hint or project
        return creds

    def _refresh_locked(self, creds: Any) -> None:
        self._raise_recent_failure()
        from google.auth.exceptions import GoogleAuthError  # noqa: PLC0415
        from google.auth.transport.requests import Request  # noqa: PLC0415

        try:
            creds.refresh(Request())
        except (GoogleAuthError, OSError) as exc:
            raise self._fail(f"The Google credentials could not be refreshed ({_first_line(exc)}).") from None
        if not creds.token:
            raise self._fail("The Google credentials produced no access token.")
        self._failure = None

    def _fail(self, reason: str) -> CredentialsError:
        self._failure = (time.monotonic(), reason)
        log.error("vertex credentials unavailable: %s", reason)
        return CredentialsError(f"{reason} {HOW_TO_FIX}")

    def _raise_recent_failure(self) -> None:
        reason = self._recent_failure()
        if reason is not None:
            raise CredentialsError(f"{reason} {HOW_TO_FIX}")

    def _recent_failure(self) -> str | None:
        failure = self._failure
        if failure and time.monotonic() - failure[0] < _FAILURE_TTL_SECONDS:
            return failure[1]
        return None


def _fresh(creds: Any) -> bool:
    if not creds.token:
        return False
    expiry = getattr(creds, "expiry", None)
    if expiry is None:
        return True
    # google-auth keeps expiry as a naive datetime in UTC.
    now = datetime.now(UTC).replace(tzinfo=None)
    return bool((expiry - now).total_seconds() > _REFRESH_MARGIN_SECONDS)


def _usable(creds: Any) -> bool:
    """A token that has not expired yet (even if it is inside the refresh margin)."""
    expiry = getattr(creds, "expiry", None)
    if not creds.token or expiry is None:
        return bool(creds.token)
    return bool(expiry > datetime.now(UTC).replace(tzinfo=None))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
