"""The model list of one instance, live from Vertex AI, and its routes (``GET /v1/models``, ``/v1/models/{id}``).

Vertex AI's Model Garden is the source of truth: every page of its Anthropic listing (read by
``upstream.rest``), merged with the table in ``catalog.py``. Every API resolves the model a
client names through this list before anything goes upstream. Each instance keeps one list for
``MODELS_CACHE_SECONDS``; concurrent requests that find it expired wait for the same single
refresh. When Vertex cannot be listed, the last good list (or, on a cold instance, the
builtin catalog) is served with a warning in the log, never a 500; ``X-Catalog-Source``
says which: ``live``, ``cached``, ``stale`` or ``builtin``.

The listing goes through ``upstream.rest``, never the anthropic SDK, so the models function starts fast.

Tested in tests/test_models.py.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import flask

from vertexchat import web
from vertexchat.catalog import Catalog, Model, build, builtin_listing, unresolved_aliases
from vertexchat.config import Settings
from vertexchat.errors import APIError

if TYPE_CHECKING:
    from vertexchat.services import Services

log = logging.getLogger(__name__)

# After a failed listing, serve the fallback this long before asking Vertex again, so an
# outage does not make every request wait on the network (shorter when the cache is).
_RETRY_AFTER_FAILURE_SECONDS = 30.0

Lister = Callable[[], list[str]]


@dataclass(frozen=True)
class Snapshot:
    """A catalog and where it came from: ``live``, ``cached``, ``stale`` or ``builtin``."""

    catalog: Catalog
    source: str


class ModelCatalog:
    """One instance's model list: a TTL cache with single-flight refresh and stale-on-error."""

    def __init__(self, settings: Settings, lister: Lister, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._lister = lister
        self._clock = clock
        self._ttl = settings.models_cache_seconds
        self._builtin = self._build(builtin_listing())
        self._cond = threading.Condition()
        self._live: Catalog | None = None
        self._fetched_at = 0.0
        self._failed_at: float | None = None
        self._refreshing = False
        self._generation = 0
        self._outcome = Snapshot(self._builtin, "builtin")

    def snapshot(self) -> Snapshot:
        """The catalog to answer with: cached within the TTL, else refreshed once for all waiters."""
        with self._cond:
            if self._refreshing:
                return self._await_refresh()
            now = self._clock()
            if self._live is not None and self._fresh(now):
                return Snapshot(self._live, "cached")
            if self._failed_at is not None and now - self._failed_at < min(self._ttl, _RETRY_AFTER_FAILURE_SECONDS):
                return self._fallback()
            self._refreshing = True
        return self._refresh()

    @property
    def last_source(self) -> str:
        """Where the last refresh left the catalog (``live``, ``stale``, ``builtin``); no I/O.

        ``unlisted`` before the first refresh: a cold instance is not a degraded one.
        """
        return self._outcome.source if self._generation else "unlisted"

    def resolve(self, requested: str) -> Model:
        """The model a chat request names, or ModelNotFoundError (404).

        Chat is the hot path: an id the instance already knows (from its last list, else the
        builtin catalog) resolves without I/O. Only an id it cannot place makes it list
        Vertex, at most once per cache period, before answering 404.
        """
        with self._cond:
            known = self._live or self._builtin
            fresh = self._fresh(self._clock())
        if known.find(requested) is not None or fresh:
            return known.resolve(requested)
        return self.snapshot().catalog.resolve(requested)

    def _fresh(self, now: float) -> bool:
        return self._live is not None and now - self._fetched_at < self._ttl

    def _await_refresh(self) -> Snapshot:
        generation = self._generation
        while self._refreshing and self._generation == generation:
            self._cond.wait()
        return self._outcome

    def _refresh(self) -> Snapshot:
        catalog: Catalog | None = None
        error: Exception | None = None
        try:
            catalog = self._build(self._lister())
        except Exception as exc:  # noqa: BLE001 - stale-on-error: a failed listing never fails a request
            error = exc
        finally:
            # Runs even on BaseException, so waiters are never left blocked.
            with self._cond:
                outcome = self._settle(catalog)
        if error is not None:
            reason = error.message if isinstance(error, APIError) else f"{type(error).__name__}: {error}"
            log.warning("model list unavailable from Vertex AI; serving the %s catalog", outcome.source,
                        extra={"fields": {"catalog_source": outcome.source, "error": reason[:500]}})
        else:
            log.info("model list refreshed from Vertex AI", extra={"fields": {"models": len(outcome.catalog.models)}})
            dropped = unresolved_aliases(outcome.catalog, self._settings.model_aliases)
            if dropped:
                log.warning("MODEL_ALIASES entries point at no offered model: %s", ", ".join(dropped))
        return outcome

    def _settle(self, catalog: Catalog | None) -> Snapshot:
        now = self._clock()
        if catalog is not None:
            self._live, self._fetched_at, self._failed_at = catalog, now, None
            self._outcome = Snapshot(catalog, "live")
        else:
            self._failed_at = now
            self._outcome = self._fallback()
        self._refreshing = False
        self._generation += 1
        self._cond.notify_all()
        return self._outcome

    def _fallback(self) -> Snapshot:
        return Snapshot(self._live, "stale") if self._live is not None else Snapshot(self._builtin, "builtin")

    def _build(self, listing: list[str] | tuple[str, ...]) -> Catalog:
        return build(listing, allowed=self._settings.vertex_models, aliases=self._settings.model_aliases)


def list_models(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """``GET /v1/models``: every model this deployment offers, newest first."""
    snapshot = _snapshot(call, svc)
    return web.json_response({"object": "list", "data": snapshot.catalog.entries()}, call)


def get_model(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """``GET /v1/models/{id}``: one model (an alias answers under its own name), else 404."""
    requested = params["model_id"]
    model = _snapshot(call, svc).catalog.resolve(requested)
    return web.json_response(model.describe(requested), call)


def _snapshot(call: web.Call, svc: Services) -> Snapshot:
    snapshot = svc.catalog.snapshot()
    # On the call, so a 404 carries it too.
    call.response_headers["X-Catalog-Source"] = snapshot.source
    call.fields["catalog_source"] = snapshot.source
    return snapshot
