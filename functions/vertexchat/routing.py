"""Routing: the one place where requests meet the rest.

Each Cloud Function (``main.py``) hands its Flask request to :func:`serve` with its own
name. :func:`serve` finds the route in ``route_table``, answers CORS preflights, checks the
method and the caller's identity, imports the route's target on first use and calls it with
the instance's :class:`~vertexchat.services.Services`. Whatever happens, the answer is a
rendered response (an exception never escapes as a bare 500), and the request's one log line
is written when that response closes: for a stream, after its turn has recorded how it ended.

Tested in tests/test_functions.py.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import flask

from vertexchat import body_guard, logs, web
from vertexchat.errors import APIError, MethodNotAllowedError, NotFoundError, internal_error
from vertexchat.route_table import ROOT_ROUTE, ROUTES, Route
from vertexchat.services import Services, services

log = logging.getLogger(__name__)

Handler = Callable[[web.Call, Services, dict[str, str]], flask.Response]
_targets: dict[str, Handler] = {}


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
        call.response_headers["X-Upstream"] = "simulator"
    call.response_headers.update(svc.cors.response_headers(request.headers.get("Origin")))
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
    call.outcome(response.status_code, error)
    response.call_on_close(call.finish_log)
    # An early answer (401, 413, 415...) must not wait for a body that may never come.
    body_guard.settle(request.environ)
    return response


def _dispatch(function: str, call: web.Call, svc: Services) -> flask.Response:
    path = call.request.path.rstrip("/") or "/"
    route, params = _find(function, path)
    call.fields["route"] = route.name
    call.error_dialect = route.errors
    method = call.request.method
    if method == "OPTIONS":
        # A CORS preflight carries no token by design: it is answered before authentication.
        preflight = svc.cors.preflight_headers(call.request.headers.get("Origin"),
                                               call.request.headers.get("Access-Control-Request-Headers"))
        return web.empty_response(call, 204, {"Allow": ", ".join((*route.methods, "OPTIONS")), **preflight})
    if method not in route.methods:
        raise MethodNotAllowedError(f"{method} is not allowed on {path}; use {', '.join(route.methods)}.",
                                    allow=(*route.methods, "OPTIONS"))
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
