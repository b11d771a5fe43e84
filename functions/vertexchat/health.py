"""``GET|HEAD /health``: the deep checks Cloud Scheduler pings every five minutes.

Checks, each with its latency and error:
- ``firestore`` (required): write and read back a small document;
- ``credentials`` (required): an access token can be obtained;
- ``vertex`` (required): ``count-tokens:rawPredict`` for the health model answers (it
  generates nothing, so it costs nothing);
- ``catalog``: where the model list comes from (``stale``/``builtin`` is degraded);
- ``circuits``: this instance's open circuit breakers (any open is degraded).

``200 {"status": "ok"|"degraded", ...}`` or ``503 {"status": "down", ...}`` when a required
check fails; HEAD answers the same status without a body. Deep results are cached for
``HEALTH_CACHE_SECONDS`` and computed by one request at a time (``services.HealthCache``), so a
flood of probes costs at most one Vertex call and one Firestore round trip per window; ``?deep=0`` answers from the
process alone. This module must never import the anthropic SDK: health stays fast to start.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import flask

from vertexchat import __version__, web
from vertexchat.errors import APIError
from vertexchat.services import Services

INSTANCE_ID = uuid.uuid4().hex[:12]
REQUIRED = ("firestore", "credentials", "vertex")


def check(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """Answer the health probe; HEAD gets the same status without a body."""
    deep = call.request.args.get("deep", "1") not in ("0", "false", "no")
    report = _deep_report(svc) if deep else _report(_process_checks(svc))
    status = 503 if report["status"] == "down" else 200
    call.fields["health"] = report["status"]
    if call.request.method == "HEAD":
        return web.empty_response(call, status)
    return web.json_response(report, call, status=status, headers={"Cache-Control": "no-store"})


def _deep_report(svc: Services) -> dict[str, Any]:
    return svc.health.get(lambda: _report(_deep_checks(svc)))


def _deep_checks(svc: Services) -> dict[str, dict[str, Any]]:
    return {
        "firestore": _timed(lambda: svc.store.ping(INSTANCE_ID)),
        "credentials": _timed(svc.credentials.token),
        "vertex": _timed(lambda: svc.rest.count_tokens(svc.catalog.resolve(svc.settings.health_model).vertex_id)),
        # Refreshes the model list if it is due, so a listing outage shows up here.
        "catalog": _catalog_check(lambda: svc.catalog.snapshot().source),
        "circuits": _circuits_check(svc),
    }


def _process_checks(svc: Services) -> dict[str, dict[str, Any]]:
    """What this instance knows without any I/O: the catalog's source and the circuit breakers."""
    return {"catalog": _catalog_check(lambda: svc.catalog.last_source), "circuits": _circuits_check(svc)}


def _catalog_check(source_of: Callable[[], str]) -> dict[str, Any]:
    started = time.monotonic()
    source = source_of()
    degraded = source in ("stale", "builtin")
    return {"status": "degraded" if degraded else "ok", "source": source,
            "latency_ms": round((time.monotonic() - started) * 1000, 1),
            "error": "Vertex AI's model list is unavailable; serving a fallback list." if degraded else None}


def _circuits_check(svc: Services) -> dict[str, Any]:
    circuits = [c for c in svc.breakers.snapshot() if c["state"] != "closed"]
    return {"status": "degraded" if circuits else "ok", "open": circuits, "latency_ms": 0.0,
            "error": f"{len(circuits)} circuit(s) open" if circuits else None}


def _report(checks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if any(checks.get(name, {}).get("status") == "down" for name in REQUIRED):
        status = "down"
    elif any(c["status"] != "ok" for c in checks.values()):
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "version": __version__, "instance": INSTANCE_ID, "checks": checks}


def _timed(check: Callable[[], object]) -> dict[str, Any]:
    started = time.monotonic()
    error: str | None = None
    try:
        check()
    except APIError as exc:
        error = exc.message
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure, it never raises
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    return {"status": "down" if error else "ok", "latency_ms": round((time.monotonic() - started) * 1000, 1),
            "error": error}
