"""Routing and the per-instance services: the one place where requests meet the rest.

Each Cloud Function (``main.py``) hands its Flask request to :func:`serve` with its own
name. The route table says which routes each function serves; a function's root path
``/`` is its primary route, so a bare function URL and a front door that keeps the path
both work. Route targets are imported on first use, which keeps each function's cold
start to what it needs (the chat route alone loads the anthropic SDK).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import flask

from vertexchat import body_guard, config, logs, web
from vertexchat.cors import CorsPolicy
from vertexchat.errors import APIError, MethodNotAllowedError, NotFoundError, internal_error
from vertexchat.gcp_auth import AmbientCredentials
from vertexchat.resilience import Breakers, Policy

if TYPE_CHECKING:
    from vertexchat.auth import TokenVerifier
    from vertexchat.models import ModelCatalog
    from vertexchat.sessions import SessionStore
    from vertexchat.vertex import Vertex

log = logging.getLogger(__name__)
T = TypeVar("T")

# The one identity of local emulation (AUTH_MODE=none, refused when deployed).
LOCAL_IDENTITY = "local-user"

Handler = Callable[["web.Call", "Services", dict[str, str]], flask.Response]


@dataclass(frozen=True)
class Route:
    """One HTTP route: a full-match path pattern, its methods, its target and its functions."""

    name: str
    pattern: str
    methods: tuple[str, ...]
    target: str  # "module:function", imported on first use
    functions: frozenset[str]
    # Public routes answer without a bearer token (health for the scheduler, the API description).
    public: bool = False

    def match(self, path: str) -> dict[str, str] | None:
        found = re.fullmatch(self.pattern, path)
        return found.groupdict() if found else None


def _route(name: str, pattern: str, methods: tuple[str, ...], target: str, *functions: str,
           public: bool = False) -> Route:
    return Route(name, pattern, methods, target, frozenset((*functions, "api")), public)


ROUTES: tuple[Route, ...] = (
    _route("chat.completions", r"/v1/chat/completions", ("POST",), "vertexchat.chat:create_completion",
           "chat_completions"),
    _route("models.list", r"/v1/models", ("GET",), "vertexchat.models:list_models", "models"),
    # Model ids contain "@" and "."; Flask hands over the path already percent-decoded.
    _route("models.get", r"/v1/models/(?P<model_id>[^/]+)", ("GET",), "vertexchat.models:get_model", "models"),
    _route("sessions.collection", r"/v1/sessions", ("GET", "POST"), "vertexchat.sessions_api:collection",
           "sessions"),
    _route("sessions.item", r"/v1/sessions/(?P<session_id>[^/]+)", ("GET", "PATCH", "DELETE"),
           "vertexchat.sessions_api:item", "sessions"),
    _route("sessions.messages", r"/v1/sessions/(?P<session_id>[^/]+)/messages", ("GET",),
           "vertexchat.sessions_api:messages", "sessions"),
    # The old frontend's routes, answered in its shapes; they also accept its legacy ids.
    _route("compat.sessions", r"/atoms/chat/sessions", ("GET",), "vertexchat.sessions_api:compat_list",
           "sessions"),
    _route("compat.session", r"/atoms/chat/sessions/(?P<session_id>[^/]+)", ("GET",),
           "vertexchat.sessions_api:compat_get", "sessions"),
    _route("health", r"/health", ("GET", "HEAD"), "vertexchat.health:check", "health", public=True),
    _route("index", r"/v1", ("GET",), "vertexchat.handlers:index", public=True),
    # Every function describes the whole API (the front door sends this path to `models`).
    _route("openapi", r"/openapi\.json", ("GET",), "vertexchat.openapi:serve", "chat_completions", "models",
           "sessions", "health", public=True),
)

# The route a function's root path "/" stands for.
ROOT_ROUTE = {"chat_completions": "chat.completions", "models": "models.list",
              "sessions": "sessions.collection", "health": "health", "api": "index"}
FUNCTIONS = tuple(ROOT_ROUTE)


class Services:
    """The clients of one instance; the only module-level state.

    Cheap ones are made at once; the ones that load a heavy library (the anthropic SDK,
    Firestore, PyJWT) or touch the network are made on first use, once, by whichever
    request needs them first.
    """

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
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

    def _make_vertex(self) -> Vertex:
        from vertexchat.vertex import Vertex  # noqa: PLC0415 - seconds of import: the chat path only

        return Vertex(self.settings, self.credentials)

    def _make_catalog(self) -> ModelCatalog:
        from vertexchat.models import ModelCatalog, VertexModelLister  # noqa: PLC0415

        return ModelCatalog(self.settings, VertexModelLister(self.settings, self.credentials))

    def _make_store(self) -> SessionStore:
        from vertexchat.sessions import SessionStore  # noqa: PLC0415 - Firestore loads on first use

        return SessionStore(self.settings)

    def _make_verifier(self) -> TokenVerifier:
        from vertexchat.auth import TokenVerifier  # noqa: PLC0415 - PyJWT and cryptography load on first use

        s = self.settings
        return TokenVerifier(issuer=s.auth_issuer, audience=s.auth_audience, jwks_url=s.auth_jwks_url)


_services: Services | None = None
_services_lock = threading.Lock()
_targets: dict[str, Handler] = {}


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


def serve(function: str, request: flask.Request) -> flask.Response:
    """Answer one request for ``function``; never lets an exception escape as a bare 500."""
    svc = services()
    # The request object itself, not the context-local proxy: a stream's last log line is
    # written after Flask has left the request context.
    real = getattr(request, "_get_current_object", None)
    request = real() if real is not None else request
    call = web.Call(request=request, function=function, request_id=web.request_id(request))
    call.fields.update(logs.trace_fields(request.headers.get("traceparent"),
                                         request.headers.get("X-Cloud-Trace-Context"), svc.settings.project_id))
    if svc.settings.simulator:
        call.headers["X-Upstream"] = "simulator"
    call.headers.update(svc.cors.response_headers(request.headers.get("Origin")))
    error: APIError | None = None
    try:
        response = _dispatch(function, call, svc)
    except APIError as exc:
        error = exc
        response = web.error_response(exc, call)
    except Exception:
        log.exception("unhandled error", extra={"fields": {"request_id": call.request_id}})
        error = internal_error(call.request_id)
        response = web.error_response(error, call)
    if not call.log_deferred:
        call.finish_log(response.status_code, error)
    # An early answer (401, 413, 415...) must not wait for a body that may never come.
    body_guard.settle(request.environ)
    return response


def _dispatch(function: str, call: web.Call, svc: Services) -> flask.Response:
    path = call.request.path.rstrip("/") or "/"
    route, params = _find(function, path)
    call.fields["route"] = route.name
    method = call.request.method
    if method == "OPTIONS":
        # A CORS preflight carries no token by design: it is answered before authentication.
        preflight = svc.cors.preflight_headers(call.request.headers.get("Origin"),
                                               call.request.headers.get("Access-Control-Request-Headers"))
        return web.empty_response(call, 204, {"Allow": ", ".join((*route.methods, "OPTIONS")), **preflight})
    if method not in route.methods:
        raise MethodNotAllowedError(f"{method} is not allowed on {path}; use {', '.join(route.methods)}.")
    if not route.public:
        call.user = svc.identify(call.request.headers.get("Authorization"))
        call.fields["user"] = logs.user_hash(call.user)
    return _target(route)(call, svc, params)


def _find(function: str, path: str) -> tuple[Route, dict[str, str]]:
    if path == "/":
        root = ROOT_ROUTE[function]
        return next(r for r in ROUTES if r.name == root), {}
    for route in ROUTES:
        if function in route.functions:
            params = route.match(path)
            if params is not None:
                return route, params
    raise NotFoundError(f"No route for {path} on this function.")


def _target(route: Route) -> Handler:
    handler = _targets.get(route.target)
    if handler is None:
        module_name, _, attr = route.target.partition(":")
        handler = getattr(importlib.import_module(module_name), attr)
        _targets[route.target] = handler
    return handler


def index(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """What the ``api`` function answers at its root: the service and its routes."""
    from vertexchat import __version__  # noqa: PLC0415

    body: dict[str, Any] = {
        "object": "service",
        "name": "vertexchat",
        "version": __version__,
        "routes": [{"path": r.pattern, "methods": list(r.methods)} for r in ROUTES],
    }
    return web.json_response(body, call)
