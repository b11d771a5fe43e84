"""The clients of one instance, built once: the only module-level state of the package.

Route modules receive the :class:`Services` and take what they need from it; they never
import the router. Cheap clients are made at once; the ones that load a heavy library (the
anthropic SDK, Firestore, PyJWT) or touch the network are made on first use, once, by
whichever request needs them first.

Tested in tests/test_health.py.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from vertexchat import config, lifecycle, logs
from vertexchat.cors import CorsPolicy
from vertexchat.resilience import Breakers, Policy
from vertexchat.upstream.credentials import AmbientCredentials

if TYPE_CHECKING:
    from vertexchat.auth import TokenVerifier
    from vertexchat.model_list import ModelCatalog
    from vertexchat.openai_responses.store import ResponseStore
    from vertexchat.sessions.store import SessionStore
    from vertexchat.upstream.claude import Vertex
    from vertexchat.upstream.http import VertexHttp
    from vertexchat.upstream.rest import VertexRest

T = TypeVar("T")

# The one identity of local emulation (AUTH_MODE=none, refused when deployed).
LOCAL_IDENTITY = "local-user"


class Services:
    """The clients of one instance; the only module-level state.

    Cheap ones are made at once; the ones that load a heavy library (the anthropic SDK,
    Firestore, PyJWT) or touch the network are made on first use, once, by whichever
    request needs them first.
    """

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self.shutting_down = lifecycle.stopping
        self.health = HealthCache(settings.health_cache_seconds)
        self._lock = threading.RLock()  # reentrant: building one client may need another
        self._built: dict[str, Any] = {}
        self.credentials = AmbientCredentials(settings.project_id)
        self.cors = CorsPolicy.parse(settings.cors_origins)
        self.upstream_policy = Policy(
            regions=(settings.region, *(r for r in settings.fallback_regions if r != settings.region)),
            max_attempts=settings.max_attempts, deadline=settings.upstream_deadline,
            breaker_failures=settings.breaker_failures, breaker_window=settings.breaker_window,
            breaker_cooldown=settings.breaker_cooldown)
        self.breakers = Breakers(self.upstream_policy)

    @property
    def vertex(self) -> Vertex:
        """The upstream client; the anthropic SDK loads here and nowhere else."""
        return self._once("vertex", self._make_vertex)

    @property
    def catalog(self) -> ModelCatalog:
        return self._once("catalog", self._make_catalog)

    @property
    def store(self) -> SessionStore:
        """The Firestore session store; the client connects on first use, never at import."""
        return self._once("store", self._make_store)

    @property
    def responses(self) -> ResponseStore:
        """The Firestore store of Responses API responses; shares the session store's client."""
        return self._once("responses", self._make_responses)

    def identify(self, authorization: str | None) -> str:
        """The verified caller's subject (the owner of their sessions); 401 or 503 otherwise."""
        if self.settings.auth_mode == "none":
            # Local emulation only (config refuses it when deployed): one fixed identity.
            return LOCAL_IDENTITY
        verifier: TokenVerifier = self._once("verifier", self._make_verifier)
        return verifier.verify(authorization).subject

    def _once(self, name: str, make: Callable[[], T]) -> T:
        built = self._built.get(name)
        if built is None:
            with self._lock:
                built = self._built.get(name)
                if built is None:
                    built = self._built[name] = make()
        return cast(T, built)

    @property
    def rest(self) -> VertexRest:
        """The light JSON client for Vertex (model listing, count-tokens): no anthropic SDK."""
        return self._once("rest", self._make_rest)

    def _make_rest(self) -> VertexRest:
        from vertexchat.upstream.rest import VertexRest  # noqa: PLC0415 - requests loads on first use

        return VertexRest(self.settings, self.credentials)

    def _make_vertex(self) -> Vertex:
        from vertexchat.upstream.claude import Vertex  # noqa: PLC0415 - seconds of import: the chat path only

        return Vertex(self.settings, self.credentials, self.http)

    @property
    def http(self) -> VertexHttp:
        """The connection pool to Vertex AI (raw calls, and the SDK client's transport); no anthropic SDK."""
        return self._once("http", self._make_http)

    def _make_http(self) -> VertexHttp:
        from vertexchat.upstream.http import VertexHttp  # noqa: PLC0415 - httpx loads on first use

        return VertexHttp(self.settings, self.credentials)

    def _make_catalog(self) -> ModelCatalog:
        from vertexchat.model_list import ModelCatalog  # noqa: PLC0415

        return ModelCatalog(self.settings, self.rest.list_models)

    def _make_store(self) -> SessionStore:
        from vertexchat.sessions.store import SessionStore  # noqa: PLC0415 - Firestore loads on first use

        return SessionStore(self.settings)

    def _make_responses(self) -> ResponseStore:
        from vertexchat.openai_responses.store import ResponseStore  # noqa: PLC0415 - Firestore loads on first use

        return ResponseStore(self.settings, self.store.storage)

    def _make_verifier(self) -> TokenVerifier:
        from vertexchat.auth import TokenVerifier  # noqa: PLC0415 - PyJWT and cryptography load on first use

        s = self.settings
        return TokenVerifier(issuer=s.auth_issuer, audience=s.auth_audience, jwks_url=s.auth_jwks_url,
                             allow_no_audience=s.auth_allow_no_audience, client_id=s.auth_client_id)


_services: Services | None = None
_services_lock = threading.Lock()


def services() -> Services:
    """This instance's services, built from the environment on first use.

    ``main.py`` calls this at import time, so a bad setting stops the function at start-up
    with a clear message instead of failing requests later.
    """
    global _services  # noqa: PLW0603 - the one lazy global the style allows
    if _services is None:
        with _services_lock:
            if _services is None:
                settings = config.load(os.environ)
                logs.configure(settings.log_level)
                _services = Services(settings)
    return _services


class HealthCache:
    """The last deep health report, shared by the requests of one instance for ``ttl`` seconds.

    Computed by one request at a time: whoever waited on the lock finds the fresh report of
    the request that held it, so a flood of probes costs one round of checks per window.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None

    def get(self, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        cached = self._cached
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        with self._lock:
            cached = self._cached
            if cached is not None and self._clock() - cached[0] < self._ttl:
                return cached[1]
            report = compute()
            self._cached = (self._clock(), report)
            return report
